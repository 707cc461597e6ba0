/**
 * Readiness for load balancers (`GET /readyz`, docs/deployment.md §5): whether this node can
 * serve the data plane correctly right now, as opposed to `/health` (the process runs).
 *
 * Not ready when the control store does not answer a one-row read within `probeTimeoutMs`, or,
 * in cluster mode, when the change-event subscription is down or the key cache is no longer
 * trusted (every lookup then needs the store; src/app/cluster-sync.ts).
 */
import type { Clock } from '../core/clock.js';
import type { ControlStore } from '../ports.js';
import type { ClusterSyncStats } from './cluster-sync.js';

/** Why a node is not ready; stable codes a load balancer or an operator can match on. */
export type NotReadyReason = 'STORE_UNAVAILABLE' | 'CHANGE_EVENTS_DOWN' | 'KEY_CACHE_UNTRUSTED';

export type ReadinessState =
  { readonly ready: true } | { readonly ready: false; readonly reasons: readonly NotReadyReason[] };

export interface ReadinessDeps {
  readonly store: Pick<ControlStore, 'getMeta'>;
  /** The cluster sync's state; undefined on a single node (no events to lose). */
  readonly cluster: () => ClusterSyncStats | undefined;
  readonly clock: Clock;
}

export interface ReadinessOptions {
  /** Longest wait for the store's answer before the probe says STORE_UNAVAILABLE. */
  readonly probeTimeoutMs: number;
}

/** A meta row name; whether or not it exists, reading it is one indexed lookup in every store. */
const PROBE_META = 'readiness-probe';

/** Creates the readiness check; concurrent probes share one store read. */
export function createReadiness(
  deps: ReadinessDeps,
  options: ReadinessOptions,
): { check(): Promise<ReadinessState> } {
  let inflight: { readonly answered: Promise<boolean>; readonly startedAt: number } | undefined;

  function storeAnswers(): Promise<boolean> {
    // Probes share a read younger than the timeout, so a stuck store (a silent partition) gets
    // at most one probe read per timeout; an older stuck read is not waited on again, so the
    // first probe after the store is back is answered by a fresh read.
    const now = deps.clock.now();
    if (inflight === undefined || now - inflight.startedAt >= options.probeTimeoutMs) {
      const current = {
        startedAt: now,
        answered: Promise.resolve()
          .then(() => deps.store.getMeta(PROBE_META))
          .then(
            () => true,
            () => false,
          )
          .finally(() => {
            if (inflight === current) inflight = undefined;
          }),
      };
      inflight = current;
    }
    const { answered } = inflight;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), options.probeTimeoutMs);
    });
    return Promise.race([answered, timeout]).finally(() => clearTimeout(timer));
  }

  return {
    async check() {
      const reasons: NotReadyReason[] = [];
      const sync = deps.cluster();
      if (sync !== undefined && !sync.eventsLive) reasons.push('CHANGE_EVENTS_DOWN');
      else if (sync !== undefined && !sync.trusted) reasons.push('KEY_CACHE_UNTRUSTED');
      if (!(await storeAnswers())) reasons.push('STORE_UNAVAILABLE');
      return reasons.length === 0 ? { ready: true } : { ready: false, reasons };
    },
  };
}
