/** Timers for the services' injectable `Timers`, that fire only when the test says so. */
import type { Timers } from '../../src/services/traffic-log.js';

export function manualTimers() {
  const intervals = new Map<number, { fn: () => void; ms: number }>();
  const timeouts = new Map<number, () => void>();
  let next = 1;
  const timers: Timers = {
    setInterval: (fn, ms) => (intervals.set(next, { fn, ms }), next++),
    clearInterval: (h) => intervals.delete(h as number),
    setTimeout: (fn) => (timeouts.set(next, fn), next++),
    clearTimeout: (h) => timeouts.delete(h as number),
  };
  return {
    timers,
    /** Fires every interval timer of period `ms`. */
    tick(ms: number) {
      for (const t of intervals.values()) if (t.ms === ms) t.fn();
    },
    runTimeouts() {
      const due = [...timeouts.values()];
      timeouts.clear();
      due.forEach((fn) => fn());
    },
    pendingTimeouts: () => timeouts.size,
    activeIntervals: () => intervals.size,
  };
}
