/** The approvals queue: the exact request each vote binds to, approve/reject, history. */
import { useState } from 'react';
import type { ApiError, Approval } from '../api.js';
import { query } from '../api.js';
import { asApiError, Confirm, EnvBadge, ErrorBox, useLoad, when } from '../common.js';
import { useSession } from '../session.js';

function decodeBody(base64: unknown): string {
  if (typeof base64 !== 'string' || base64 === '') return '(no body)';
  try {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return `(binary, ${base64.length} base64 characters)`;
  }
}

/** What exactly will run when the quorum is reached. */
function BoundRequest({ approval }: { approval: Approval }) {
  const s = approval.subject;
  if (approval.kind !== 'request') {
    return <pre className="subject">{JSON.stringify(s, null, 2)}</pre>;
  }
  const env = s.environment === 'production' ? 'production' : 'sandbox';
  const q = typeof s.query === 'string' && s.query !== '' ? `?${s.query}` : '';
  return (
    <dl className="bound">
      <dt>Request</dt>
      <dd>
        <EnvBadge environment={env} />{' '}
        <code data-testid="bound-request">
          {String(s.method)} {String(s.path)}
          {q}
        </code>
      </dd>
      <dt>Body</dt>
      <dd>
        <pre className="subject">{decodeBody(s.bodyBase64)}</pre>
      </dd>
      <dt>Action</dt>
      <dd>{String(s.action)}</dd>
      <dt>Key / account</dt>
      <dd>
        <code>{String(s.keyId)}</code> / <code>{String(s.accountId)}</code>
      </dd>
      <dt>Client IP</dt>
      <dd>{String(s.clientIp)}</dd>
    </dl>
  );
}

function ApprovalCard(props: { approval: Approval; onChanged: () => void }) {
  const session = useSession();
  const a = props.approval;
  const [error, setError] = useState<ApiError>();
  const [rejecting, setRejecting] = useState(false);
  const vote = (verb: 'approve' | 'reject') => {
    setRejecting(false);
    // The digest binds the vote to the request shown here: a different one is refused.
    session
      .api('POST', `/v1/approvals/${encodeURIComponent(a.id)}/${verb}`, {
        digest: a.requestDigest,
      })
      .then(
        () => {
          setError(undefined);
          props.onChanged();
        },
        (e: unknown) => setError(asApiError(e)),
      );
  };
  const pending = a.state === 'pending';
  return (
    <article className={`card approval state-${a.state}`} data-approval-id={a.id}>
      <h3>
        <code>{a.id}</code> · {a.kind} ·{' '}
        <span className="state" data-testid="approval-state">
          {a.state}
        </span>
      </h3>
      <p>
        Asked by <code>{a.initiator}</code> at {when(a.createdAt)}; {a.votes.length} of {a.quorum}{' '}
        approvals; expires {when(a.expiresAt)}.
      </p>
      <BoundRequest approval={a} />
      <p className="muted">
        Request digest <code>{a.requestDigest}</code>
      </p>
      {a.votes.length > 0 && (
        <ul className="votes">
          {a.votes.map((v) => (
            <li key={`${v.approver}-${v.at}`}>
              {v.vote} by <code>{v.approver}</code> at {when(v.at)}
            </li>
          ))}
        </ul>
      )}
      {a.result !== null && a.result.status !== undefined && (
        <p>
          Executed: upstream answered <strong>{a.result.status}</strong>.
        </p>
      )}
      <ErrorBox error={error} />
      {pending && session.can('approvals:decide') && (
        <div className="actions">
          <button type="button" className="primary" onClick={() => vote('approve')}>
            Approve
          </button>
          <button type="button" className="danger" onClick={() => setRejecting(true)}>
            Reject
          </button>
        </div>
      )}
      {rejecting && (
        <Confirm
          title={`Reject ${a.id}?`}
          confirmLabel="Reject"
          danger
          onConfirm={() => vote('reject')}
          onCancel={() => setRejecting(false)}
        >
          <p>One rejection ends the round; the request is never executed.</p>
        </Confirm>
      )}
    </article>
  );
}

export function ApprovalsPage() {
  const session = useSession();
  const pending = useLoad(
    () =>
      session.api<{ approvals: Approval[] }>('GET', `/v1/approvals${query({ state: 'pending' })}`),
    [session.token],
  );
  const history = useLoad(
    () => session.api<{ approvals: Approval[] }>('GET', `/v1/approvals${query({ limit: 50 })}`),
    [session.token],
  );
  const reload = () => {
    pending.reload();
    history.reload();
  };
  const done = (history.data?.approvals ?? []).filter((a) => a.state !== 'pending');
  return (
    <div className="stack">
      {!session.can('approvals:decide') && (
        <p className="hint">Your role can see approvals; only an approver token can decide them.</p>
      )}
      <section aria-labelledby="queue-title">
        <h2 id="queue-title">Waiting for a decision</h2>
        <ErrorBox error={pending.error} />
        {pending.data?.approvals.length === 0 && <p>Nothing is waiting.</p>}
        {(pending.data?.approvals ?? []).map((a) => (
          <ApprovalCard key={`${a.id}-${a.votes.length}`} approval={a} onChanged={reload} />
        ))}
      </section>
      <section aria-labelledby="history-title">
        <h2 id="history-title">History</h2>
        <ErrorBox error={history.error} />
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th>Approval</th>
                <th>Kind</th>
                <th>State</th>
                <th>Votes</th>
                <th>Created</th>
              </tr>
            </thead>
            <tbody>
              {done.map((a) => (
                <tr key={a.id} data-approval-id={a.id}>
                  <td>
                    <code>{a.id}</code>
                  </td>
                  <td>{a.kind}</td>
                  <td data-testid="history-state">{a.state}</td>
                  <td>{a.votes.map((v) => `${v.vote}: ${v.approver}`).join(', ')}</td>
                  <td>{when(a.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </div>
  );
}
