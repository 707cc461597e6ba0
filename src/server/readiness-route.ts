import type { FastifyInstance } from 'fastify';
import type { ReadinessState } from '../app/readiness.js';

/**
 * `GET /readyz` for load balancers (no token, like `/health`): 200 `{"status":"ready"}`, or 503
 * `{"status":"not-ready","reasons":[…]}` with stable codes (docs/deployment.md §5). Served on
 * the admin listener and on every data-plane listener (answered by the gateway itself, never
 * forwarded), so a load balancer can probe the very port it sends traffic to.
 */
export function registerReadinessRoute(
  app: FastifyInstance,
  readiness: { check(): Promise<ReadinessState> },
): void {
  app.get('/readyz', async (_request, reply) => {
    const state = await readiness.check();
    void reply.header('cache-control', 'no-store');
    if (state.ready) return { status: 'ready' };
    return reply.code(503).send({ status: 'not-ready', reasons: state.reasons });
  });
}
