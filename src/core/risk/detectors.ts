/**
 * The per-subject detectors. Each reads one event into a small, fixed-size state and answers
 * the measurement that crossed its threshold (or undefined). Deterministic: time comes only
 * from the event.
 */
import type { RiskThresholds } from './risk-config.js';
import { addToWindow, createWindowCounter, type WindowCounter } from './window-counter.js';

const HOUR_MS = 3_600_000;
/** After this many active hours every hour-of-day count is halved, so old habits fade. */
const HOUR_HISTORY_HALVING = 24 * 90;

export interface Measurement {
  readonly observed: number;
  readonly threshold: number;
}

/** Request-rate baseline over active intervals: EWMA mean and variance (NIST §6.3.2.4). */
export interface RateState {
  interval: number;
  count: number;
  mean: number;
  variance: number;
  intervals: number;
}

export function createRateState(): RateState {
  return { interval: -Infinity, count: 0, mean: 0, variance: 0, intervals: 0 };
}

/**
 * Counts the event into its interval and scores the interval so far against the baseline of
 * past active intervals. Idle intervals are skipped rather than counted as zero: a bot that
 * sleeps at night would otherwise look anomalous every morning.
 */
export function observeRate(
  state: RateState,
  nowMs: number,
  t: RiskThresholds['rateSpike'],
): Measurement | undefined {
  rollInterval(state, Math.floor(nowMs / t.intervalMs), t.lambda);
  state.count += 1;
  const z = rateScore(state, t);
  return z !== undefined && z > t.zThreshold ? { observed: z, threshold: t.zThreshold } : undefined;
}

/**
 * Moves the state to `interval` when it is newer: the interval counted so far, if it held any
 * request, is folded into the baseline. (Shared with the cluster's rate state, shared-windows.ts.)
 */
export function rollInterval(state: RateState, interval: number, lambda: number): void {
  if (interval <= state.interval) return;
  if (state.count > 0) closeInterval(state, lambda);
  state.interval = interval;
  state.count = 0;
}

/**
 * The current interval's z-score against the baseline, or undefined before the warm-up or
 * under the request floor.
 */
export function rateScore(
  state: RateState,
  t: Pick<RiskThresholds['rateSpike'], 'warmupIntervals' | 'minRequestsPerInterval'>,
): number | undefined {
  if (state.intervals < t.warmupIntervals || state.count < t.minRequestsPerInterval) return;
  // Floor the deviation: a perfectly regular bot has zero variance, and counts are at least
  // Poisson-noisy (sd ≈ √mean).
  const sd = Math.max(Math.sqrt(state.variance), Math.sqrt(state.mean), 1);
  return (state.count - state.mean) / sd;
}

function closeInterval(state: RateState, lambda: number): void {
  if (state.intervals === 0) {
    state.mean = state.count;
    state.variance = 0;
  } else {
    // v_t = (1−λ)(v_{t−1} + λ(x_t − m_{t−1})²), m_t = m_{t−1} + λ(x_t − m_{t−1})
    const d = state.count - state.mean;
    state.variance = (1 - lambda) * (state.variance + lambda * d * d);
    state.mean += lambda * d;
  }
  state.intervals += 1;
}

/** Prefix → last seen (ms); insertion order is recency, so the first entry is the stalest. */
export type PrefixMemory = Map<string, number>;

/** A prefix not remembered (or forgotten through decay) while others are: a new place. */
export function observePrefix(
  memory: PrefixMemory,
  prefix: string,
  nowMs: number,
  t: RiskThresholds['newIpPrefix'],
): Measurement | undefined {
  const lastSeen = memory.get(prefix);
  const known = lastSeen !== undefined && nowMs - lastSeen <= t.forgetAfterMs;
  let measured: Measurement | undefined;
  if (!known) {
    for (const [p, seen] of memory) if (nowMs - seen > t.forgetAfterMs) memory.delete(p);
    // The first prefix a key is ever used from is learned silently: nothing to compare with.
    if (memory.size > 0) measured = { observed: memory.size, threshold: 0 };
  }
  memory.delete(prefix);
  memory.set(prefix, nowMs);
  while (memory.size > Math.max(1, t.maxPrefixesPerKey)) {
    const stalest = memory.keys().next();
    if (stalest.done) break;
    memory.delete(stalest.value);
  }
  return measured;
}

/** Hour-of-day histogram of active clock hours (UTC). */
export interface HourState {
  readonly hours: Float64Array;
  activeHours: number;
  lastHourSlot: number;
}

export function createHourState(): HourState {
  return { hours: new Float64Array(24), activeHours: 0, lastHourSlot: -Infinity };
}

/**
 * Scores the first use in each clock hour: unusual when, with enough history, that hour of day
 * holds less than `minShare` of the key's active hours. Counting active hours (not requests)
 * keeps one busy hour from defining the key's habits.
 */
export function observeHour(
  state: HourState,
  nowMs: number,
  t: RiskThresholds['unusualHour'],
): Measurement | undefined {
  const slot = Math.floor(nowMs / HOUR_MS);
  if (slot <= state.lastHourSlot) return;
  state.lastHourSlot = slot;
  const hour = slot % 24;
  const seen = state.hours[hour] ?? 0;
  const share = state.activeHours > 0 ? seen / state.activeHours : 0;
  const unusual = state.activeHours >= t.minActiveHours && share < t.minShare;
  state.hours[hour] = seen + 1;
  state.activeHours += 1;
  if (state.activeHours > HOUR_HISTORY_HALVING) {
    for (let h = 0; h < 24; h++) state.hours[h] = (state.hours[h] ?? 0) / 2;
    state.activeHours /= 2;
  }
  return unusual ? { observed: share, threshold: t.minShare } : undefined;
}

/** Counts a failure into the window; a measurement once the count reaches `limit`. */
export function observeFailure(
  window: WindowCounter,
  nowMs: number,
  limit: number,
): Measurement | undefined {
  const count = addToWindow(window, nowMs);
  return count >= limit ? { observed: count, threshold: limit } : undefined;
}

export { createWindowCounter };

/** Failing key id → last failure (ms), oldest first; bounded by `maxTrackedKeys`. */
export type FailingKeys = Map<string, number>;

/** Distinct key ids failing from one prefix inside the window (credential stuffing, spraying). */
export function observeFailingKey(
  failing: FailingKeys,
  keyId: string,
  nowMs: number,
  t: RiskThresholds['keySpray'],
): Measurement | undefined {
  failing.delete(keyId);
  failing.set(keyId, nowMs);
  const maxTrackedKeys = Math.max(64, t.distinctKeys * 4);
  for (const [id, at] of failing) {
    if (nowMs - at <= t.windowMs && failing.size <= maxTrackedKeys) break;
    failing.delete(id);
  }
  return failing.size >= t.distinctKeys
    ? { observed: failing.size, threshold: t.distinctKeys }
    : undefined;
}
