import type { Logger } from 'pino';
import type { EnvironmentConfig } from '../config/config.js';
import type { Clock } from '../core/clock.js';
import { createUpstream, type Upstream } from '../server/data-plane/upstream.js';
import { createUpstreamPool } from '../server/data-plane/upstream-pool.js';

/**
 * One environment's upstream: a single origin (`upstream: <url>` or the built-in sandbox at
 * `origin`), or a pool of targets with health checks, ejection and failover (docs/deployment.md).
 */
export function createEnvironmentUpstream(
  env: EnvironmentConfig,
  origin: string,
  deps: { readonly clock: Clock; readonly logger: Logger },
): Upstream {
  const pool = env.upstreamPool;
  if (pool === null) return createUpstream(origin, { timeoutMs: env.upstreamTimeoutMs });
  const log = deps.logger.child({ environment: env.name });
  return createUpstreamPool({
    targets: pool.targets,
    timeoutMs: env.upstreamTimeoutMs,
    ejection: pool.ejection,
    healthCheck: pool.healthCheck,
    clock: deps.clock,
    onTransition: (status) => {
      const fields = {
        target: status.url,
        role: status.role,
        healthy: status.healthy,
        ejectedUntilMs: status.ejectedUntilMs,
      };
      if (status.available) log.info(fields, 'upstream target available');
      else log.warn(fields, 'upstream target unavailable');
    },
  });
}
