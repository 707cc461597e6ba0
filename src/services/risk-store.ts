/**
 * Storage port of the anomaly responses and alerts: responses in force (with their expiry or
 * operator lift) and alerts with their state. The control store provides it (SQLite:
 * src/adapters/sqlite/risk-store.ts, PostgreSQL: src/adapters/postgres/postgres-risk-store.ts),
 * so that every node of a cluster sees the same responses; tests may use `createMemoryRiskStore`.
 */
import type { Environment } from '../core/keys/model.js';
import type { ResponseAction, ResponseStep } from '../core/risk/index.js';
import type { Sighting, SightingAnswer, SightingRule } from '../core/risk/sightings.js';

export type AlertState = 'open' | 'acknowledged' | 'resolved';

export interface StoredAlert {
  readonly id: string;
  readonly state: AlertState;
  /** The signal kind (`new_ip_prefix`, …) or a governance finding (`KEY_TOO_OLD`, …). */
  readonly signal: string;
  /** The ladder step taken with it. */
  readonly step: ResponseStep;
  readonly environment: Environment;
  readonly keyId: string | null;
  readonly accountId: string | null;
  readonly ipPrefix: string | null;
  readonly observed: number | null;
  readonly threshold: number | null;
  /** The response it came with, if any (resetting the key lifts it). */
  readonly responseId: string | null;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly updatedBy: string | null;
}

/** A key disabled by the key-governance job (dormant), reversible like any response. */
export interface GovernanceDisable {
  readonly step: 'disable_key';
  readonly keyId: string;
  readonly because: string;
}

export interface StoredResponse {
  readonly id: string;
  readonly environment: Environment;
  readonly keyId: string | null;
  readonly ipPrefix: string | null;
  /** What was decided: `decideResponse`'s action, or a governance disable (dormant key). */
  readonly action: ResponseAction | GovernanceDisable;
  /** Why: the signal kind or governance finding. */
  readonly reason: string;
  readonly startedAtMs: number;
  readonly expiresAtMs: number | null;
  readonly liftedAtMs: number | null;
  readonly liftedBy: string | null;
}

export interface AlertQuery {
  readonly environment?: Environment;
  readonly state?: AlertState;
  readonly keyId?: string;
  readonly limit: number;
}

export interface RiskStore {
  insertAlert(alert: StoredAlert): Promise<void>;
  getAlert(id: string): Promise<StoredAlert | undefined>;
  updateAlert(id: string, state: AlertState, atMs: number, by: string): Promise<void>;
  /** Newest first. */
  listAlerts(query: AlertQuery): Promise<StoredAlert[]>;
  insertResponse(response: StoredResponse): Promise<void>;
  liftResponse(id: string, atMs: number, by: string): Promise<void>;
  /** Responses not lifted and not expired at `nowMs` (loaded at start-up). */
  listActiveResponses(nowMs: number): Promise<StoredResponse[]>;
  /**
   * Records a sighting (or moves its last-seen time forward) and answers whether it is the first
   * since `rule.sinceMs`, atomically: of concurrent sightings of one new value, on any node,
   * exactly one is the first. Keeps at most `rule.keep` values per subject and kind.
   */
  sight(sighting: Sighting, rule: SightingRule): Promise<SightingAnswer>;
}

/**
 * A control store that also holds the risk tables (the SQLite and PostgreSQL adapters): every
 * node of a cluster then shares the responses in force and the alerts.
 */
export interface RiskStoreProvider {
  riskStore(): RiskStore;
}

/** Whether `store` provides a shared risk store. */
export function hasRiskStore(store: object): store is RiskStoreProvider {
  return typeof (store as Partial<RiskStoreProvider>).riskStore === 'function';
}

/** An in-memory store with the same behaviour (tests, embedding without a database). */
export function createMemoryRiskStore(): RiskStore {
  const alerts = new Map<string, StoredAlert>();
  const responses = new Map<string, StoredResponse>();
  /** Subject and kind → value → last seen. */
  const sightings = new Map<string, Map<string, number>>();
  return {
    sight(s, rule) {
      const group = `${s.environment}\u0000${s.subject.type}\u0000${s.subject.id}\u0000${s.kind}`;
      let values = sightings.get(group);
      if (values === undefined) sightings.set(group, (values = new Map<string, number>()));
      const previous = values.get(s.value);
      const first = previous === undefined || previous < rule.sinceMs;
      let others = 0;
      for (const [value, seen] of values) if (value !== s.value && seen >= rule.sinceMs) others++;
      values.set(s.value, Math.max(previous ?? s.atMs, s.atMs));
      if (rule.keep > 0 && values.size > rule.keep) {
        const stalest = [...values].sort((a, b) => a[1] - b[1]).slice(0, values.size - rule.keep);
        for (const [value] of stalest) values.delete(value);
      }
      return Promise.resolve({ first, others });
    },
    insertAlert: (alert) => {
      alerts.set(alert.id, alert);
      return Promise.resolve();
    },
    getAlert: (id) => Promise.resolve(alerts.get(id)),
    updateAlert: (id, state, atMs, by) => {
      const alert = alerts.get(id);
      if (alert) alerts.set(id, { ...alert, state, updatedAt: atMs, updatedBy: by });
      return Promise.resolve();
    },
    listAlerts: (q) =>
      Promise.resolve(
        [...alerts.values()]
          .filter(
            (a) =>
              (q.environment === undefined || a.environment === q.environment) &&
              (q.state === undefined || a.state === q.state) &&
              (q.keyId === undefined || a.keyId === q.keyId),
          )
          .sort((a, b) => b.createdAt - a.createdAt)
          .slice(0, q.limit),
      ),
    insertResponse: (response) => {
      if (responses.has(response.id))
        return Promise.reject(new Error(`response ${response.id} exists`));
      responses.set(response.id, response);
      return Promise.resolve();
    },
    liftResponse: (id, atMs, by) => {
      const r = responses.get(id);
      if (r) responses.set(id, { ...r, liftedAtMs: atMs, liftedBy: by });
      return Promise.resolve();
    },
    listActiveResponses: (nowMs) =>
      Promise.resolve(
        [...responses.values()]
          .filter((r) => r.liftedAtMs === null && (r.expiresAtMs === null || r.expiresAtMs > nowMs))
          .sort((a, b) => a.startedAtMs - b.startedAtMs || (a.id < b.id ? -1 : 1)),
      ),
  };
}
