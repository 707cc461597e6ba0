/** Accounts and keys: list with age, last use and risk; create, rotate, revoke. */
import { useEffect, useState } from 'react';
import type { Account, ApiKey, GovernanceRow, KeyRisk } from '../api.js';
import { query } from '../api.js';
import { age, Confirm, EnvBadge, ErrorBox, asApiError, useLoad, when } from '../common.js';
import { useSession } from '../session.js';
import type { ApiError } from '../api.js';
import { CreateKeyForm, SecretOnce } from './key-forms.js';

/** Accounts per page of the Accounts panel ("Show more accounts" loads the next). */
export const ACCOUNT_PAGE = 200;

interface AccountList {
  readonly accounts: Account[];
  readonly next: string | null;
}

interface KeyRow {
  readonly key: ApiKey;
  readonly risk: KeyRisk | undefined;
  readonly findings: readonly string[];
}

/** Why a key deserves attention: the API's responses and findings, then its exposure. */
export function riskReasons(row: KeyRow): string[] {
  const reasons = row.risk?.responses.map((r) => `${r.step}: ${r.reason}`) ?? [];
  reasons.push(...row.findings);
  const key = row.key;
  if (key.state !== 'active') return reasons;
  if (key.scopes.includes('withdraw')) reasons.push('can withdraw funds');
  if (key.scopes.includes('transfer')) reasons.push('can transfer between accounts');
  if (key.ipAllowlist.length === 0) reasons.push('usable from any IP address');
  if (key.expiresAt === null || key.expiresAt === undefined) reasons.push('never expires');
  return reasons;
}

export function KeysPage() {
  const session = useSession();
  const env = session.environment;
  const [secret, setSecret] = useState<{ keyId: string; secret: string; why: string }>();
  const [rotating, setRotating] = useState<ApiKey>();
  const [revoking, setRevoking] = useState<ApiKey>();
  const [actionError, setActionError] = useState<ApiError>();
  const accounts = useLoad(
    () => session.api<AccountList>('GET', `/v1/accounts${query({ limit: ACCOUNT_PAGE })}`),
    [session.token],
  );
  // Pages after the first, as "Show more accounts" loaded them; dropped when the first reloads.
  const [later, setLater] = useState<AccountList>();
  useEffect(() => setLater(undefined), [accounts.data]);
  const accountList = [...(accounts.data?.accounts ?? []), ...(later?.accounts ?? [])];
  const nextAccounts = later !== undefined ? later.next : (accounts.data?.next ?? null);
  const showMoreAccounts = () => {
    if (nextAccounts === null) return;
    session
      .api<AccountList>('GET', `/v1/accounts${query({ limit: ACCOUNT_PAGE, after: nextAccounts })}`)
      .then(
        (page) =>
          setLater((prev) => ({
            accounts: [...(prev?.accounts ?? []), ...page.accounts],
            next: page.next,
          })),
        (e: unknown) => setActionError(asApiError(e)),
      );
  };
  const keys = useLoad(async (): Promise<KeyRow[]> => {
    const list = await session.api<{ keys: ApiKey[] }>(
      'GET',
      `/v1/keys${query({ environment: env, limit: 500 })}`,
    );
    const report = await session
      .api<{ rows: GovernanceRow[] }>('GET', '/v1/keys/report')
      .catch(() => ({ rows: [] as GovernanceRow[] }));
    const findings = new Map(
      report.rows.map((r) => [
        r.keyId,
        r.findings.map((f) => `${f.code.toLowerCase()}${f.breached ? '' : ' (soon)'}`),
      ]),
    );
    return Promise.all(
      list.keys.map(async (key) => ({
        key,
        risk: await session
          .api<KeyRisk>('GET', `/v1/keys/${encodeURIComponent(key.id)}/risk`)
          .catch(() => undefined),
        findings: findings.get(key.id) ?? [],
      })),
    );
  }, [session.token, env]);

  const canWrite = session.can('keys:write');
  const now = Date.now();

  const rotate = (key: ApiKey, grace: string) => {
    setRotating(undefined);
    session
      .api<{ key: ApiKey; secret: string }>('POST', `/v1/keys/${key.id}/rotate`, { grace })
      .then(
        (r) => {
          setSecret({
            keyId: r.key.id,
            secret: r.secret,
            why: `rotated; the previous secret keeps working for ${grace}`,
          });
          keys.reload();
        },
        (e: unknown) => setActionError(asApiError(e)),
      );
  };
  const revoke = (key: ApiKey) => {
    setRevoking(undefined);
    session.api('POST', `/v1/keys/${key.id}/revoke`).then(
      () => keys.reload(),
      (e: unknown) => setActionError(asApiError(e)),
    );
  };

  return (
    <div className="stack">
      {secret !== undefined && <SecretOnce {...secret} onDone={() => setSecret(undefined)} />}
      <AccountsPanel
        accounts={accountList}
        onCreated={accounts.reload}
        {...(nextAccounts !== null ? { onMore: showMoreAccounts } : {})}
      />
      {canWrite && (
        <CreateKeyForm
          accounts={accountList}
          onCreated={(r) => {
            setSecret({ keyId: r.key.id, secret: r.secret, why: 'created' });
            keys.reload();
          }}
        />
      )}
      <section aria-labelledby="keys-title">
        <h2 id="keys-title">
          Keys in <EnvBadge environment={env} />
        </h2>
        <ErrorBox error={keys.error ?? actionError} />
        {keys.loading && keys.data === undefined && <p>Loading keys…</p>}
        <div className="table-wrap">
          <table className="keys">
            <thead>
              <tr>
                <th>Key</th>
                <th>Env</th>
                <th>Scopes</th>
                <th>State</th>
                <th>Age</th>
                <th>Last use</th>
                <th>Risk</th>
                {canWrite && <th>Actions</th>}
              </tr>
            </thead>
            <tbody>
              {(keys.data ?? []).map((row) => (
                <tr key={row.key.id} data-key-id={row.key.id} className={`state-${row.key.state}`}>
                  <td>
                    <code>{row.key.id}</code>
                    <div className="muted">
                      {row.key.label !== undefined && row.key.label !== ''
                        ? `${row.key.label} · `
                        : ''}
                      {row.key.scheme} · {row.key.accountId} · v{row.key.secretVersion ?? 1}
                    </div>
                  </td>
                  <td>
                    <EnvBadge environment={row.key.environment} />
                  </td>
                  <td>{row.key.scopes.join(', ')}</td>
                  <td data-testid="key-state">{row.key.state}</td>
                  <td title={when(row.key.createdAt)}>{age(row.key.createdAt, now)}</td>
                  <td title={when(row.key.lastUsedAt)}>{age(row.key.lastUsedAt, now)}</td>
                  <td>
                    <span className={`risk risk-${row.risk?.level ?? 'unknown'}`}>
                      {row.risk?.level ?? 'unknown'}
                    </span>
                    <ul className="why">
                      {riskReasons(row).map((r) => (
                        <li key={r}>{r}</li>
                      ))}
                    </ul>
                  </td>
                  {canWrite && (
                    <td className="row-actions">
                      {row.key.state === 'active' && row.key.scheme === 'hmac' && (
                        <button type="button" onClick={() => setRotating(row.key)}>
                          Rotate
                        </button>
                      )}
                      {row.key.state === 'active' && (
                        <button
                          type="button"
                          className="danger"
                          onClick={() => setRevoking(row.key)}
                        >
                          Revoke
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              ))}
              {keys.data?.length === 0 && (
                <tr>
                  <td colSpan={8}>No keys in this environment.</td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      </section>
      {rotating !== undefined && (
        <RotateDialog
          apiKey={rotating}
          onRotate={(grace) => rotate(rotating, grace)}
          onCancel={() => setRotating(undefined)}
        />
      )}
      {revoking !== undefined && (
        <Confirm
          title={`Revoke ${revoking.id}?`}
          confirmLabel="Revoke now"
          danger
          onConfirm={() => revoke(revoking)}
          onCancel={() => setRevoking(undefined)}
        >
          <p>
            The key stops working immediately on every node, its live WebSocket sessions are closed,
            and it cannot be reactivated. <EnvBadge environment={revoking.environment} />
          </p>
        </Confirm>
      )}
    </div>
  );
}

function RotateDialog(props: {
  apiKey: ApiKey;
  onRotate: (grace: string) => void;
  onCancel: () => void;
}) {
  const [grace, setGrace] = useState('24h');
  return (
    <Confirm
      title={`Rotate ${props.apiKey.id}?`}
      confirmLabel="Rotate"
      onConfirm={() => props.onRotate(grace)}
      onCancel={props.onCancel}
    >
      <p>A new secret is generated and shown once. The key id stays the same.</p>
      <label htmlFor="grace">The old secret keeps working for</label>
      <select id="grace" value={grace} onChange={(e) => setGrace(e.target.value)}>
        <option value="0s">0s — retire it at once</option>
        <option value="1h">1 hour</option>
        <option value="24h">24 hours (default)</option>
        <option value="7d">7 days</option>
      </select>
    </Confirm>
  );
}

function AccountsPanel(props: {
  accounts: Account[];
  onCreated: () => void;
  /** Set while more accounts exist than are shown. */
  onMore?: () => void;
}) {
  const session = useSession();
  const [name, setName] = useState('');
  const [error, setError] = useState<ApiError>();
  const create = () => {
    session.api('POST', '/v1/accounts', { name: name.trim() }).then(
      () => {
        setName('');
        setError(undefined);
        props.onCreated();
      },
      (e: unknown) => setError(asApiError(e)),
    );
  };
  return (
    <section aria-labelledby="accounts-title">
      <h2 id="accounts-title">Accounts</h2>
      <ul className="accounts">
        {props.accounts.map((a) => (
          <li key={a.id}>
            <strong>{a.name}</strong> <code>{a.id}</code>
          </li>
        ))}
        {props.accounts.length === 0 && <li>No accounts yet.</li>}
      </ul>
      {props.onMore !== undefined && (
        <p>
          Showing the first {props.accounts.length} accounts.{' '}
          <button type="button" onClick={props.onMore}>
            Show more accounts
          </button>
        </p>
      )}
      {session.can('accounts:write') && (
        <form
          className="inline"
          onSubmit={(e) => {
            e.preventDefault();
            create();
          }}
        >
          <label htmlFor="account-name">New account</label>
          <input
            id="account-name"
            value={name}
            maxLength={128}
            onChange={(e) => setName(e.target.value)}
          />
          <button type="submit" disabled={name.trim() === ''}>
            Create account
          </button>
          <ErrorBox error={error} />
        </form>
      )}
    </section>
  );
}
