/**
 * The responses in force and the alerts: applies what the response ladder decided (stored,
 * audited, delivered to webhooks), answers the data plane's per-request question "what may
 * this key still do" from memory, and lets an operator acknowledge, resolve and reverse.
 *
 * Hot path: `stateOf` and `prefixBanned` are a Map lookup that finds nothing for a normal key
 * or address; state changes take effect on the next request (the maps are updated before the
 * admin API answers or the detection batch ends).
 *
 * Several nodes share one store (the control store's risk tables): each stored change is
 * announced through `onChange` (the cluster's `risk.changed` event), and `reload` re-reads the
 * responses in force, on that event and on every `risk.*`/`alert.*` entry of the audit feed
 * (src/app/cluster-sync.ts), so a response decided or lifted on one node holds on the others.
 */
import type { AuditDraft } from '../core/audit/audit-chain.js';
import type { Clock } from '../core/clock.js';
import { PortcullisError } from '../core/errors.js';
import type { Environment } from '../core/keys/model.js';
import {
  keyRiskState,
  riskIpPrefix,
  responseExpiresAtMs,
  type ActiveResponse,
  type KeyRiskState,
  type ResponseAction,
  type RiskLevel,
} from '../core/risk/index.js';
import { newId } from './ids.js';
import type {
  AlertQuery,
  AlertState,
  RiskStore,
  StoredAlert,
  StoredResponse,
} from './risk-store.js';
import type { WebhookSender } from './webhooks.js';

export interface RiskServiceDeps {
  readonly store: RiskStore;
  readonly clock: Clock;
  /** Appends to the audit chain (the control store's `appendAudit`). */
  readonly audit: (draft: AuditDraft) => Promise<unknown>;
  readonly webhooks?: WebhookSender;
  readonly onError?: (error: unknown) => void;
  /** Called once a change is stored, with the key id or IP prefix it concerns (cluster event). */
  readonly onChange?: (target: string) => void;
}

export interface ActorContext {
  readonly actor: string;
  readonly requestId: string;
}

/** The automated actor recorded in the audit log for ladder responses. */
export const RISK_ACTOR = 'system:risk';
export const GOVERNANCE_ACTOR = 'system:governance';

const LOCKED: KeyRiskState = {
  level: 'locked',
  disabled: true,
  withdraw: 'suspended',
  trade: 'read_only',
  throttleFactor: 1,
};

export interface KeyRiskView {
  readonly keyId: string;
  readonly level: RiskLevel;
  readonly state: KeyRiskState;
  readonly responses: readonly StoredResponse[];
}

export type RiskService = ReturnType<typeof createRiskService>;

/** Creates the service; call `load()` once before traffic to restore responses in force. */
export function createRiskService(deps: RiskServiceDeps) {
  const byKey = new Map<string, StoredResponse[]>();
  const bans = new Map<string, StoredResponse[]>();
  /** Throttles of a whole IP prefix (a prefix-wide signal): they scale the prefix's limits. */
  const prefixThrottles = new Map<string, StoredResponse[]>();
  const banKey = (environment: Environment, prefix: string) => `${environment}\u0000${prefix}`;

  const index = (r: StoredResponse): void => {
    if (r.keyId !== null) {
      const list = byKey.get(r.keyId) ?? [];
      list.push(r);
      byKey.set(r.keyId, list);
    }
    if (r.action.step === 'ban_prefix' && r.ipPrefix !== null) {
      const k = banKey(r.environment, r.ipPrefix);
      bans.set(k, [...(bans.get(k) ?? []), r]);
    }
    if (r.action.step === 'throttle' && r.action.target.type === 'ip_prefix') {
      const k = banKey(r.environment, r.action.target.id);
      prefixThrottles.set(k, [...(prefixThrottles.get(k) ?? []), r]);
    }
  };
  const unindex = (id: string): void => {
    for (const map of [byKey, bans, prefixThrottles]) {
      for (const [k, list] of map) {
        const rest = list.filter((r) => r.id !== id);
        if (rest.length === 0) map.delete(k);
        else if (rest.length !== list.length) map.set(k, rest);
      }
    }
  };
  const inForce = (r: StoredResponse, nowMs: number): boolean =>
    r.liftedAtMs === null && (r.expiresAtMs === null || r.expiresAtMs > nowMs);

  // A reload must not undo a local change it raced: every local change bumps `generation` (a
  // reload that saw it move reads again), and a response decided here stays in force from
  // `pending` until its row is written.
  let generation = 0;
  const pending = new Map<string, StoredResponse>();
  const track = (r: StoredResponse): void => {
    generation += 1;
    pending.set(r.id, r);
    index(r);
  };
  const stored = (r: StoredResponse): void => {
    pending.delete(r.id);
    generation += 1;
  };
  const untrack = (id: string): void => {
    generation += 1;
    pending.delete(id);
    unindex(id);
  };
  const changed = (target: string): void => {
    try {
      deps.onChange?.(target);
    } catch (error) {
      deps.onError?.(error);
    }
  };

  /** The store's responses in force plus the ones decided here and not yet written. */
  async function activeResponses(nowMs: number): Promise<StoredResponse[]> {
    const rows = await deps.store.listActiveResponses(nowMs);
    const ids = new Set(rows.map((r) => r.id));
    return [...rows, ...[...pending.values()].filter((r) => !ids.has(r.id) && inForce(r, nowMs))];
  }

  /** Replaces the in-memory responses with the store's; retried while local changes race it. */
  async function reloadOnce(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const startedAt = generation;
      const rows = await activeResponses(deps.clock.now());
      // Bounded: under a storm of local changes the next event or feed pass reads again.
      if (generation !== startedAt && attempt < MAX_RELOAD_ATTEMPTS) continue;
      for (const map of [byKey, bans, prefixThrottles]) map.clear();
      for (const r of rows) index(r);
      return;
    }
  }

  let reloading: Promise<void> | undefined;
  let reloadAgain = false;
  /** Re-reads the responses in force; calls during a reload make it read once more after. */
  function reload(): Promise<void> {
    if (reloading !== undefined) {
      reloadAgain = true;
      return reloading;
    }
    reloading = (async () => {
      try {
        do {
          reloadAgain = false;
          await reloadOnce();
        } while (reloadAgain);
      } finally {
        reloading = undefined;
      }
    })();
    return reloading;
  }

  function stateOf(keyId: string, nowMs: number): KeyRiskState | undefined {
    const list = byKey.get(keyId);
    if (list === undefined) return undefined;
    const ladder: ActiveResponse[] = [];
    for (const r of list) {
      if (!('signal' in r.action)) {
        if (inForce(r, nowMs)) return LOCKED; // governance disable
        continue;
      }
      ladder.push({ action: r.action, startedAtMs: r.startedAtMs, expiresAtMs: r.expiresAtMs });
    }
    const state = keyRiskState(keyId, ladder, nowMs);
    return state.level === 'normal' ? undefined : state;
  }

  function prefixBanned(environment: Environment, clientIp: string, nowMs: number): boolean {
    if (bans.size === 0) return false;
    const list = bans.get(banKey(environment, riskIpPrefix(clientIp) ?? clientIp));
    return list !== undefined && list.some((r) => inForce(r, nowMs));
  }

  function prefixThrottle(environment: Environment, clientIp: string, nowMs: number): number {
    if (prefixThrottles.size === 0) return 1;
    const list = prefixThrottles.get(banKey(environment, riskIpPrefix(clientIp) ?? clientIp));
    let factor = 1;
    for (const r of list ?? []) {
      if (r.action.step === 'throttle' && inForce(r, nowMs))
        factor = Math.min(factor, r.action.throttleFactor);
    }
    return factor;
  }

  async function audit(
    ctx: ActorContext,
    action: string,
    target: string,
    data: AuditDraft['data'],
  ): Promise<void> {
    await deps.audit({ ts: deps.clock.now(), ...ctx, action, target, data });
  }

  function deliver(type: string, alert: StoredAlert): void {
    deps.webhooks?.send({ id: newId('evt'), type, createdAt: deps.clock.now(), data: alert });
  }

  /** Stores and audits one ladder action; raises its alert. Observe actions store nothing. */
  async function apply(decided: ResponseAction): Promise<StoredAlert | undefined> {
    if (decided.step === 'observe') return undefined;
    // A loopback prefix is the node itself (health checks, local tools, a co-located proxy):
    // banning it would lock the operators out, and it never carries internet traffic. Alert.
    const action: ResponseAction =
      decided.step === 'ban_prefix' && isLoopbackPrefix(decided.ipPrefix)
        ? { step: 'alert', signal: decided.signal, alert: true, durationMs: decided.durationMs }
        : decided;
    const nowMs = deps.clock.now();
    const { signal } = action;
    const keyId =
      action.step === 'step_down' || action.step === 'disable_key'
        ? action.keyId
        : action.step === 'throttle' && action.target.type === 'ip_prefix'
          ? null
          : (signal.keyId ?? null);
    const response: StoredResponse = {
      id: newId('rsp'),
      environment: signal.environment,
      keyId,
      ipPrefix: signal.ipPrefix,
      action,
      reason: signal.kind,
      startedAtMs: nowMs,
      expiresAtMs: responseExpiresAtMs(action, nowMs),
      liftedAtMs: null,
      liftedBy: null,
    };
    // In force in memory first: the next request sees it even if the write is slow.
    track(response);
    const alert: StoredAlert = {
      id: newId('alr'),
      state: 'open',
      signal: signal.kind,
      step: action.step,
      environment: signal.environment,
      keyId: signal.keyId ?? null,
      accountId: signal.accountId ?? null,
      ipPrefix: signal.ipPrefix,
      observed: signal.observed,
      threshold: signal.threshold,
      responseId: response.id,
      createdAt: nowMs,
      updatedAt: nowMs,
      updatedBy: null,
    };
    const ctx = { actor: RISK_ACTOR, requestId: response.id };
    await deps.store.insertResponse(response);
    stored(response);
    await deps.store.insertAlert(alert);
    changed(keyId ?? signal.ipPrefix);
    await audit(ctx, `risk.${action.step}`, keyId ?? signal.ipPrefix, {
      responseId: response.id,
      alertId: alert.id,
      signal: signal.kind,
      environment: signal.environment,
      ipPrefix: signal.ipPrefix,
      expiresAt: response.expiresAtMs,
    });
    deliver('alert.raised', alert);
    return alert;
  }

  /** Disables a key on a governance finding (dormant), audited and reversible by reset. */
  async function disableByGovernance(
    keyId: string,
    environment: Environment,
    because: string,
  ): Promise<boolean> {
    const nowMs = deps.clock.now();
    if (stateOf(keyId, nowMs)?.disabled === true) return false;
    const response: StoredResponse = {
      id: newId('rsp'),
      environment,
      keyId,
      ipPrefix: null,
      action: { step: 'disable_key', keyId, because },
      reason: because,
      startedAtMs: nowMs,
      expiresAtMs: null,
      liftedAtMs: null,
      liftedBy: null,
    };
    track(response);
    await deps.store.insertResponse(response);
    stored(response);
    changed(keyId);
    await audit({ actor: GOVERNANCE_ACTOR, requestId: response.id }, 'risk.disable_key', keyId, {
      responseId: response.id,
      because,
      environment,
    });
    return true;
  }

  async function setAlertState(id: string, state: AlertState, ctx: ActorContext) {
    const alert = await deps.store.getAlert(id);
    if (alert === undefined) throw new PortcullisError('NOT_FOUND', `No alert ${id}.`);
    if (alert.state === 'resolved' || alert.state === state) return alert;
    const nowMs = deps.clock.now();
    await deps.store.updateAlert(id, state, nowMs, ctx.actor);
    // Resolving an alert ends the "elevated" level it put its key at; harsher steps are
    // reversed explicitly (POST /v1/keys/:id/risk/reset, or lifting a ban).
    if (state === 'resolved' && alert.step === 'alert' && alert.responseId !== null) {
      await deps.store.liftResponse(alert.responseId, nowMs, ctx.actor);
      untrack(alert.responseId);
    }
    changed(alert.keyId ?? alert.ipPrefix ?? id);
    await audit(ctx, `alert.${state === 'resolved' ? 'resolve' : 'acknowledge'}`, id, {
      from: alert.state,
      to: state,
    });
    const updated: StoredAlert = { ...alert, state, updatedAt: nowMs, updatedBy: ctx.actor };
    deliver(`alert.${state}`, updated);
    return updated;
  }

  function keyRisk(keyId: string): KeyRiskView {
    const nowMs = deps.clock.now();
    const state = stateOf(keyId, nowMs) ?? keyRiskState(keyId, [], nowMs);
    const responses = (byKey.get(keyId) ?? []).filter((r) => inForce(r, nowMs));
    return { keyId, level: state.level, state, responses };
  }

  return {
    /** Restores the responses in force from the store (once, before traffic). */
    load: reload,
    /** Re-reads the responses in force (another node decided or lifted one). */
    reload,
    stateOf,
    prefixBanned,
    prefixThrottle,
    /** The prefix-wide responses (bans, throttles) in force, newest first. */
    prefixResponses(nowMs: number = deps.clock.now()): StoredResponse[] {
      const all: StoredResponse[] = [];
      for (const map of [bans, prefixThrottles]) {
        for (const list of map.values()) all.push(...list.filter((r) => inForce(r, nowMs)));
      }
      return all.sort((a, b) => b.startedAtMs - a.startedAtMs);
    },
    /**
     * Lifts the prefix-wide responses (bans and throttles) in force on `prefix` (the `/24` or
     * `/48` the signal named, or any address inside it) in every environment; audited
     * `risk.lift_prefix`. Returns the responses lifted.
     */
    async liftPrefix(prefix: string, ctx: ActorContext): Promise<StoredResponse[]> {
      const nowMs = deps.clock.now();
      const wanted = riskIpPrefix(prefix.split('/')[0] ?? prefix) ?? prefix;
      // From the store, not this node's memory: a ban another node just decided is lifted too.
      const lifted = (await activeResponses(nowMs)).filter((r) => {
        const at = prefixOfResponse(r);
        return at !== undefined && (at === wanted || at === prefix);
      });
      for (const r of lifted) {
        await deps.store.liftResponse(r.id, nowMs, ctx.actor);
        untrack(r.id);
      }
      if (lifted.length > 0) {
        changed(wanted);
        await audit(ctx, 'risk.lift_prefix', wanted, {
          lifted: lifted.map((r) => ({ id: r.id, step: r.action.step, reason: r.reason })),
        });
      }
      return lifted;
    },
    /** The key's risk level for the policy context ("normal" when nothing is in force). */
    riskLevelOf: (keyId: string, nowMs: number = deps.clock.now()): RiskLevel =>
      stateOf(keyId, nowMs)?.level ?? 'normal',
    apply,
    disableByGovernance,
    listAlerts: (query: AlertQuery) => deps.store.listAlerts(query),
    acknowledge: (id: string, ctx: ActorContext) => setAlertState(id, 'acknowledged', ctx),
    resolve: (id: string, ctx: ActorContext) => setAlertState(id, 'resolved', ctx),
    keyRisk,
    /** Lifts every response in force on the key and resolves its open alerts; audited. */
    async resetKey(keyId: string, ctx: ActorContext): Promise<KeyRiskView> {
      const nowMs = deps.clock.now();
      const lifted = (await activeResponses(nowMs)).filter((r) => r.keyId === keyId);
      for (const r of lifted) {
        await deps.store.liftResponse(r.id, nowMs, ctx.actor);
        untrack(r.id);
      }
      for (const state of ['open', 'acknowledged'] as const) {
        for (const alert of await deps.store.listAlerts({ keyId, state, limit: 1000 })) {
          await deps.store.updateAlert(alert.id, 'resolved', nowMs, ctx.actor);
        }
      }
      changed(keyId);
      await audit(ctx, 'risk.reset', keyId, {
        lifted: lifted.map((r) => ({ id: r.id, step: r.action.step, reason: r.reason })),
      });
      return keyRisk(keyId);
    },
  };
}

/** Reloads retried while local changes race them (then the next event or feed pass reads). */
const MAX_RELOAD_ATTEMPTS = 5;

/** The IP prefix a prefix-wide response (a ban, a throttle of the prefix) holds; else undefined. */
function prefixOfResponse(r: StoredResponse): string | undefined {
  if (r.action.step === 'ban_prefix') return r.ipPrefix ?? undefined;
  if (r.action.step === 'throttle' && r.action.target.type === 'ip_prefix')
    return r.action.target.id;
  return undefined;
}

/** `127.x.y.0/24` or the `::/48` that holds `::1`. */
function isLoopbackPrefix(prefix: string): boolean {
  return prefix.startsWith('127.') || prefix === '::/48';
}
