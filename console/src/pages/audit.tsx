/** The audit log: search, the hash-chain verification, and the first bad entry if any. */
import { useState } from 'react';
import type { AuditEntry, AuditVerification } from '../api.js';
import { query } from '../api.js';
import { ErrorBox, useLoad, when, type Loaded } from '../common.js';
import { useSession } from '../session.js';

const PROBLEMS: Readonly<Record<string, string>> = {
  HASH_MISMATCH: 'the entry was altered after it was written',
  PREV_HASH_MISMATCH: 'a link is broken: entries were reordered, inserted or renumbered',
  SEQUENCE_GAP: 'an entry was deleted or duplicated',
  SEAL_MISMATCH: 'the entry was rewritten or forged without the audit key',
};

function EntryRow({ entry, bad }: { entry: AuditEntry; bad: boolean }) {
  return (
    <tr className={bad ? 'bad' : undefined} data-seq={entry.seq} data-bad={bad || undefined}>
      <td>{entry.seq}</td>
      <td>{when(entry.ts)}</td>
      <td>
        <code>{entry.actor}</code>
      </td>
      <td>{entry.action}</td>
      <td>
        <code>{entry.target}</code>
      </td>
      <td>
        <details>
          <summary>data</summary>
          <pre className="subject">{JSON.stringify(entry.data, null, 2)}</pre>
          <div className="muted">
            request {entry.requestId} · hash {entry.hash.slice(0, 16)}…
          </div>
        </details>
      </td>
    </tr>
  );
}

interface Verified {
  readonly result: AuditVerification;
  /** The first entry that fails verification, read on its own. */
  readonly bad: AuditEntry | undefined;
}

function Verification({ verify }: { verify: Loaded<Verified> }) {
  const v = verify.data?.result;
  return (
    <section aria-labelledby="verify-title">
      <h2 id="verify-title">Chain verification</h2>
      <ErrorBox error={verify.error} />
      {v === undefined && verify.error === undefined && <p>Verifying the whole chain…</p>}
      {v?.ok === true && (
        <p className="ok" data-testid="chain-status" data-ok="true" role="status">
          ✔ Chain intact: {v.entries} entries, head #{v.headSeq} ({v.headHash.slice(0, 16)}…).
        </p>
      )}
      {v?.ok === false && (
        <div className="error" data-testid="chain-status" data-ok="false" role="alert">
          <p>
            ✘ Chain broken at entry <strong data-testid="first-bad-seq">#{v.firstBadSeq}</strong>:{' '}
            <strong>{v.problem}</strong> — {PROBLEMS[v.problem] ?? 'unknown problem'}. Entries from
            here on cannot be trusted.
          </p>
          {verify.data?.bad !== undefined && (
            <table>
              <tbody>
                <EntryRow entry={verify.data.bad} bad />
              </tbody>
            </table>
          )}
        </div>
      )}
      <button type="button" onClick={verify.reload}>
        Verify again
      </button>
    </section>
  );
}

export function AuditPage() {
  const session = useSession();
  const [action, setAction] = useState('');
  const [target, setTarget] = useState('');
  const [text, setText] = useState('');
  const [applied, setApplied] = useState({ action: '', target: '' });
  const [pages, setPages] = useState(1);
  const log = useLoad(async () => {
    const entries: AuditEntry[] = [];
    let after: number | undefined;
    let next: number | null = null;
    for (let i = 0; i < pages; i++) {
      const page: { entries: AuditEntry[]; next: number | null } = await session.api(
        'GET',
        `/v1/audit${query({ ...applied, afterSeq: after, limit: 200 })}`,
      );
      entries.push(...page.entries);
      next = page.next;
      if (next === null) break;
      after = next;
    }
    return { entries, next };
  }, [session.token, applied, pages]);
  const verify = useLoad(async (): Promise<Verified> => {
    const result = await session.api<AuditVerification>('GET', '/v1/audit/verify');
    if (result.ok) return { result, bad: undefined };
    const page = await session.api<{ entries: AuditEntry[] }>(
      'GET',
      `/v1/audit${query({ afterSeq: Math.max(0, result.firstBadSeq - 1), limit: 1 })}`,
    );
    return { result, bad: page.entries[0] };
  }, [session.token]);
  const v = verify.data?.result;
  const firstBad = v?.ok === false ? v.firstBadSeq : undefined;
  const needle = text.trim().toLowerCase();
  const shown = (log.data?.entries ?? []).filter(
    (e) => needle === '' || JSON.stringify(e).toLowerCase().includes(needle),
  );
  return (
    <div className="stack">
      <Verification verify={verify} />
      <section aria-labelledby="log-title">
        <h2 id="log-title">Entries</h2>
        <form
          className="inline"
          role="search"
          onSubmit={(e) => {
            e.preventDefault();
            setPages(1);
            setApplied({ action: action.trim(), target: target.trim() });
          }}
        >
          <label htmlFor="audit-action">Action</label>
          <input
            id="audit-action"
            placeholder="key.rotate"
            value={action}
            onChange={(e) => setAction(e.target.value)}
          />
          <label htmlFor="audit-target">Target</label>
          <input
            id="audit-target"
            placeholder="pk_… / apr_… / acc_…"
            value={target}
            onChange={(e) => setTarget(e.target.value)}
          />
          <button type="submit">Search</button>
          <label htmlFor="audit-text">Filter loaded</label>
          <input
            id="audit-text"
            placeholder="any text"
            value={text}
            onChange={(e) => setText(e.target.value)}
          />
        </form>
        <ErrorBox error={log.error} />
        <div className="table-wrap">
          <table className="audit">
            <thead>
              <tr>
                <th>#</th>
                <th>Time (UTC)</th>
                <th>Actor</th>
                <th>Action</th>
                <th>Target</th>
                <th>Details</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((e) => (
                <EntryRow
                  key={e.seq}
                  entry={e}
                  bad={firstBad !== undefined && e.seq === firstBad}
                />
              ))}
            </tbody>
          </table>
        </div>
        {log.data?.next !== null && log.data !== undefined && (
          <button type="button" onClick={() => setPages((p) => p + 1)}>
            Load more
          </button>
        )}
      </section>
    </div>
  );
}
