/**
 * Reports this node's 429s per IP prefix to the cluster's shared refusal windows
 * (core/limits/bans.ts addRefusals), so that a client spreading its requests over N nodes is
 * banned after as many refusals as on one node, not up to N times as many (each node counting
 * alone saw a share below the threshold and banned nothing).
 *
 * Off the request path: a refusal only adds one to its prefix's count here; the counts are sent
 * REFUSAL_REPORT_MS after the first one waiting, in one call per environment. An offence the
 * cluster decides is banned on this node (`onOffence`: announce and audit it) unless the prefix
 * is banned already. The node's own count goes on meanwhile, so a flood on one node is still
 * banned at its threshold refusal, as before; it is also all there is while the shared store
 * fails: a failed report is dropped (those refusals were counted here) and the store is not
 * asked again for REFUSAL_PAUSE_MS.
 */
import type { Clock } from '../core/clock.js';
import type { Environment } from '../core/keys/model.js';
import type { BanPolicy, SharedRefusals } from '../core/limits/bans.js';
import { systemTimers, type Timers } from './traffic-log.js';

/** How long refusals wait before they are sent: a ban decided this much later at most. */
export const REFUSAL_REPORT_MS = 100;
/** After a failed report, the shared store is left alone this long. */
export const REFUSAL_PAUSE_MS = 5_000;
/**
 * Prefixes waiting at most per environment (an attack from very many prefixes): refusals of a
 * prefix beyond it are counted on this node only until the next report.
 */
export const MAX_WAITING_PREFIXES = 10_000;

export type RefusalPolicy = Pick<BanPolicy, 'refusalThreshold' | 'refusalWindowMs'>;

export interface RefusalReporter {
  /** One 429 answered to `prefix` in `environment` (counted under `policy`). */
  note(environment: Environment, prefix: string, policy: RefusalPolicy): void;
  /** Sends what waits now; resolves once the offences it decided are handed to `onOffence`. */
  flush(): Promise<void>;
  /** Sends what waits and stops the timer. */
  close(): Promise<void>;
  stats(): { reported: number; dropped: number; offences: number };
}

export function createRefusalReporter(deps: {
  readonly shared: SharedRefusals;
  readonly clock: Clock;
  readonly timers?: Timers;
  readonly onOffence: (environment: Environment, prefix: string, nowMs: number) => void;
  readonly onError: (error: unknown) => void;
}): RefusalReporter {
  const timers = deps.timers ?? systemTimers;
  const waiting = new Map<Environment, { policy: RefusalPolicy; counts: Map<string, number> }>();
  let timer: unknown;
  let pausedUntil = -Infinity;
  let chain: Promise<void> = Promise.resolve();
  let reported = 0;
  let dropped = 0;
  let offences = 0;

  async function send(): Promise<void> {
    const batches = [...waiting];
    waiting.clear();
    for (const [environment, { policy, counts }] of batches) {
      const nowMs = deps.clock.now();
      if (nowMs < pausedUntil) {
        dropped += counts.size;
        continue;
      }
      let decided: string[];
      try {
        decided = await deps.shared.add(environment, counts, nowMs, policy);
      } catch (error) {
        pausedUntil = nowMs + REFUSAL_PAUSE_MS;
        dropped += counts.size;
        deps.onError(error);
        continue;
      }
      reported += counts.size;
      for (const prefix of decided) {
        offences += 1;
        deps.onOffence(environment, prefix, deps.clock.now());
      }
    }
  }

  function flush(): Promise<void> {
    if (timer !== undefined) {
      timers.clearTimeout(timer);
      timer = undefined;
    }
    // One report after another: a window never sees a later count before an earlier one.
    chain = chain.then(send);
    return chain;
  }

  return {
    note(environment, prefix, policy) {
      let batch = waiting.get(environment);
      if (batch === undefined) {
        batch = { policy, counts: new Map() };
        waiting.set(environment, batch);
      }
      const count = batch.counts.get(prefix);
      if (count !== undefined) batch.counts.set(prefix, count + 1);
      else if (batch.counts.size < MAX_WAITING_PREFIXES) batch.counts.set(prefix, 1);
      else dropped += 1;
      timer ??= timers.setTimeout(() => {
        timer = undefined;
        void flush();
      }, REFUSAL_REPORT_MS);
    },
    flush,
    close: flush,
    stats: () => ({ reported, dropped, offences }),
  };
}
