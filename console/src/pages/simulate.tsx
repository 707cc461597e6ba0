/** Simulate: describe a request, see the decision and which policy made it, and why. */
import { useState, type FormEvent } from 'react';
import type { ApiError } from '../api.js';
import { asApiError, EnvBadge, ErrorBox } from '../common.js';
import { useSession } from '../session.js';

interface Simulation {
  decision: string;
  reason: string;
  decidedBy: { policyId: string; version: number } | null;
  explanation: { policyId: string; effect: string; mode: string; outcome: string }[];
  shadow: { policyId: string; outcome: string; wouldBe: string }[];
}

export function SimulatePanel() {
  const session = useSession();
  const [action, setAction] = useState('order.place');
  const [scopes, setScopes] = useState('read, trade');
  const [params, setParams] = useState('{ "symbol": "BTCUSDT", "notional": 300000 }');
  const [ip, setIp] = useState('203.0.113.7');
  const [result, setResult] = useState<Simulation>();
  const [error, setError] = useState<ApiError>();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    let parsed: unknown;
    try {
      parsed = params.trim() === '' ? {} : JSON.parse(params);
    } catch {
      setError(asApiError(new Error('Parameters must be a JSON object.')));
      return;
    }
    const body = {
      action,
      environment: session.environment,
      key: {
        scopes: scopes
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== ''),
      },
      params: parsed,
      request: { ip },
    };
    session.api<Simulation>('POST', '/v1/policies/simulate', body).then(
      (r) => {
        setResult(r);
        setError(undefined);
      },
      (reason: unknown) => setError(asApiError(reason)),
    );
  };
  return (
    <section className="card" aria-labelledby="simulate-title">
      <h2 id="simulate-title">
        Simulate a request in <EnvBadge environment={session.environment} />
      </h2>
      <form className="grid-form" onSubmit={submit}>
        <label htmlFor="sim-action">Action</label>
        <input id="sim-action" value={action} onChange={(e) => setAction(e.target.value)} />
        <label htmlFor="sim-scopes">Key scopes</label>
        <input id="sim-scopes" value={scopes} onChange={(e) => setScopes(e.target.value)} />
        <label htmlFor="sim-params">Parameters (JSON)</label>
        <textarea
          id="sim-params"
          className="code"
          rows={2}
          value={params}
          onChange={(e) => setParams(e.target.value)}
        />
        <label htmlFor="sim-ip">Client IP</label>
        <input id="sim-ip" value={ip} onChange={(e) => setIp(e.target.value)} />
        <span />
        <div>
          <ErrorBox error={error} />
          <button type="submit" className="primary">
            Simulate
          </button>
        </div>
      </form>
      {result !== undefined && (
        <div className="simulation" data-testid="simulation" role="status">
          <p>
            Decision: <strong className={`decision-${result.decision}`}>{result.decision}</strong> (
            {result.reason})
            {result.decidedBy !== null &&
              ` — decided by ${result.decidedBy.policyId} v${result.decidedBy.version}`}
          </p>
          <ul>
            {result.explanation.map((x) => (
              <li key={`${x.policyId}-e`}>
                {x.policyId}: {x.effect} ({x.mode}) — condition {x.outcome}
              </li>
            ))}
            {result.shadow.map((x) => (
              <li key={`${x.policyId}-s`}>
                shadow {x.policyId}: condition {x.outcome}, would make it {x.wouldBe}
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
