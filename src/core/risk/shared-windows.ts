/**
 * Cluster-wide failure windows. A node's engine counts only what that node sees, so a burst of
 * failed signatures, or a spray of key ids, that a load balancer spreads over N nodes needs N
 * times the evidence before any node raises it. In cluster mode the monitor therefore decides
 * `failure_burst` and `key_spray` on windows every node adds to (the cluster's Redis; see
 * docs/observability.md): this module turns a batch of decisions into each subject's
 * contribution, and the store's answers (the cluster-wide measure after adding, and whether this
 * node won the cooldown) into signals. The rules are the engine's own (risk-engine.ts): the same
 * events count, the windows have the same slots, a failing key stays counted as long.
 */
import { hash } from 'node:crypto';
import type { Environment } from '../keys/model.js';
import type { RiskEngineConfig, RiskThresholds, SignalKind } from './risk-config.js';
import { isIgnoredFailure, toSignal } from './risk-engine.js';
import type { RiskEvent, Signal, SignalSubject } from './signal.js';

/** Buckets of a failure window, as the engine's WindowCounter (createWindowCounter's default). */
export const FAILURE_WINDOW_SLOTS = 12;
/** Longest key id a spray window stores; longer guesses are stored by their SHA-256. */
export const MAX_SPRAY_MEMBER_CHARS = 128;

/** The two signals a cluster decides on shared windows. */
export type SharedSignalKind = Extract<SignalKind, 'failure_burst' | 'key_spray'>;

/** One subject's part of a batch, as the shared store adds it. */
export interface WindowContribution {
  readonly kind: SharedSignalKind;
  readonly environment: Environment;
  readonly subject: SignalSubject;
  /** `kind`, environment and subject: the store's name for this window and its cooldown. */
  readonly id: string;
  readonly windowMs: number;
  /** failure_burst: width of one bucket (`slots` cover the window). */
  readonly slotMs: number;
  readonly threshold: number;
  readonly cooldownMs: number;
  /** key_spray: distinct failing key ids remembered at most (oldest dropped first). */
  readonly maxTracked: number;
  /** failure_burst: denials per bucket number (floor(t / slotMs)). */
  readonly counts: Map<number, number>;
  /** key_spray: failing key id → its latest failure time. */
  readonly members: Map<string, number>;
  /** The subject's latest event in the batch: the store measures at its time, a signal names it. */
  last: RiskEvent;
}

/** What the store answers for one contribution. */
export interface WindowAnswer {
  /** The cluster-wide measure after adding: denials in the window, or distinct failing keys. */
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
    const rule = kind === 'failure_burst' ? t.failureBurst : t.keySpray;
    c = {
      kind,
      environment: event.environment,
      subject,
      id,
      windowMs: rule.windowMs,
      slotMs: Math.max(1, Math.ceil(rule.windowMs / FAILURE_WINDOW_SLOTS)),
      threshold,
      cooldownMs: rule.cooldownMs,
      maxTracked: Math.max(64, t.keySpray.distinctKeys * 4),
      counts: new Map(),
      members: new Map(),
      last: event,
    };
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
    const t = config.environments[c.environment];
    const rule = c.kind === 'failure_burst' ? t.failureBurst : t.keySpray;
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

/** The engine's configuration without the two shared signals (the cluster decides them). */
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
