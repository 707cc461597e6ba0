/**
 * An upstream made of several targets (primaries and backups), each behind its own keep-alive
 * undici pool: active health checks, passive ejection and failover. The decisions — which
 * target next, when to eject, whether a request may go to a second target — are in
 * core/upstream; this module only does the I/O.
 */
import { Pool } from 'undici';
import type { Clock } from '../../core/clock.js';
import { mayTryNextTarget, type AttemptFailure } from '../../core/upstream/retry-safety.js';
import {
  createTargetPool,
  type EjectionPolicy,
  type HealthThresholds,
  type TargetSpec,
  type TargetStatus,
} from '../../core/upstream/target-pool.js';
import {
  attemptFailureOf,
  type Upstream,
  type UpstreamFailureReason,
  type UpstreamResult,
} from './upstream.js';

export interface HealthCheckSettings extends HealthThresholds {
  /** Path (and query) of a GET answered 2xx/3xx by a healthy target. */
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

export interface UpstreamPoolOptions {
  readonly targets: readonly TargetSpec[];
  /** Headers and body timeout of one attempt. */
  readonly timeoutMs: number;
  readonly ejection: EjectionPolicy;
  /** Active checks; none when null (passive ejection only). */
  readonly healthCheck: HealthCheckSettings | null;
  readonly clock: Clock;
  readonly connections?: number;
  /** Called when a target becomes available or unavailable (for the log). */
  readonly onTransition?: (status: TargetStatus) => void;
}

export interface UpstreamPool extends Upstream {
  /** Every target's state, for metrics and the operator. */
  status(): readonly TargetStatus[];
}

function failureReason(failure: AttemptFailure, retrySafe: boolean): UpstreamFailureReason {
  switch (failure) {
    case 'not_sent':
    case 'server_error':
      return 'UPSTREAM_UNAVAILABLE';
    case 'timeout':
      return 'UPSTREAM_TIMEOUT';
    case 'maybe_sent':
      return retrySafe ? 'UPSTREAM_UNAVAILABLE' : 'UPSTREAM_NOT_RETRIED';
  }
}

/** Creates the pool and starts its health checks (if any); `close()` stops everything. */
export function createUpstreamPool(options: UpstreamPoolOptions): UpstreamPool {
  const { targets, timeoutMs } = options;
  const selection = createTargetPool(targets, {
    clock: options.clock,
    ejection: options.ejection,
    ...(options.healthCheck !== null ? { health: options.healthCheck } : {}),
  });
  const clients = targets.map(
    (target) =>
      new Pool(target.url, {
        connections: options.connections ?? 128,
        pipelining: 1,
        keepAliveTimeout: 30_000,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        connectTimeout: Math.min(timeoutMs, 5_000),
      }),
  );
  const clientOf = (index: number): Pool => {
    const client = clients[index];
    if (client === undefined) throw new RangeError(`no upstream target ${index}`);
    return client;
  };

  /** Runs a state change and reports the target if its availability flipped. */
  const track = (index: number, change: () => void): void => {
    const before = selection.isAvailable(index);
    change();
    if (selection.isAvailable(index) !== before && options.onTransition !== undefined) {
      const status = selection.status()[index];
      if (status !== undefined) options.onTransition(status);
    }
  };

  let closed = false;
  const timers = new Set<NodeJS.Timeout>();
  const health = options.healthCheck;
  if (health !== null) {
    const check = async (index: number): Promise<void> => {
      let passed = false;
      try {
        const response = await clientOf(index).request({
          method: 'GET',
          path: health.path,
          headersTimeout: health.timeoutMs,
          bodyTimeout: health.timeoutMs,
          signal: AbortSignal.timeout(health.timeoutMs),
        });
        await response.body.dump();
        passed = response.statusCode >= 200 && response.statusCode < 400;
      } catch {
        passed = false;
      }
      if (!closed) track(index, () => selection.recordHealthCheck(index, passed));
    };
    // One chain per target: the next check is scheduled when the previous one is done.
    const schedule = (index: number): void => {
      if (closed) return;
      const timer = setTimeout(() => {
        timers.delete(timer);
        void check(index).finally(() => schedule(index));
      }, health.intervalMs);
      timer.unref();
      timers.add(timer);
    };
    targets.forEach((_target, index) => schedule(index));
  }

  const forward: Upstream['forward'] = async (request) => {
    const order = selection.candidates();
    let safe: boolean | undefined;
    const retrySafe = (): boolean => (safe ??= request.retrySafe?.() === true);
    for (let i = 0; i < order.length; i += 1) {
      const index = order[i] as number;
      const last = i === order.length - 1;
      let result: UpstreamResult;
      try {
        const response = await clientOf(index).request({
          method: request.method,
          path: request.path,
          headers: request.headers,
          body: request.body,
        });
        if (response.statusCode >= 500) {
          track(index, () => selection.recordFailure(index));
          if (!last && mayTryNextTarget('server_error', retrySafe())) {
            response.body.dump().catch(() => undefined);
            continue;
          }
        } else {
          track(index, () => selection.recordSuccess(index));
        }
        result = {
          ok: true,
          status: response.statusCode,
          headers: response.headers,
          body: response.body,
        };
      } catch (error) {
        const failure = attemptFailureOf(error);
        track(index, () => selection.recordFailure(index));
        if (!last && mayTryNextTarget(failure, retrySafe())) continue;
        result = { ok: false, reason: failureReason(failure, retrySafe()) };
      }
      return result;
    }
    return { ok: false, reason: 'UPSTREAM_NO_HEALTHY_TARGET' };
  };

  return {
    origin: targets.map((t) => `${t.url} (${t.role})`).join(', '),
    forward,
    status: () => selection.status(),
    targets: () => selection.status(),
    async close() {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.all(clients.map((client) => client.close()));
    },
  };
}
