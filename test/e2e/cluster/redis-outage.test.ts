/**
 * Redis down, for real: two gateway nodes (shared SQLite file) on a redis-server this test starts
 * on a free port of its own (never the shared one at 6379), stops, and starts again.
 *  - While Redis is down, a signed request cannot be checked for replay: it is refused with
 *    REPLAY_CHECK_UNAVAILABLE (503), never forwarded.
 *  - The nodes lost their change events too, so they read keys from the store: a revocation made
 *    through node A meanwhile is refused by node B on its very next request.
 *  - When Redis is back, both nodes recover by themselves, and events flow again.
 *  - `GET /readyz` answers 503 CHANGE_EVENTS_DOWN on both nodes while Redis is down, 200 before
 *    and after.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CliKey } from '../../helpers/cli-keys.js';
import { adminRequest } from '../../helpers/server-process.js';
import {
  closedPort,
  codeOf,
  send,
  signed,
  startTestUpstream,
  type Answer,
  type TestUpstream,
} from '../data-plane/helpers.js';
import { createKey, runPrefix, startCluster, type Cluster } from './helpers.js';

let port: number;
let redis: ChildProcess | undefined;
let upstream: TestUpstream;
let cluster: Cluster;

/** Starts redis-server on `port` and resolves once it accepts connections. */
function startRedis(): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (/Ready to accept connections/.test(out)) resolve(child);
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited ${String(code)}:\n${out}`)));
  });
}

async function stopRedis(): Promise<void> {
  const child = redis;
  redis = undefined;
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

const read = (node: number, key: CliKey): Promise<Answer> =>
  send(signed(cluster.url(node), 'GET', '/api/v1/balances', undefined, key));

/** Sends a fresh signed read to `node` until `accept` holds for its answer (or the time is up). */
async function readUntil(
  node: number,
  key: CliKey,
  accept: (answer: Answer) => boolean,
  timeoutMs: number,
): Promise<Answer> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const answer = await read(node, key);
    if (accept(answer)) return answer;
    if (performance.now() > deadline) {
      throw new Error(`node ${node} kept answering ${answer.status} ${String(codeOf(answer))}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Polls node `node`'s `GET /readyz` until it answers `status` (or the time is up). */
async function readinessUntil(node: number, status: number, timeoutMs: number) {
  const handle = cluster.nodes[node];
  if (handle === undefined) throw new Error(`no node ${node}`);
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const answer = await adminRequest(handle, 'GET', '/readyz');
    if (answer.status === status) return answer;
    if (performance.now() > deadline) {
      throw new Error(`node ${node} readiness kept answering ${answer.status}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

beforeAll(async () => {
  port = await closedPort();
  redis = await startRedis();
  upstream = await startTestUpstream();
  cluster = await startCluster({
    size: 2,
    redis: `redis://127.0.0.1:${port}`,
    config: {
      cluster: { keyPrefix: runPrefix('outage') },
      environments: {
        sandbox: { upstream: upstream.url, limits: { enabled: false }, risk: { enabled: false } },
      },
    },
  });
}, 120_000);

afterAll(async () => {
  await cluster?.cleanup();
  await stopRedis();
  await upstream?.close();
});

it('fails closed while Redis is down, reads keys from the store, and recovers by itself', async () => {
  const [nodeA] = cluster.nodes;
  if (nodeA === undefined) throw new Error('no node A');
  const revokedDuringOutage = await createKey(nodeA, { scopes: ['read'] });
  const survivor = await createKey(nodeA, { scopes: ['read'] });
  // Both nodes serve both keys from their caches.
  for (const node of [0, 1]) {
    for (const key of [revokedDuringOutage, survivor])
      expect((await read(node, key)).status).toBe(200);
    expect((await readinessUntil(node, 200, 10_000)).body).toEqual({ status: 'ready' });
  }

  await stopRedis();
  for (const node of [0, 1]) {
    const refused = await readUntil(node, survivor, (a) => a.status !== 200, 10_000);
    expect(refused.status).toBe(503);
    expect(codeOf(refused)).toBe('REPLAY_CHECK_UNAVAILABLE');
    // The load balancer is told: no change events, the key cache cannot be trusted.
    const notReady = await readinessUntil(node, 503, 10_000);
    expect(notReady.body).toEqual({ status: 'not-ready', reasons: ['CHANGE_EVENTS_DOWN'] });
  }
  // Nothing reaches the upstream while the replay check cannot be made.
  const forwardedBefore = upstream.seen.length;
  const again = await read(1, survivor);
  expect(codeOf(again)).toBe('REPLAY_CHECK_UNAVAILABLE');
  expect(upstream.seen.length).toBe(forwardedBefore);

  // The event about this revocation cannot be delivered; B reads the store instead of its cache.
  const revoked = await adminRequest(nodeA, 'POST', `/v1/keys/${revokedDuringOutage.id}/revoke`);
  expect(revoked.status).toBe(200);
  const onB = await read(1, revokedDuringOutage);
  expect(codeOf(onB)).toBe('KEY_REVOKED');

  redis = await startRedis();
  for (const node of [0, 1]) {
    const recovered = await readUntil(node, survivor, (a) => a.status === 200, 15_000);
    expect(recovered.status).toBe(200);
    expect(codeOf(await read(node, revokedDuringOutage))).toBe('KEY_REVOKED');
    expect((await readinessUntil(node, 200, 15_000)).body).toEqual({ status: 'ready' });
  }

  // Events flow again: B, serving `survivor` from its cache, learns of its revocation on A.
  expect((await read(1, survivor)).status).toBe(200);
  const second = await adminRequest(nodeA, 'POST', `/v1/keys/${survivor.id}/revoke`);
  expect(second.status).toBe(200);
  const refusedOnB = await readUntil(1, survivor, (a) => a.status !== 200, 5_000);
  expect(codeOf(refusedOnB)).toBe('KEY_REVOKED');
}, 120_000);
