/**
 * A counter incremented on the hot path as a plain number and handed to prom-client at scrape
 * time (`collect` adds the delta with the public `inc(labels, n)`), so a request pays a Map
 * lookup and an addition instead of prom-client's per-call label validation and hashing.
 */
import { Counter, type Registry } from 'prom-client';

export interface CounterChild {
  inc(n?: number): void;
}

/** Registers `name` on `registry`; returns a factory of children for the series cache. */
export function createLocalCounter(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly string[],
): (values: readonly string[]) => CounterChild {
  const pending: { labels: Record<string, string>; delta: number }[] = [];
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      for (const p of pending) {
        if (p.delta === 0) continue;
        this.inc(p.labels, p.delta);
        p.delta = 0;
      }
    },
  });
  return (values) => {
    const labels: Record<string, string> = {};
    labelNames.forEach((label, i) => (labels[label] = values[i] ?? ''));
    const slot = { labels, delta: 0 };
    pending.push(slot);
    return {
      inc(n = 1) {
        slot.delta += n;
      },
    };
  };
}
