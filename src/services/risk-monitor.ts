/**
 * Feeds data-plane decisions to the anomaly engine off the request path: `observe` appends to a
 * bounded queue and returns; a batch is processed on a later turn of the event loop, each
 * signal mapped to its ladder step (`decideResponse`) and applied by the risk service.
 *
 * With a sighting store (the control store's risk store), `new_ip_prefix` and
 * `first_sensitive_action` are decided on the store's durable, shared first sightings instead of
 * the engine's process memory (src/core/risk/sightings.ts): a restart or another node does not
 * make an old prefix or action new again. A bounded cache skips the store for what this process
 * recorded lately.
 *
 * With shared windows (cluster mode), `failure_burst`, `key_spray` and `rate_spike` are decided
 * once per batch on state every node adds its decisions to (src/core/risk/shared-windows.ts), so
 * a burst or a spike a load balancer spreads over the nodes is seen whole; when that state
 * cannot answer, on the node's own windows and rates.
 */
import { createBoundedLru, type BoundedLru } from '../core/risk/bounded-lru.js';
import type { Environment } from '../core/keys/model.js';
import {
  createRiskEngine,
  decideResponse,
  type ResponsePolicy,
  type RiskEngineConfig,
  type RiskEvent,
  type Signal,
} from '../core/risk/index.js';
import { cooledDown, signalRule, toSignal } from '../core/risk/risk-engine.js';
import {
  addRateToBatch,
  addToBatch,
  createContributionBatch,
  mapThresholds,
  onlySharedSignals,
  sharedSignals,
  withoutSharedSignals,
  type ContributionBatch,
  type SharedRiskWindows,
} from '../core/risk/shared-windows.js';
import {
  sightingMeasurement,
  sightingRule,
  sightingSignalKind,
  sightingsOf,
  type Sighting,
} from '../core/risk/sightings.js';
import type { Metrics } from './metrics.js';
import type { RiskService } from './risk-service.js';
import type { RiskStore } from './risk-store.js';
import { systemTimers, type Timers } from './traffic-log.js';

export interface RiskMonitorDeps {
  readonly risk: Pick<RiskService, 'apply'>;
  readonly metrics?: Pick<
    Metrics,
    'recordRiskSignal' | 'recordRiskResponse' | 'recordRiskWindowsFallback'
  >;
  readonly timers?: Timers;
  readonly onSignal?: (signal: Signal) => void;
  readonly onError?: (error: unknown) => void;
  /** The shared windows failed: the node decides on its own for SHARED_WINDOWS_PAUSE_MS. */
  readonly onSharedWindowsError?: (error: unknown) => void;
  /** Durable, shared first sightings; without it the engine's process memory decides them. */
  readonly sightings?: Pick<RiskStore, 'sight'>;
  /**
   * Cluster mode: failure windows and request rates every node adds to, so that
   * `failure_burst`, `key_spray` and `rate_spike` are decided on the cluster's traffic, not this
   * node's share of it.
   */
  readonly sharedWindows?: SharedRiskWindows;
}

/**
 * How long a sighting this process recorded skips the store: a prefix's last-seen time in the
 * store is then at most this stale, against a 30-day forgetting time.
 */
export const SIGHTING_REFRESH_MS = 60 * 60_000;

/** After the sighting store failed, events (by their own time) skip it for this long. */
export const SIGHTING_PAUSE_MS = 5_000;

/**
 * After the shared windows failed, batches (by their events' time) are decided on the node's
 * own windows for this long without asking again.
 */
export const SHARED_WINDOWS_PAUSE_MS = 5_000;

export interface RiskMonitorOptions {
  readonly engine: RiskEngineConfig;
  readonly responses: ResponsePolicy;
  /** Events waiting at most; beyond it new events are dropped (counted in `stats`). */
  readonly maxQueued: number;
  /**
   * With shared windows: request counts are sent at most this often (by the events' time, and
   * after this long without events); 0 sends them with every batch. Default SHARED_RATE_FLUSH_MS.
   */
  readonly sharedRateFlushMs?: number;
}

/**
 * Request counts go to the shared rates at most every 250 ms: one Redis call per batch (a few
 * hundred a second on a busy node) cost the gateway ~15 % of its throughput in cluster mode,
 * and a spike in a 60-second interval is raised a quarter of a second later at most.
 */
export const SHARED_RATE_FLUSH_MS = 250;

export interface RiskMonitor {
  /** Queues one decision; never blocks, never throws. */
  observe(event: RiskEvent): void;
  /**
   * Processes everything queued and waits for the responses to be stored (request counts for
   * the shared rates may wait for their next send: see `sharedRateFlushMs`).
   */
  drain(): Promise<void>;
  stats(): { queued: number; dropped: number; signals: number };
  close(): Promise<void>;
}

/** Creates the monitor and its engine (state per process, bounded by the engine's LRUs). */
export function createRiskMonitor(deps: RiskMonitorDeps, options: RiskMonitorOptions): RiskMonitor {
  const sightings = deps.sightings;
  const shared = deps.sharedWindows;
  let engineConfig = options.engine;
  if (sightings !== undefined) engineConfig = withoutFirstSightings(engineConfig);
  if (shared !== undefined) engineConfig = withoutSharedSignals(engineConfig);
  const engine = createRiskEngine(engineConfig);
  /**
   * With shared windows, the node still counts its own denials: when the shared store cannot
   * answer, a batch's failure signals are decided on these (the node's share of the evidence is
   * better than none).
   */
  const ownWindows =
    shared === undefined ? undefined : createRiskEngine(onlySharedSignals(options.engine));
  let sharedPausedUntil = -Infinity;
  const rateFlushMs = options.sharedRateFlushMs ?? SHARED_RATE_FLUSH_MS;
  /** Request counts not sent yet, and the node's own rate spikes meanwhile (its fallback). */
  let pendingRates = createContributionBatch();
  let pendingOwnRates: Signal[] = [];
  let pendingSinceMs = Infinity;
  let rateTimer: unknown;
  const recorded = createBoundedLru<{ atMs: number }>(
    options.engine.memory.maxKeys + options.engine.memory.maxAccounts,
  );
  const cooldowns = createBoundedLru<{ lastMs: number }>(options.engine.memory.maxCooldowns);
  /**
   * Per environment, the prefix each key was last recorded with in the store, and when. The
   * common event, a key calling again from the prefix it just used, is settled by this one
   * lookup: no sightings built, no cache key string, no await (about 6 µs of the gateway's CPU
   * per request before, measured with a CPU profile under load).
   */
  const recentPrefix = new Map<Environment, BoundedLru<{ prefix: string; atMs: number }>>();
  const recentPrefixOf = (environment: Environment) => {
    let lru = recentPrefix.get(environment);
    if (lru === undefined) {
      lru = createBoundedLru(options.engine.memory.maxKeys);
      recentPrefix.set(environment, lru);
    }
    return lru;
  };
  let sightingsPausedUntil = -Infinity;
  const timers = deps.timers ?? systemTimers;
  let queue: RiskEvent[] = [];
  let scheduled: unknown;
  let dropped = 0;
  let signals = 0;
  let chain: Promise<void> = Promise.resolve();

  /**
   * True when `sighted` would find nothing to ask the store: no store or a pause, a denial, or
   * an allowed request from the prefix its key was recorded with lately and no sensitive action.
   */
  function nothingToSight(event: RiskEvent): boolean {
    if (sightings === undefined || event.nowMs < sightingsPausedUntil) return true;
    if (event.outcome !== 'allow' || event.keyId === undefined) return true;
    const t = options.engine.environments[event.environment];
    const first = t.firstSensitiveAction;
    if (first.mode !== 'off' && first.actions.includes(event.action)) return false;
    if (t.newIpPrefix.mode === 'off') return true;
    const recent = recentPrefixOf(event.environment).get(event.keyId);
    return (
      recent !== undefined &&
      recent.prefix === event.ipPrefix &&
      event.nowMs - recent.atMs < SIGHTING_REFRESH_MS
    );
  }

  /** The first-sighting signals of an event, decided by the store (none without one). */
  async function sighted(event: RiskEvent): Promise<Signal[]> {
    if (sightings === undefined || event.nowMs < sightingsPausedUntil) return [];
    const t = options.engine.environments[event.environment];
    const out: Signal[] = [];
    for (const sighting of sightingsOf(event, t)) {
      const cacheKey = sightingCacheKey(sighting);
      const last = recorded.get(cacheKey);
      if (
        last !== undefined &&
        (sighting.kind === 'action' || sighting.atMs - last.atMs < SIGHTING_REFRESH_MS)
      ) {
        continue;
      }
      let answer;
      try {
        answer = await sightings.sight(sighting, sightingRule(sighting, t));
      } catch (error) {
        // The store is down or stuck: for a while, do not wait on it for every event, so that
        // the engine's own signals (bursts, spikes) keep flowing; those sightings are lost.
        sightingsPausedUntil = event.nowMs + SIGHTING_PAUSE_MS;
        deps.onError?.(error);
        return out;
      }
      recorded.getOrCreate(cacheKey, () => ({ atMs: sighting.atMs })).atMs = sighting.atMs;
      if (sighting.kind === 'prefix') {
        const recent = recentPrefixOf(sighting.environment).getOrCreate(
          sighting.subject.id,
          () => ({
            prefix: sighting.value,
            atMs: sighting.atMs,
          }),
        );
        recent.prefix = sighting.value;
        recent.atMs = sighting.atMs;
      }
      const measured = sightingMeasurement(sighting, answer);
      if (measured === undefined) continue;
      const kind = sightingSignalKind(sighting);
      const rule = signalRule(t, kind);
      if (!cooledDown(cooldowns, kind, event, sighting.subject, rule.cooldownMs)) continue;
      out.push(toSignal(event, kind, sighting.subject, measured, rule.mode === 'shadow'));
    }
    return out;
  }

  /**
   * The shared signals of a batch: decided on the shared state after adding the batch to it, or
   * on the node's own windows and rates (`own`) when the shared store fails or is paused.
   */
  async function sharedDecisions(
    batch: ContributionBatch,
    own: Signal[],
    nowMs: number,
  ): Promise<Signal[]> {
    if (shared === undefined || batch.byId.size === 0) return own;
    if (nowMs < sharedPausedUntil) {
      deps.metrics?.recordRiskWindowsFallback();
      return own;
    }
    const contributions = [...batch.byId.values()];
    try {
      return sharedSignals(contributions, await shared.add(contributions), options.engine);
    } catch (error) {
      sharedPausedUntil = nowMs + SHARED_WINDOWS_PAUSE_MS;
      (deps.onSharedWindowsError ?? deps.onError)?.(error);
      deps.metrics?.recordRiskWindowsFallback();
      return own;
    }
  }

  async function act(raised: readonly Signal[]): Promise<void> {
    for (const signal of raised) {
      signals += 1;
      deps.metrics?.recordRiskSignal(signal.kind, signal.environment, signal.shadow);
      deps.onSignal?.(signal);
      const action = decideResponse(signal, options.responses);
      deps.metrics?.recordRiskResponse(action.step, signal.environment);
      try {
        await deps.risk.apply(action);
      } catch (error) {
        deps.onError?.(error);
      }
    }
  }

  async function processBatch(batch: readonly RiskEvent[], flushRates: boolean): Promise<void> {
    const contributions = createContributionBatch();
    const own: Signal[] = [];
    let latestMs = -Infinity;
    for (const event of batch) {
      let raised = engine.observe(event);
      if (ownWindows !== undefined) {
        addRateToBatch(pendingRates, event, options.engine);
        pendingSinceMs = Math.min(pendingSinceMs, event.nowMs);
        // The node's own rate spikes are its fallback; the cluster's rates decide.
        if (raised.length > 0) raised = divertRateSpikes(raised, pendingOwnRates);
        if (event.outcome === 'deny') {
          addToBatch(contributions, event, options.engine);
          own.push(...ownWindows.observe(event));
        }
        latestMs = Math.max(latestMs, event.nowMs);
      }
      if (!nothingToSight(event)) raised.push(...(await sighted(event)));
      // Most events raise nothing: no promise for them (this runs for every request).
      if (raised.length > 0) await act(raised);
    }
    if (ownWindows === undefined) return;
    if (pendingRates.byId.size > 0 && (flushRates || latestMs - pendingSinceMs >= rateFlushMs)) {
      for (const [id, c] of pendingRates.byId) {
        contributions.byId.set(id, c);
        latestMs = Math.max(latestMs, c.last.nowMs);
      }
      own.push(...pendingOwnRates);
      pendingRates = createContributionBatch();
      pendingOwnRates = [];
      pendingSinceMs = Infinity;
    }
    await act(await sharedDecisions(contributions, own, latestMs));
    // Counts left waiting are sent after a quiet spell too, not only with the next busy batch.
    if (pendingRates.byId.size > 0) {
      rateTimer ??= timers.setTimeout(() => {
        rateTimer = undefined;
        void flush(true);
      }, rateFlushMs);
    }
  }

  /** Processes everything queued; `flushRates` also sends the request counts waiting. */
  function flush(flushRates: boolean): Promise<void> {
    if (scheduled !== undefined) {
      timers.clearTimeout(scheduled);
      scheduled = undefined;
    }
    if (flushRates && rateTimer !== undefined) {
      timers.clearTimeout(rateTimer);
      rateTimer = undefined;
    }
    const batch = queue;
    queue = [];
    chain = chain.then(() => processBatch(batch, flushRates));
    return chain;
  }

  const drain = () => flush(false);

  return {
    observe(event) {
      if (queue.length >= options.maxQueued) {
        dropped += 1;
        return;
      }
      queue.push(event);
      scheduled ??= timers.setTimeout(() => {
        scheduled = undefined;
        void drain();
      }, 0);
    },
    drain,
    stats: () => ({ queued: queue.length, dropped, signals }),
    close: () => flush(true),
  };
}

/** Moves the rate_spike signals of `raised` to `own`; the others are returned. */
function divertRateSpikes(raised: Signal[], own: Signal[]): Signal[] {
  const kept: Signal[] = [];
  for (const signal of raised) (signal.kind === 'rate_spike' ? own : kept).push(signal);
  return kept;
}

/** The engine's configuration with the two first-sighting signals left to the store. */
function withoutFirstSightings(config: RiskEngineConfig): RiskEngineConfig {
  return mapThresholds(config, (t) => ({
    ...t,
    newIpPrefix: { ...t.newIpPrefix, mode: 'off' },
    firstSensitiveAction: { ...t.firstSensitiveAction, mode: 'off' },
  }));
}

function sightingCacheKey(s: Sighting): string {
  return `${s.environment}\u0000${s.subject.type}\u0000${s.subject.id}\u0000${s.kind}\u0000${s.value}`;
}
