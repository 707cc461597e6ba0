/**
 * Target selection for one environment's upstream pool: which targets may take a request now,
 * in which order. Two independent signals take a target out of rotation:
 * - passive ejection: `consecutiveFailures` failed requests in a row (connection errors,
 *   timeouts, 5xx) eject it for `cooldownMs`; after the cooldown it is tried again and one more
 *   failure ejects it again at once, one success restores it fully;
 * - active health checks: `unhealthyThreshold` failed checks in a row mark it down,
 *   `healthyThreshold` passed checks in a row mark it up again.
 * Primaries are used first (round-robin); backups only while no primary is available. No I/O
 * and no clock of its own: time comes from the injected clock.
 */
import type { Clock } from '../clock.js';

export type TargetRole = 'primary' | 'backup';

export interface TargetSpec {
  /** Base URL (`http(s)://host:port`), also the target's name in logs and metrics. */
  readonly url: string;
  readonly role: TargetRole;
}

export interface EjectionPolicy {
  /** Failed requests in a row that eject a target (at least 1). */
  readonly consecutiveFailures: number;
  readonly cooldownMs: number;
}

export interface HealthThresholds {
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
}

/** A target's state as operators see it (metrics, logs). */
export interface TargetStatus {
  readonly url: string;
  readonly role: TargetRole;
  /** Usable now: not ejected and not marked down by health checks. */
  readonly available: boolean;
  readonly healthy: boolean;
  readonly ejectedUntilMs: number | null;
  readonly consecutiveFailures: number;
}

export interface TargetPool {
  /** Indexes of the targets to try, in order; empty when none is available. */
  candidates(): readonly number[];
  /** Whether the target may take a request now. */
  isAvailable(index: number): boolean;
  recordSuccess(index: number): void;
  recordFailure(index: number): void;
  recordHealthCheck(index: number, passed: boolean): void;
  status(): readonly TargetStatus[];
}

interface TargetState {
  consecutiveFailures: number;
  ejectedUntilMs: number | null;
  healthy: boolean;
  checkStreak: number;
}

export const DEFAULT_HEALTH_THRESHOLDS: HealthThresholds = Object.freeze({
  unhealthyThreshold: 2,
  healthyThreshold: 1,
});

/** Creates the selection state of one pool; targets start healthy and not ejected. */
export function createTargetPool(
  targets: readonly TargetSpec[],
  options: {
    readonly clock: Clock;
    readonly ejection: EjectionPolicy;
    readonly health?: HealthThresholds;
  },
): TargetPool {
  const { clock, ejection } = options;
  const health = options.health ?? DEFAULT_HEALTH_THRESHOLDS;
  const states: TargetState[] = targets.map(() => ({
    consecutiveFailures: 0,
    ejectedUntilMs: null,
    healthy: true,
    checkStreak: 0,
  }));
  const tiers: Record<TargetRole, number[]> = { primary: [], backup: [] };
  targets.forEach((target, index) => tiers[target.role].push(index));
  const cursor: Record<TargetRole, number> = { primary: 0, backup: 0 };

  const stateOf = (index: number): TargetState => {
    const state = states[index];
    if (state === undefined) throw new RangeError(`no upstream target ${index}`);
    return state;
  };
  const available = (state: TargetState, nowMs: number): boolean =>
    state.healthy && (state.ejectedUntilMs === null || state.ejectedUntilMs <= nowMs);

  /** The tier's available targets, starting at its round-robin cursor. */
  const rotate = (role: TargetRole, nowMs: number): number[] => {
    const tier = tiers[role];
    const start = cursor[role] % Math.max(1, tier.length);
    const ordered = [...tier.slice(start), ...tier.slice(0, start)];
    const usable = ordered.filter((index) => available(stateOf(index), nowMs));
    if (usable.length > 0) cursor[role] = (start + 1) % tier.length;
    return usable;
  };

  return {
    candidates() {
      const nowMs = clock.now();
      return [...rotate('primary', nowMs), ...rotate('backup', nowMs)];
    },
    isAvailable: (index) => available(stateOf(index), clock.now()),
    recordSuccess(index) {
      const state = stateOf(index);
      state.consecutiveFailures = 0;
      state.ejectedUntilMs = null;
    },
    recordFailure(index) {
      const state = stateOf(index);
      state.consecutiveFailures += 1;
      if (state.consecutiveFailures >= ejection.consecutiveFailures) {
        state.ejectedUntilMs = clock.now() + ejection.cooldownMs;
      }
    },
    recordHealthCheck(index, passed) {
      const state = stateOf(index);
      // A streak counts checks agreeing with each other: + for passes, - for failures.
      state.checkStreak = passed
        ? Math.max(1, state.checkStreak + 1)
        : Math.min(-1, state.checkStreak - 1);
      if (passed && state.checkStreak >= health.healthyThreshold) state.healthy = true;
      if (!passed && -state.checkStreak >= health.unhealthyThreshold) state.healthy = false;
    },
    status() {
      const nowMs = clock.now();
      return targets.map((target, index) => {
        const state = stateOf(index);
        return {
          url: target.url,
          role: target.role,
          available: available(state, nowMs),
          healthy: state.healthy,
          ejectedUntilMs:
            state.ejectedUntilMs !== null && state.ejectedUntilMs > nowMs
              ? state.ejectedUntilMs
              : null,
          consecutiveFailures: state.consecutiveFailures,
        };
      });
    },
  };
}
