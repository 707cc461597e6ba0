/**
 * Cluster-wide failure windows and request rates. A node's engine counts only what that node
 * sees, so a burst of failed signatures, or a spray of key ids, that a load balancer spreads over
 * N nodes needs N times the evidence before any node raises it, and a rate spike spread over N
 * nodes scores √N times lower on each (its z-score is floored by the Poisson noise of the
 * node's share) and must reach N times the request floor. In cluster mode the monitor therefore
 * decides `failure_burst`, `key_spray` and `rate_spike` on state every node adds to (the
 * cluster's Redis; see docs/observability.md): this module turns a batch of decisions into each
 * subject's contribution, and the store's answers (the cluster-wide measure after adding, and
 * whether this node won the cooldown) into signals. The rules are the engine's own
 * (risk-engine.ts, detectors.ts): the same events count, the windows have the same slots, a
 * failing key stays counted as long, the rate baseline is the same EWMA.
 */
import { hash } from 'node:crypto';
import type { Environment } from '../keys/model.js';
import { rateScore, rollInterval, type RateState } from './detectors.js';
import type { RiskEngineConfig, RiskThresholds, SignalKind } from './risk-config.js';
import { isIgnoredFailure, signalRule, toSignal } from './risk-engine.js';
import type { RiskEvent, Signal, SignalSubject } from './signal.js';

/** Buckets of a failure window, as the engine's WindowCounter (createWindowCounter's default). */
export const FAILURE_WINDOW_SLOTS = 12;
/** Longest key id a spray window stores; longer guesses are stored by their SHA-256. */
export const MAX_SPRAY_MEMBER_CHARS = 128;

/** The signals a cluster decides on shared state. */
export type SharedSignalKind = Extract<SignalKind, 'failure_burst' | 'key_spray' | 'rate_spike'>;

/**
 * How long a subject's shared rate baseline outlives its last request: a key idle for longer
 * learns its baseline again (its warm-up), as a node's engine does after a restart.
 */
export const RATE_STATE_TTL_MS = 7 * 24 * 3_600_000;

/** The rate_spike rule a contribution is decided by (the engine's observeRate). */
export interface RateRule {
  readonly intervalMs: number;
  readonly lambda: number;
  readonly warmupIntervals: number;
  readonly minRequestsPerInterval: number;
}

/** One subject's part of a batch, as the shared store adds it. */
export interface WindowContribution {
  readonly kind: SharedSignalKind;
  readonly environment: Environment;
  readonly subject: SignalSubject;
  /** `kind`, environment and subject: the store's name for this window and its cooldown. */
  readonly id: string;
  /** The window; for rate_spike, how long the baseline outlives the subject's last request. */
  readonly windowMs: number;
  /** failure_burst: width of one bucket (`slots` cover the window); rate_spike: the interval. */
  readonly slotMs: number;
  /** Denials or distinct keys (reached: raise), or rate_spike's z-score (exceeded: raise). */
  readonly threshold: number;
  readonly cooldownMs: number;
  /** key_spray: distinct failing key ids remembered at most (oldest dropped first). */
  readonly maxTracked: number;
  /**
   * failure_burst: denials per bucket number (floor(t / slotMs)); rate_spike: requests per
   * interval number (floor(t / intervalMs)).
   */
  readonly counts: Map<number, number>;
  /** rate_spike: the baseline's rule. */
  readonly rate?: RateRule;
  /** key_spray: failing key id → its latest failure time. */
  readonly members: Map<string, number>;
  /** The subject's latest event in the batch: the store measures at its time, a signal names it. */
  last: RiskEvent;
}

/** What the store answers for one contribution. */
export interface WindowAnswer {
  /**
   * The cluster-wide measure after adding: denials in the window, distinct failing keys, or
   * (rate_spike) the z-score at which it raised (0 when it did not).
   */
  readonly observed: number;
  /** The measure reached the threshold and this node claimed the cooldown: raise it here. */
  readonly raise: boolean;
}

/** The shared store (the cluster's Redis): adds contributions, answers each one in order. */
export interface SharedRiskWindows {
  add(contributions: readonly WindowContribution[]): Promise<readonly WindowAnswer[]>;
}

/** A batch's contributions, grouped by subject (one per window the batch touched). */
export interface ContributionBatch {
  readonly byId: Map<string, WindowContribution>;
}

export function createContributionBatch(): ContributionBatch {
  return { byId: new Map() };
}

/**
 * Adds one decision to the batch where the engine would count it: a denial whose reason is not
 * ignored counts towards its IP prefix (failure_burst), towards its key unless the key is
 * unknown (failure_burst), and, with a key id, towards its prefix's distinct failing keys
 * (key_spray). Signals that are off are not counted.
 */
export function addToBatch(
  batch: ContributionBatch,
  event: RiskEvent,
  config: RiskEngineConfig,
): void {
  if (event.outcome !== 'deny') return;
  const t = config.environments[event.environment];
  if (isIgnoredFailure(event, t)) return;
  const burst = t.failureBurst;
  const prefix: SignalSubject = { type: 'ip_prefix', id: event.ipPrefix };
  // In the engine's order: the prefix's burst and spray, then the key's burst.
  if (burst.mode !== 'off') count(batch, event, t, prefix, burst.perPrefix);
  if (t.keySpray.mode !== 'off' && event.keyId !== undefined) {
    const c = contribution(batch, 'key_spray', event, t, prefix, t.keySpray.distinctKeys);
    const member = sprayMember(event.keyId);
    c.members.set(member, Math.max(c.members.get(member) ?? -Infinity, event.nowMs));
  }
  if (burst.mode !== 'off' && event.keyId !== undefined && event.reason !== 'KEY_UNKNOWN') {
    count(batch, event, t, { type: 'key', id: event.keyId }, burst.perKey);
  }
}

/**
 * Adds one decision to the batch's request rates where the engine counts it (observeRate): every
 * request of a known key towards the key, every request with an account towards the account,
 * whatever its outcome. Nothing when rate_spike is off.
 */
export function addRateToBatch(
  batch: ContributionBatch,
  event: RiskEvent,
  config: RiskEngineConfig,
): void {
  const t = config.environments[event.environment];
  if (t.rateSpike.mode === 'off') return;
  if (event.keyId !== undefined && event.reason !== 'KEY_UNKNOWN') {
    countRate(batch, event, t, { type: 'key', id: event.keyId });
  }
  if (event.accountId !== undefined) {
    countRate(batch, event, t, { type: 'account', id: event.accountId });
  }
}

function countRate(
  batch: ContributionBatch,
  event: RiskEvent,
  t: RiskThresholds,
  subject: SignalSubject,
): void {
  const c = contribution(batch, 'rate_spike', event, t, subject, t.rateSpike.zThreshold);
  const interval = Math.floor(event.nowMs / c.slotMs);
  c.counts.set(interval, (c.counts.get(interval) ?? 0) + 1);
}

function count(
  batch: ContributionBatch,
  event: RiskEvent,
  t: RiskThresholds,
  subject: SignalSubject,
  threshold: number,
): void {
  const c = contribution(batch, 'failure_burst', event, t, subject, threshold);
  const slot = Math.floor(event.nowMs / c.slotMs);
  c.counts.set(slot, (c.counts.get(slot) ?? 0) + 1);
}

function contribution(
  batch: ContributionBatch,
  kind: SharedSignalKind,
  event: RiskEvent,
  t: RiskThresholds,
  subject: SignalSubject,
  threshold: number,
): WindowContribution {
  const id = `${kind}:${event.environment}:${subject.type}:${subject.id}`;
  let c = batch.byId.get(id);
  if (c === undefined) {
    const common = {
      kind,
      environment: event.environment,
      subject,
      id,
      threshold,
      maxTracked: Math.max(64, t.keySpray.distinctKeys * 4),
      counts: new Map<number, number>(),
      members: new Map<string, number>(),
      last: event,
    };
    if (kind === 'rate_spike') {
      const r = t.rateSpike;
      c = {
        ...common,
        windowMs: RATE_STATE_TTL_MS,
        slotMs: r.intervalMs,
        cooldownMs: r.cooldownMs,
        rate: {
          intervalMs: r.intervalMs,
          lambda: r.lambda,
          warmupIntervals: r.warmupIntervals,
          minRequestsPerInterval: r.minRequestsPerInterval,
        },
      };
    } else {
      const rule = kind === 'failure_burst' ? t.failureBurst : t.keySpray;
      c = {
        ...common,
        windowMs: rule.windowMs,
        slotMs: Math.max(1, Math.ceil(rule.windowMs / FAILURE_WINDOW_SLOTS)),
        cooldownMs: rule.cooldownMs,
      };
    }
    batch.byId.set(id, c);
  }
  if (event.nowMs >= c.last.nowMs) c.last = event;
  return c;
}

/**
 * Key ids are what clients sent, unknown ones included; a guess longer than any issued id is
 * stored by its SHA-256: a window never holds attacker-sized strings, and distinct guesses stay
 * distinct (a weak hash would let crafted guesses collide and count as one).
 */
function sprayMember(keyId: string): string {
  if (keyId.length <= MAX_SPRAY_MEMBER_CHARS) return keyId;
  return `#${keyId.length}:${hash('sha256', keyId, 'base64url')}`;
}

/**
 * Adds a rate_spike contribution's counts to a subject's rate state, interval by interval in
 * ascending order, as the engine's observeRate would one request at a time (an interval older
 * than the state's current one counts towards the current one, as a late event does in the
 * engine). At each interval whose score exceeds `zThreshold`, `claim` is asked for the cooldown
 * until one claim succeeds. The store adapters run exactly this (the Redis one in Lua).
 */
export function addRateCounts(
  state: RateState,
  counts: ReadonlyMap<number, number>,
  rule: RateRule,
  zThreshold: number,
  claim: () => boolean,
): WindowAnswer {
  let observed = 0;
  let raise = false;
  for (const interval of [...counts.keys()].sort((a, b) => a - b)) {
    rollInterval(state, interval, rule.lambda);
    state.count += counts.get(interval) ?? 0;
    const z = rateScore(state, rule);
    if (!raise && z !== undefined && z > zThreshold && claim()) {
      observed = z;
      raise = true;
    }
  }
  return { observed, raise };
}

/** The signals of a batch whose store answered: one per subject that this node may raise. */
export function sharedSignals(
  contributions: readonly WindowContribution[],
  answers: readonly WindowAnswer[],
  config: RiskEngineConfig,
): Signal[] {
  const signals: Signal[] = [];
  for (let i = 0; i < contributions.length; i++) {
    const c = contributions[i];
    const answer = answers[i];
    if (c === undefined || answer === undefined || !answer.raise) continue;
    const rule = signalRule(config.environments[c.environment], c.kind);
    signals.push(
      toSignal(
        c.last,
        c.kind,
        c.subject,
        { observed: answer.observed, threshold: c.threshold },
        rule.mode === 'shadow',
      ),
    );
  }
  return signals;
}

/**
 * The engine's configuration without the two shared failure signals (the cluster decides them).
 * rate_spike stays on: the node's own rate signals are what the monitor falls back on.
 */
export function withoutSharedSignals(config: RiskEngineConfig): RiskEngineConfig {
  return mapThresholds(config, (t) => ({
    ...t,
    failureBurst: { ...t.failureBurst, mode: 'off' },
    keySpray: { ...t.keySpray, mode: 'off' },
  }));
}

/** Only the two shared signals: the node's own windows, used when the shared store fails. */
export function onlySharedSignals(config: RiskEngineConfig): RiskEngineConfig {
  return mapThresholds(config, (t) => ({
    ...t,
    newIpPrefix: { ...t.newIpPrefix, mode: 'off' },
    rateSpike: { ...t.rateSpike, mode: 'off' },
    firstSensitiveAction: { ...t.firstSensitiveAction, mode: 'off' },
    unusualHour: { ...t.unusualHour, mode: 'off' },
  }));
}

/** `config` with every environment's thresholds passed through `f`. */
export function mapThresholds(
  config: RiskEngineConfig,
  f: (t: RiskThresholds) => RiskThresholds,
): RiskEngineConfig {
  const environments = { ...config.environments };
  for (const name of Object.keys(environments) as Environment[]) {
    environments[name] = f(environments[name]);
  }
  return { ...config, environments };
}
