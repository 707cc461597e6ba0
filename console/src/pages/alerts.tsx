/** Alerts of the selected environment: acknowledge, resolve. */
import { useState } from 'react';
import type { Alert, ApiError } from '../api.js';
import { query } from '../api.js';
import { asApiError, EnvBadge, ErrorBox, useLoad, when } from '../common.js';
import { useSession } from '../session.js';

export function AlertsPage() {
  const session = useSession();
  const env = session.environment;
  const [state, setState] = useState<'open' | 'acknowledged' | 'resolved' | ''>('open');
  const [error, setError] = useState<ApiError>();
  const alerts = useLoad(
    () =>
      session.api<{ alerts: Alert[] }>(
        'GET',
        `/v1/alerts${query({ environment: env, state, limit: 200 })}`,
      ),
    [session.token, env, state],
  );
  const act = (alert: Alert, verb: 'ack' | 'resolve') => {
    session.api('POST', `/v1/alerts/${encodeURIComponent(alert.id)}/${verb}`).then(
      () => {
        setError(undefined);
        alerts.reload();
      },
      (e: unknown) => setError(asApiError(e)),
    );
  };
  const canAct = session.can('keys:write');
  return (
    <div className="stack">
      <form className="inline" onSubmit={(e) => e.preventDefault()}>
        <label htmlFor="alert-state">Show</label>
        <select
          id="alert-state"
          value={state}
          onChange={(e) => setState(e.target.value as typeof state)}
        >
          <option value="open">open</option>
          <option value="acknowledged">acknowledged</option>
          <option value="resolved">resolved</option>
          <option value="">all</option>
        </select>
      </form>
      <ErrorBox error={alerts.error ?? error} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th>Alert</th>
              <th>Env</th>
              <th>Signal</th>
              <th>Step taken</th>
              <th>Key</th>
              <th>Observed / threshold</th>
              <th>Raised</th>
              <th>State</th>
              {canAct && <th>Actions</th>}
            </tr>
          </thead>
          <tbody>
            {(alerts.data?.alerts ?? []).map((a) => (
              <tr key={a.id} data-alert-id={a.id}>
                <td>
                  <code>{a.id}</code>
                </td>
                <td>
                  <EnvBadge environment={a.environment} />
                </td>
                <td>{a.signal}</td>
                <td>{a.step}</td>
                <td>{a.keyId !== null ? <code>{a.keyId}</code> : '—'}</td>
                <td>
                  {a.observed ?? '—'} / {a.threshold ?? '—'}
                </td>
                <td>{when(a.createdAt)}</td>
                <td>{a.state}</td>
                {canAct && (
                  <td className="row-actions">
                    {a.state === 'open' && (
                      <button type="button" onClick={() => act(a, 'ack')}>
                        Acknowledge
                      </button>
                    )}
                    {a.state !== 'resolved' && (
                      <button type="button" onClick={() => act(a, 'resolve')}>
                        Resolve
                      </button>
                    )}
                  </td>
                )}
              </tr>
            ))}
            {alerts.data?.alerts.length === 0 && (
              <tr>
                <td colSpan={9}>
                  No {state === '' ? '' : `${state} `}alerts in {env}.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </div>
  );
}
