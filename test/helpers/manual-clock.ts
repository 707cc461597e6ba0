import type { Clock } from '../../src/core/clock.js';

/** A clock the test moves by hand: decisions that depend on time become deterministic. */
export interface ManualClock extends Clock {
  advance(ms: number): void;
  set(nowMs: number): void;
}

export function createManualClock(startMs = 1_767_225_600_000): ManualClock {
  let nowMs = startMs;
  return {
    now: () => nowMs,
    advance: (ms) => {
      nowMs += ms;
    },
    set: (value) => {
      nowMs = value;
    },
  };
}
