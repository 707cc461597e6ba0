/**
 * The upstream pool against real HTTP servers on loopback: failover on a refused connection,
 * retries only for retry-safe requests after a failure that may have reached the target, 5xx
 * handling, passive ejection, active health checks and the all-down answer.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { TargetStatus } from '../../../src/core/upstream/target-pool.js';
import {
  createUpstreamPool,
  type HealthCheckSettings,
  type UpstreamPool,
} from '../../../src/server/data-plane/upstream-pool.js';
import type { UpstreamRequest, UpstreamResult } from '../../../src/server/data-plane/upstream.js';
import { createMetrics } from '../../../src/services/metrics.js';
import { closedPort } from '../../e2e/data-plane/helpers.js';
import { createManualClock } from '../../helpers/manual-clock.js';

type Mode = 'ok' | 'reset' | 'error503' | 'health-fail';

interface Target {
  readonly url: string;
  /** Requests received, by path (health checks included under their path). */
  readonly received: string[];
  mode: Mode;
  close(): Promise<void>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function startTarget(name: string): Promise<Target> {
  const target = { received: [] as string[], mode: 'ok' as Mode };
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      target.received.push(`${req.method ?? ''} ${req.url ?? ''}`);
      if (req.url === '/health') {
        res.statusCode = target.mode === 'health-fail' ? 503 : 200;
        res.end();
        return;
      }
      if (target.mode === 'reset') {
        req.socket.destroy(); // received, then the connection is lost: the outcome is unknown
        return;
      }
      res.statusCode = target.mode === 'error503' ? 503 : 200;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ from: name }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const handle: Target = Object.assign(target, {
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  cleanups.push(() => handle.close());
  return handle;
}

function pool(
  targets: { url: string; role: 'primary' | 'backup' }[],
  options: {
    consecutiveFailures?: number;
    healthCheck?: HealthCheckSettings;
    onTransition?: (status: TargetStatus) => void;
  } = {},
): UpstreamPool {
  const p = createUpstreamPool({
    targets,
    timeoutMs: 2_000,
    ejection: { consecutiveFailures: options.consecutiveFailures ?? 100, cooldownMs: 60_000 },
    healthCheck: options.healthCheck ?? null,
    clock: createManualClock(),
    ...(options.onTransition !== undefined ? { onTransition: options.onTransition } : {}),
  });
  cleanups.push(() => p.close());
  return p;
}

/** As the data plane sends them: it marks GETs (core isRetrySafe) as safe to retry. */
const get: UpstreamRequest = {
  method: 'GET',
  path: '/api/v1/balances',
  headers: {},
  body: null,
  retrySafe: () => true,
};
const post = (retrySafe: boolean): UpstreamRequest => ({
  method: 'POST',
  path: '/api/v1/orders',
  headers: { 'content-type': 'application/json' },
  body: Buffer.from('{"symbol":"BTC/USDT"}'),
  retrySafe: () => retrySafe,
});

async function answer(result: UpstreamResult): Promise<{ status: number; from?: string } | string> {
  if (!result.ok) return result.reason;
  const chunks: Buffer[] = [];
  for await (const chunk of result.body) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const from = result.status === 200 ? (JSON.parse(text) as { from: string }).from : undefined;
  return from === undefined ? { status: result.status } : { status: result.status, from };
}

describe('failover', () => {
  it('a refused primary: even a write without a key goes to the backup (nothing was sent)', async () => {
    const backup = await startTarget('backup');
    const p = pool([
      { url: `http://127.0.0.1:${await closedPort()}`, role: 'primary' },
      { url: backup.url, role: 'backup' },
    ]);
    expect(await answer(await p.forward(post(false)))).toEqual({ status: 200, from: 'backup' });
    expect(backup.received).toEqual(['POST /api/v1/orders']);
  });

  it('a primary that drops the connection after receiving: a GET is retried on the backup', async () => {
    const primary = await startTarget('primary');
    const backup = await startTarget('backup');
    primary.mode = 'reset';
    const p = pool([
      { url: primary.url, role: 'primary' },
      { url: backup.url, role: 'backup' },
    ]);
    expect(await answer(await p.forward(get))).toEqual({ status: 200, from: 'backup' });
    expect(primary.received).toEqual(['GET /api/v1/balances']);
  });

  it('…a write with an idempotency key too', async () => {
    const primary = await startTarget('primary');
    const backup = await startTarget('backup');
    primary.mode = 'reset';
    const p = pool([
      { url: primary.url, role: 'primary' },
      { url: backup.url, role: 'backup' },
    ]);
    expect(await answer(await p.forward(post(true)))).toEqual({ status: 200, from: 'backup' });
    expect(backup.received).toEqual(['POST /api/v1/orders']);
  });

  it('…but a write without one fails with UPSTREAM_NOT_RETRIED and is never sent again', async () => {
    const primary = await startTarget('primary');
    const backup = await startTarget('backup');
    primary.mode = 'reset';
    const p = pool([
      { url: primary.url, role: 'primary' },
      { url: backup.url, role: 'backup' },
    ]);
    expect(await answer(await p.forward(post(false)))).toBe('UPSTREAM_NOT_RETRIED');
    expect(primary.received).toEqual(['POST /api/v1/orders']);
    expect(backup.received).toEqual([]);
  });

  it('a 5xx: a GET is retried on the backup, a write without a key gets the 5xx as is', async () => {
    const primary = await startTarget('primary');
    const backup = await startTarget('backup');
    primary.mode = 'error503';
    const p = pool([
      { url: primary.url, role: 'primary' },
      { url: backup.url, role: 'backup' },
    ]);
    expect(await answer(await p.forward(get))).toEqual({ status: 200, from: 'backup' });
    expect(await answer(await p.forward(post(false)))).toEqual({ status: 503 });
    expect(backup.received).toEqual(['GET /api/v1/balances']);
  });

  it('the last target failing gives its answer: a 5xx passes through', async () => {
    const primary = await startTarget('primary');
    primary.mode = 'error503';
    const p = pool([{ url: primary.url, role: 'primary' }]);
    expect(await answer(await p.forward(get))).toEqual({ status: 503 });
  });
});

describe('ejection and health', () => {
  it('after N consecutive failures the primary is ejected: requests go straight to the backup', async () => {
    const primary = await startTarget('primary');
    const backup = await startTarget('backup');
    primary.mode = 'error503';
    const transitions: TargetStatus[] = [];
    const p = pool(
      [
        { url: primary.url, role: 'primary' },
        { url: backup.url, role: 'backup' },
      ],
      { consecutiveFailures: 2, onTransition: (s) => transitions.push(s) },
    );
    for (let i = 0; i < 2; i += 1) await answer(await p.forward(get));
    expect(primary.received).toHaveLength(2);
    expect(transitions.map((t) => [t.url, t.available])).toEqual([[primary.url, false]]);
    expect(await answer(await p.forward(post(false)))).toEqual({ status: 200, from: 'backup' });
    expect(primary.received).toHaveLength(2);
    expect(p.status()[0]).toMatchObject({ available: false, healthy: true });
  });

  it('the target gauges show the ejected primary and the available backup', async () => {
    const primary = await startTarget('primary');
    const backup = await startTarget('backup');
    primary.mode = 'error503';
    const p = pool(
      [
        { url: primary.url, role: 'primary' },
        { url: backup.url, role: 'backup' },
      ],
      { consecutiveFailures: 1 },
    );
    const metrics = createMetrics();
    metrics.addUpstreamTargets('sandbox', { status: () => p.status() });
    await answer(await p.forward(get));
    const text = await metrics.render();
    const series = (name: string, url: string, role: string) =>
      `${name}{environment="sandbox",target="${url}",role="${role}"}`;
    expect(text).toContain(
      `${series('portcullis_upstream_target_available', primary.url, 'primary')} 0`,
    );
    expect(text).toContain(
      `${series('portcullis_upstream_target_available', backup.url, 'backup')} 1`,
    );
    expect(text).toContain(
      `${series('portcullis_upstream_target_healthy', primary.url, 'primary')} 1`,
    );
  });

  it('every target ejected → UPSTREAM_NO_HEALTHY_TARGET, nothing sent', async () => {
    const primary = await startTarget('primary');
    primary.mode = 'error503';
    const p = pool([{ url: primary.url, role: 'primary' }], { consecutiveFailures: 1 });
    await answer(await p.forward(get));
    expect(await answer(await p.forward(get))).toBe('UPSTREAM_NO_HEALTHY_TARGET');
    expect(primary.received).toHaveLength(1);
  });

  it('failing health checks take the primary out, passing ones bring it back', async () => {
    const primary = await startTarget('primary');
    const backup = await startTarget('backup');
    primary.mode = 'health-fail';
    const next = (): Promise<TargetStatus> => new Promise((resolve) => (waiter = resolve));
    let waiter: ((s: TargetStatus) => void) | undefined;
    const p = pool(
      [
        { url: primary.url, role: 'primary' },
        { url: backup.url, role: 'backup' },
      ],
      {
        healthCheck: {
          path: '/health',
          intervalMs: 100,
          timeoutMs: 100,
          unhealthyThreshold: 2,
          healthyThreshold: 1,
        },
        onTransition: (s) => waiter?.(s),
      },
    );
    expect(await next()).toMatchObject({ url: primary.url, available: false, healthy: false });
    expect(await answer(await p.forward(get))).toEqual({ status: 200, from: 'backup' });
    primary.mode = 'ok';
    expect(await next()).toMatchObject({ url: primary.url, available: true, healthy: true });
    expect(await answer(await p.forward(get))).toEqual({ status: 200, from: 'primary' });
    expect(backup.received.filter((r) => r.startsWith('GET /health')).length).toBeGreaterThan(0);
  });
});
