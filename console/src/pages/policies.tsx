/** Policies: the set, an editor that marks compile errors where they are, shadow mode, simulate. */
import { useState, type FormEvent } from 'react';
import type { ApiError, Policy } from '../api.js';
import { asApiError, ErrorBox, useLoad, when } from '../common.js';
import { useSession } from '../session.js';
import { SimulatePanel } from './simulate.js';

interface Problem {
  readonly policyId: string;
  readonly line: number;
  readonly column: number;
  readonly code: string;
  readonly message: string;
}

/** `policyId:line:column: code: message` (docs/admin-api.md, POLICY_INVALID details). */
export function parseProblem(detail: string): Problem | undefined {
  const m = /^(.*):(\d+):(\d+): ([A-Za-z_]+): (.*)$/s.exec(detail);
  if (m === null) return undefined;
  return {
    policyId: m[1] ?? '',
    line: Number(m[2]),
    column: Number(m[3]),
    code: m[4] ?? '',
    message: m[5] ?? '',
  };
}

/** The condition with line numbers and a caret under each problem's column. */
function MarkedCondition(props: { source: string; problems: readonly Problem[] }) {
  const lines = props.source.split('\n');
  return (
    <pre className="marked" data-testid="policy-problems" aria-label="Problems in the condition">
      {lines.map((text, i) => {
        const here = props.problems.filter((p) => p.line === i + 1);
        return (
          <span key={i}>
            <span className="lineno">{String(i + 1).padStart(3, ' ')} </span>
            {text}
            {'\n'}
            {here.map((p) => (
              <span key={`${p.column}-${p.code}`} className="caret">
                {' '.repeat(4 + Math.max(0, p.column - 1))}^ {p.code}: {p.message}
                {'\n'}
              </span>
            ))}
          </span>
        );
      })}
    </pre>
  );
}

interface Draft {
  id: string;
  effect: Policy['effect'];
  mode: Policy['mode'];
  condition: string;
  actions: string;
  environments: string;
  quorum: string;
  description: string;
}

const emptyDraft: Draft = {
  id: '',
  effect: 'forbid',
  mode: 'shadow',
  condition: '',
  actions: '',
  environments: '',
  quorum: '2',
  description: '',
};

const list = (text: string) =>
  text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');

function draftOf(p: Policy): Draft {
  return {
    id: p.id,
    effect: p.effect,
    mode: p.mode,
    condition: p.condition,
    actions: (p.target.actions ?? []).join(', '),
    environments: (p.target.environments ?? []).join(', '),
    quorum: String(p.quorum),
    description: p.description,
  };
}

function PolicyEditor(props: {
  editing: Policy | undefined;
  onSaved: () => void;
  onClose: () => void;
}) {
  const session = useSession();
  const [draft, setDraft] = useState<Draft>(props.editing ? draftOf(props.editing) : emptyDraft);
  const [error, setError] = useState<ApiError>();
  const set = <K extends keyof Draft>(name: K, value: Draft[K]) =>
    setDraft((d) => ({ ...d, [name]: value }));
  const problems = (error?.code === 'POLICY_INVALID' ? error.details : [])
    .map(parseProblem)
    .filter((p): p is Problem => p !== undefined && p.policyId === draft.id);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const actions = list(draft.actions);
    const environments = list(draft.environments);
    const body = {
      effect: draft.effect,
      mode: draft.mode,
      condition: draft.condition,
      target: {
        ...(actions.length > 0 ? { actions } : {}),
        ...(environments.length > 0 ? { environments } : {}),
      },
      ...(draft.description !== '' ? { description: draft.description } : {}),
      ...(draft.effect === 'require-approval' ? { quorum: Number(draft.quorum) } : {}),
    };
    const request = props.editing
      ? session.api('PUT', `/v1/policies/${encodeURIComponent(draft.id)}`, body)
      : session.api('POST', '/v1/policies', { id: draft.id, ...body });
    request.then(
      () => {
        setError(undefined);
        props.onSaved();
      },
      (reason: unknown) => setError(asApiError(reason)),
    );
  };

  return (
    <section className="card" aria-labelledby="editor-title">
      <h2 id="editor-title">{props.editing ? `Edit ${props.editing.id}` : 'New policy'}</h2>
      <form className="grid-form" onSubmit={submit}>
        <label htmlFor="policy-id">Id</label>
        <input
          id="policy-id"
          value={draft.id}
          readOnly={props.editing !== undefined}
          required
          onChange={(e) => set('id', e.target.value)}
        />
        <label htmlFor="policy-effect">Effect</label>
        <select
          id="policy-effect"
          value={draft.effect}
          onChange={(e) => set('effect', e.target.value as Draft['effect'])}
        >
          <option value="permit">permit</option>
          <option value="forbid">forbid</option>
          <option value="require-approval">require-approval</option>
        </select>
        <label htmlFor="policy-mode">Mode</label>
        <select
          id="policy-mode"
          value={draft.mode}
          onChange={(e) => set('mode', e.target.value as Draft['mode'])}
        >
          <option value="shadow">shadow — evaluate and log only, never decide</option>
          <option value="enforce">enforce — decide requests</option>
        </select>
        {draft.effect === 'require-approval' && (
          <>
            <label htmlFor="policy-quorum">Quorum</label>
            <input
              id="policy-quorum"
              type="number"
              min={1}
              max={20}
              value={draft.quorum}
              onChange={(e) => set('quorum', e.target.value)}
            />
          </>
        )}
        <label htmlFor="policy-actions">Actions</label>
        <input
          id="policy-actions"
          placeholder="order.place, withdrawal.create (empty: every action)"
          value={draft.actions}
          onChange={(e) => set('actions', e.target.value)}
        />
        <label htmlFor="policy-envs">Environments</label>
        <input
          id="policy-envs"
          placeholder="sandbox, production (empty: both)"
          value={draft.environments}
          onChange={(e) => set('environments', e.target.value)}
        />
        <label htmlFor="policy-condition">Condition (CEL)</label>
        <div>
          <textarea
            id="policy-condition"
            className="code"
            rows={4}
            required
            value={draft.condition}
            aria-invalid={problems.length > 0}
            onChange={(e) => set('condition', e.target.value)}
          />
          {problems.length > 0 && <MarkedCondition source={draft.condition} problems={problems} />}
        </div>
        <label htmlFor="policy-description">Description</label>
        <input
          id="policy-description"
          value={draft.description}
          maxLength={512}
          onChange={(e) => set('description', e.target.value)}
        />
        <span />
        <div>
          <ErrorBox error={error} />
          <div className="actions">
            <button type="submit" className="primary">
              Save
            </button>
            <button type="button" onClick={props.onClose}>
              Close
            </button>
          </div>
        </div>
      </form>
    </section>
  );
}

export function PoliciesPage() {
  const session = useSession();
  const policies = useLoad(
    () => session.api<{ policies: Policy[] }>('GET', '/v1/policies'),
    [session.token],
  );
  const [editing, setEditing] = useState<Policy | 'new'>();
  const canWrite = session.can('policies:write');
  return (
    <div className="stack">
      <ErrorBox error={policies.error} />
      {canWrite && (
        <div className="actions">
          <button type="button" onClick={() => setEditing('new')}>
            New policy
          </button>
        </div>
      )}
      {editing !== undefined && (
        <PolicyEditor
          key={editing === 'new' ? 'new' : `${editing.id}-${editing.version}`}
          editing={editing === 'new' ? undefined : editing}
          onSaved={() => {
            setEditing(undefined);
            policies.reload();
          }}
          onClose={() => setEditing(undefined)}
        />
      )}
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th>Policy</th>
              <th>Effect</th>
              <th>Mode</th>
              <th>Target</th>
              <th>Condition</th>
              <th>Updated</th>
              {canWrite && <th>Actions</th>}
            </tr>
          </thead>
          <tbody>
            {(policies.data?.policies ?? []).map((p) => (
              <tr key={p.id} data-policy-id={p.id}>
                <td>
                  <code>{p.id}</code> v{p.version}
                  {p.description !== '' && <div className="muted">{p.description}</div>}
                </td>
                <td>
                  {p.effect}
                  {p.effect === 'require-approval' ? ` (${p.quorum})` : ''}
                </td>
                <td>
                  <span className={`mode mode-${p.mode}`}>{p.mode}</span>
                </td>
                <td>
                  {(p.target.actions ?? ['any action']).join(', ')}
                  {p.target.environments ? ` · ${p.target.environments.join(', ')}` : ''}
                </td>
                <td>
                  <code className="condition">{p.condition}</code>
                </td>
                <td>
                  {when(p.updatedAt)} by {p.updatedBy}
                </td>
                {canWrite && (
                  <td>
                    <button type="button" onClick={() => setEditing(p)}>
                      Edit
                    </button>
                  </td>
                )}
              </tr>
            ))}
            {policies.data?.policies.length === 0 && (
              <tr>
                <td colSpan={7}>No policies: every request is decided by scopes alone.</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
      <SimulatePanel />
    </div>
  );
}
