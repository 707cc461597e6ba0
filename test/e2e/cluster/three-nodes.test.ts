/**
 * Three real gateway processes on one PostgreSQL store (a schema of their own) and one Redis
 * (127.0.0.1:6379, a key prefix of their own), all forwarding to one test upstream that records
 * what reaches it (issue 7, "Tests"):
 *  - a key revoked through node A is refused by B and C, which were serving it from their caches
 *    while a client hammered them; the time until both refuse it is printed as p50/p99 (the
 *    trial is bench/revocation.ts, which `npm run bench -- --cluster` runs too);
 *  - the same signed request sent to all three nodes at once is forwarded exactly once;
 *  - a per-key limit holds across the three nodes within 2 %.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  dropSchema,
  POSTGRES_URL,
  randomSchema,
} from '../../adapters/postgres/postgres-harness.js';
import { adminRequest } from '../../helpers/server-process.js';
import {
  codeOf,
  send,
  signed,
  startTestUpstream,
  type Answer,
  type TestUpstream,
} from '../data-plane/helpers.js';
import {
  firstRefusal,
  percentile,
  revocationTimes,
  revokeUnderLoad,
  type RevocationTimes,
} from '../../../bench/revocation.js';
import { createKey, runPrefix, startCluster, type Cluster } from './helpers.js';

const LIMIT = 300;
const BURST = 450;
const TRIALS = 20;
const roomy = [{ window: '1m', limit: 1_000_000 }];
const schema = randomSchema();
let upstream: TestUpstream;
let cluster: Cluster;

beforeAll(async () => {
  upstream = await startTestUpstream();
  const prefix = runPrefix('three');
  cluster = await startCluster({
    size: 3,
    store: `${POSTGRES_URL}?schema=${schema}`,
    redis: 'redis://127.0.0.1:6379',
    config: {
      cluster: { keyPrefix: `${prefix}c:` },
      rateLimits: { backend: 'redis', onRedisDown: 'fail-closed', keyPrefix: `${prefix}rl:` },
      environments: {
        // The hammering and replay tests send thousands of requests from one address.
        // Anomaly responses (a burst of denials throttles a key) are not what these tests measure.
        sandbox: { upstream: upstream.url, limits: { enabled: false }, risk: { enabled: false } },
        production: {
          upstream: upstream.url,
          risk: { enabled: false },
          limits: {
            perKey: [{ window: '1m', limit: LIMIT }],
            perAccount: roomy,
            perIp: roomy,
            orders: [{ window: '10s', limit: 1_000_000 }],
            bans: { refusalThreshold: 1_000_000 },
          },
        },
      },
    },
  });
}, 180_000);

afterAll(async () => {
  await cluster?.cleanup();
  await upstream?.close();
  await dropSchema(schema);
});

/**
 * Under a heavily loaded machine a Redis reply can miss its deadline: the gateway then fails
 * closed with one of these (503), which a client retries. They never count as allowed.
 */
const UNAVAILABLE = new Set(['REPLAY_CHECK_UNAVAILABLE', 'RATE_LIMIT_UNAVAILABLE']);

/** One revocation while a client hammers B and C (two loops each). */
async function revocationTrial(): Promise<RevocationTimes> {
  const [nodeA] = cluster.nodes;
  if (nodeA === undefined) throw new Error('no node A');
  const key = await createKey(nodeA, { scopes: ['read'] });
  const read = (node: number) => async () => {
    const answer = await send(signed(cluster.url(node), 'GET', '/api/v1/balances', undefined, key));
    return { status: answer.status, code: codeOf(answer) };
  };
  // B and C both serve the key first, so it is in their caches: only an event can revoke it there.
  const run = await revokeUnderLoad({
    targets: [read(1), read(2)],
    revoke: async () => (await adminRequest(nodeA, 'POST', `/v1/keys/${key.id}/revoke`)).status,
  });
  for (const log of run.logs) {
    // Every answer is the engine's, the revocation or a fail-closed 503.
    const other = log.filter(
      (s) => s.status !== 200 && s.code !== 'KEY_REVOKED' && !UNAVAILABLE.has(s.code ?? ''),
    );
    expect(other).toEqual([]);
    // Once refused, never anything else: the node does not fall back to a stale entry.
    const refusedAt = firstRefusal(log);
    expect(log.filter((s) => s.sentAt > refusedAt && s.code !== 'KEY_REVOKED')).toEqual([]);
  }
  return revocationTimes(run);
}

/** The histogram `portcullis_event_lag_seconds` for key.changed events, from a node's /metrics. */
async function keyEventLag(
  node: number,
): Promise<{ count: number; sum: number; within1s: number }> {
  const handle = cluster.nodes[node];
  if (handle === undefined) throw new Error(`no node ${node}`);
  const response = await fetch(new URL('/metrics', handle.adminUrl), {
    headers: { authorization: `Bearer ${handle.token}` },
  });
  const text = await response.text();
  const value = (series: string) => {
    const line = text
      .split('\n')
      .find(
        (l) =>
          l.startsWith(`portcullis_event_lag_seconds_${series}`) &&
          l.includes('type="key.changed"'),
      );
    return Number(line?.split(' ').at(-1));
  };
  return { count: value('count'), sum: value('sum'), within1s: value('bucket{le="1",') };
}

it('a key revoked through node A is refused by B and C under load within 1 s', async () => {
  const fromCall: number[] = [];
  const afterAck: number[] = [];
  const usable: number[] = [];
  const calls: number[] = [];
  for (let trial = 0; trial < TRIALS; trial++) {
    const result = await revocationTrial();
    fromCall.push(...result.fromCallMs);
    afterAck.push(...result.afterAckMs);
    usable.push(...result.usableAfterAckMs);
    calls.push(result.revokeCallMs);
  }
  const lags = await Promise.all([keyEventLag(1), keyEventLag(2)]);
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  const summary = (values: number[]) =>
    `p50 ${ms(percentile(values, 50))}, p99 ${ms(percentile(values, 99))}, max ${ms(Math.max(...values))}`;
  console.log(
    [
      `revocation, ${fromCall.length} samples (B and C, ${TRIALS} revocations through A):`,
      `  revoke call sent -> first refusal answered:   ${summary(fromCall)}`,
      `  revocation acknowledged -> first refusal:     ${summary(afterAck)}`,
      `  key still usable after the acknowledgement:   ${summary(usable)}`,
      `  the revoke call itself:                       ${summary(calls)}`,
      ...lags.map(
        (lag, i) =>
          `  node ${'BC'[i] ?? '?'}: ${lag.count} key events, mean delivery lag ${ms((lag.sum / lag.count) * 1000)}`,
      ),
    ].join('\n'),
  );
  expect(usable).toHaveLength(2 * TRIALS);
  // Every revocation reached B and C as an event, each within a second of its publication.
  for (const lag of lags) {
    expect(lag.count).toBeGreaterThanOrEqual(TRIALS);
    expect(lag.within1s).toBe(lag.count);
  }
  // The hard limit of issue 7: a request sent a second after the revocation was acknowledged
  // is refused on every node. (Answers themselves can take that long on a saturated machine,
  // so the time of the first refusal answered is printed, not asserted.)
  expect(Math.max(...usable)).toBeLessThan(1_000);
}, 300_000);

it('the same signed request sent to all three nodes at once is forwarded exactly once', async () => {
  const [nodeA] = cluster.nodes;
  if (nodeA === undefined) throw new Error('no node A');
  const key = await createKey(nodeA, { scopes: ['read', 'trade'] });
  let clean = 0;
  for (let round = 0; round < 60 && clean < 15; round++) {
    const target = `/api/v1/orders/ord_${randomBytes(8).toString('hex')}`;
    const request = signed(cluster.url(0), 'DELETE', target, undefined, key);
    const answers = await Promise.all(
      [0, 1, 2].map((n) => send({ ...request, url: `${cluster.url(n)}${target}` })),
    );
    const forwarded = upstream.seen.filter((s) => s.method === 'DELETE' && s.url.endsWith(target));
    const codes = answers.filter((a) => a.status !== 200).map(codeOf);
    // Never more than one, whatever happens; a check Redis could not answer in time fails closed.
    expect(forwarded.length).toBeLessThanOrEqual(1);
    expect(codes.every((code) => code === 'NONCE_REPLAYED' || UNAVAILABLE.has(code ?? ''))).toBe(
      true,
    );
    if (codes.some((code) => UNAVAILABLE.has(code ?? ''))) continue;
    clean += 1;
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    expect(codes).toEqual(['NONCE_REPLAYED', 'NONCE_REPLAYED']);
    expect(forwarded).toHaveLength(1);
  }
  expect(clean).toBe(15);
}, 120_000);

it('a per-key limit holds across the three nodes within 2 %', async () => {
  const [nodeA] = cluster.nodes;
  if (nodeA === undefined) throw new Error('no node A');
  const key = await createKey(nodeA, { env: 'production', scopes: ['read', 'trade'] });
  // Weight 1 (order.cancel): the count of admitted requests is the weight admitted.
  // A fail-closed 503 (Redis answered later than the limiter's deadline, on a loaded machine) is
  // retried with a fresh signature, as a client would, so each slot ends admitted or refused.
  // Such a take may still have been counted by Redis: it can only make the cluster admit less.
  let unavailable = 0;
  const fire = async (i: number): Promise<Answer> => {
    for (;;) {
      const url = cluster.url(i % 3, 'production');
      const answer = await send(signed(url, 'DELETE', `/api/v1/orders/ord_${i}`, undefined, key));
      if (!UNAVAILABLE.has(codeOf(answer) ?? '')) return answer;
      unavailable += 1;
    }
  };
  const answers: Answer[] = [];
  for (let i = 0; i < BURST; i += 6) {
    answers.push(...(await Promise.all(Array.from({ length: 6 }, (_, k) => fire(i + k)))));
  }
  expect(answers.filter((a) => a.status !== 200 && a.status !== 429)).toEqual([]);
  const refused = answers.filter((a) => a.status === 429);
  expect(new Set(refused.map(codeOf))).toEqual(new Set(['RATE_LIMITED']));
  const admitted = answers.length - refused.length;
  console.log(
    `global limit ${LIMIT} over three nodes: ${admitted} admitted, ${unavailable} fail-closed 503s retried`,
  );
  // Never more than the limit (+2 %); less only by what the 503s may have taken.
  expect(admitted).toBeLessThanOrEqual(LIMIT * 1.02);
  expect(admitted + unavailable).toBeGreaterThanOrEqual(LIMIT * 0.98);
  // Every node admitted part of it: the limit is shared, not pinned to one node.
  const perNode = [0, 1, 2].map((n) => answers.filter((a, i) => i % 3 === n && a.status === 200));
  expect(perNode.every((list) => list.length > 0)).toBe(true);
}, 120_000);
