/**
 * Anomaly responses across a cluster (issue 8, "Tests": each response step takes effect on the
 * next request on another node). Two real gateway processes on one PostgreSQL store (a schema
 * of their own) and one Redis (a key prefix of their own), forwarding to a test upstream. A
 * crafted traffic sequence on node A makes A's detector decide a response; node B's admin API
 * shows it with its reason, and B's next request is refused with the matching reason code. An
 * operator lifts it on B, and A's next request goes through again.
 *
 * The waits poll a node's admin API (the response reaches B through the `risk.changed` event,
 * or at the latest through B's next re-validation of the audit feed); each is bounded.
 */
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropSchema,
  POSTGRES_URL,
  randomSchema,
} from '../../adapters/postgres/postgres-harness.js';
import type { CliKey } from '../../helpers/cli-keys.js';
import { adminRequest, type ServerHandle } from '../../helpers/server-process.js';
import {
  codeOf,
  send,
  signed,
  startTestUpstream,
  type Answer,
  type TestUpstream,
} from '../data-plane/helpers.js';
import { createKey, runPrefix, startCluster, until, type Cluster } from './helpers.js';

const schema = randomSchema();
const SPRAYER = '198.51.100.7';
const SPRAY_PREFIX = '198.51.100.0/24';
let upstream: TestUpstream;
let cluster: Cluster;
let nodeA: ServerHandle;
let nodeB: ServerHandle;
/** ms from a lift acknowledged by B to A showing it (printed; never asserted). */
const liftSeenAfterMs: number[] = [];

beforeAll(async () => {
  upstream = await startTestUpstream();
  const prefix = runPrefix('risk');
  const sandbox = {
    upstream: upstream.url,
    limits: { enabled: false },
    risk: {
      enabled: true,
      // Only the signals these tests craft; the others would add alerts of their own.
      signals: {
        newIpPrefix: { mode: 'off' },
        rateSpike: { mode: 'off' },
        unusualHour: { mode: 'off' },
        failureBurst: { mode: 'enforce', perKey: 3, perPrefix: 1000 },
        firstSensitiveAction: { mode: 'enforce' },
        keySpray: { mode: 'enforce', distinctKeys: 3 },
      },
      responses: {
        firstSensitiveAction: { step: 'step_down', tradeMode: 'read_only', duration: null },
        failureBurst: { step: 'disable_key' },
        keySpray: { step: 'ban_prefix', duration: null },
      },
    },
  };
  cluster = await startCluster({
    size: 2,
    store: `${POSTGRES_URL}?schema=${schema}`,
    redis: 'redis://127.0.0.1:6379',
    config: {
      cluster: { keyPrefix: `${prefix}c:` },
      // The ban test sends from a documentation address through the loopback "proxy".
      dataPlane: { trustedProxies: ['127.0.0.1/32'] },
      environments: { sandbox, production: { enabled: false } },
    },
  });
  [nodeA, nodeB] = cluster.nodes as [ServerHandle, ServerHandle];
}, 180_000);

afterAll(async () => {
  if (liftSeenAfterMs.length > 0)
    console.log(`risk lift on B seen by A after ${liftSeenAfterMs.map(Math.round).join(', ')} ms`);
  await cluster?.cleanup();
  await upstream?.close();
  await dropSchema(schema);
});

type Node = 0 | 1;
const handle = (node: Node): ServerHandle => (node === 0 ? nodeA : nodeB);

const fromSprayer = { headers: { 'x-forwarded-for': SPRAYER } };
const readBalances = (node: Node, key: CliKey, options = {}): Promise<Answer> =>
  send(signed(cluster.url(node), 'GET', '/api/v1/balances', undefined, key, options));
const placeOrder = (node: Node, key: CliKey): Promise<Answer> =>
  send(
    signed(
      cluster.url(node),
      'POST',
      '/api/v1/orders',
      { symbol: 'BTC-USDT', side: 'buy', type: 'limit', quantity: '0.01', price: '50000' },
      key,
    ),
  );

interface RiskView {
  level: string;
  responses: { step: string; reason: string }[];
}

async function riskOf(node: Node, keyId: string): Promise<RiskView> {
  const answer = await adminRequest(handle(node), 'GET', `/v1/keys/${keyId}/risk`);
  expect(answer.status).toBe(200);
  return answer.body as unknown as RiskView;
}

async function prefixResponses(node: Node): Promise<{ step: string; reason: string }[]> {
  const answer = await adminRequest(handle(node), 'GET', '/v1/risk/prefixes');
  expect(answer.status).toBe(200);
  return answer.body['responses'] as { step: string; reason: string }[];
}

/** Waits for `seen` after a lift acknowledged at `ackAt` and records how long it took. */
async function timedLift(ackAt: number, seen: Promise<unknown>): Promise<void> {
  await seen;
  liftSeenAfterMs.push(performance.now() - ackAt);
}

const levelIs = (node: Node, keyId: string, level: string) =>
  until(
    () => riskOf(node, keyId),
    (view) => view.level === level,
    `node ${node} to show ${keyId} at ${level}`,
  );

describe('a response decided on node A holds on node B', () => {
  it('a step-down (first withdrawal): B refuses trade and withdraw with KEY_STEPPED_DOWN; lifted on B, A trades again', async () => {
    const key = await createKey(nodeA, { scopes: ['read', 'trade', 'withdraw'] });
    expect((await readBalances(1, key)).status).toBe(200); // B holds the key, at level normal
    const withdrawal = {
      asset: 'USDT',
      amount: '10',
      address: 'T9yD14Nj9j7xAB4dbGeiX9h8unkKHxuWwb',
    };
    const first = await send(
      signed(cluster.url(0), 'POST', '/api/v1/withdrawals', withdrawal, key),
    );
    expect(first.status).toBe(200);

    // Two step-downs: the key's first withdrawal and its (new) account's. A stores them one
    // after the other; lifting before the second is stored would leave the key stepped down.
    const view = await until(
      () => riskOf(1, key.id),
      (v) => v.level === 'high' && v.responses.length === 2,
      'node B to show both step-downs',
    );
    expect(view.responses.map((r) => [r.step, r.reason])).toEqual([
      ['step_down', 'first_sensitive_action'],
      ['step_down', 'first_sensitive_action'],
    ]);
    const order = await placeOrder(1, key);
    expect([order.status, codeOf(order)]).toEqual([403, 'KEY_STEPPED_DOWN']);
    const again = await send(
      signed(cluster.url(1), 'POST', '/api/v1/withdrawals', withdrawal, key),
    );
    expect([again.status, codeOf(again)]).toEqual([403, 'KEY_STEPPED_DOWN']);
    expect((await readBalances(1, key)).status).toBe(200); // read-only: reads still pass

    const reset = await adminRequest(nodeB, 'POST', `/v1/keys/${key.id}/risk/reset`);
    expect([reset.status, reset.body['level']]).toEqual([200, 'normal']);
    await timedLift(performance.now(), levelIs(0, key.id, 'normal'));
    expect((await placeOrder(0, key)).status).toBe(200);
  });

  it('a disable (burst of bad signatures): B refuses with KEY_DISABLED; lifted on B, A serves again', async () => {
    const key = await createKey(nodeA);
    expect((await readBalances(1, key)).status).toBe(200);
    for (let i = 0; i < 3; i++) {
      const bad = await readBalances(0, key, { secret: 'not-the-secret' });
      expect([bad.status, codeOf(bad)]).toEqual([401, 'SIGNATURE_INVALID']);
    }

    const view = await levelIs(1, key.id, 'locked');
    expect(view.responses.map((r) => [r.step, r.reason])).toEqual([
      ['disable_key', 'failure_burst'],
    ]);
    const refused = await readBalances(1, key);
    expect(codeOf(refused)).toBe('KEY_DISABLED');

    const reset = await adminRequest(nodeB, 'POST', `/v1/keys/${key.id}/risk/reset`);
    expect(reset.status).toBe(200);
    await timedLift(performance.now(), levelIs(0, key.id, 'normal'));
    expect((await readBalances(0, key)).status).toBe(200);
  });

  it('a prefix ban (failures of many keys from one prefix): B refuses with IP_BANNED; lifted on B, A serves again', async () => {
    const keys = [await createKey(nodeA), await createKey(nodeA), await createKey(nodeA)];
    for (const key of keys) {
      const bad = await readBalances(0, key, { ...fromSprayer, secret: 'not-the-secret' });
      expect(codeOf(bad)).toBe('SIGNATURE_INVALID');
    }

    const bans = await until(
      () => prefixResponses(1),
      (list) => list.length > 0,
      'node B to list the ban',
    );
    expect(bans.map((r) => [r.step, r.reason])).toEqual([['ban_prefix', 'key_spray']]);
    const [key] = keys as [CliKey];
    const banned = await readBalances(1, key, fromSprayer);
    expect(codeOf(banned)).toBe('IP_BANNED');

    const lifted = await adminRequest(nodeB, 'POST', '/v1/risk/prefixes/lift', {
      prefix: SPRAY_PREFIX,
    });
    expect(lifted.status).toBe(200);
    await timedLift(
      performance.now(),
      until(
        () => prefixResponses(0),
        (list) => list.length === 0,
        'node A to lift the ban',
      ),
    );
    expect((await readBalances(0, key, fromSprayer)).status).toBe(200);
  });
});

describe('failures spread over the nodes are counted together (shared windows on Redis)', () => {
  const fromOther = { headers: { 'x-forwarded-for': '192.0.2.7' } };

  it('a burst of bad signatures, two on A and one on B, disables the key', async () => {
    const key = await createKey(nodeA);
    for (const node of [0, 0, 1] as const) {
      // From a prefix of its own: the loopback prefix has seen other tests' failing keys.
      const bad = await readBalances(node, key, {
        headers: { 'x-forwarded-for': '203.0.113.9' },
        secret: 'not-the-secret',
      });
      expect([bad.status, codeOf(bad)]).toEqual([401, 'SIGNATURE_INVALID']);
    }
    // Neither node saw the three denials of the threshold on its own.
    const view = await levelIs(0, key.id, 'locked');
    expect(view.responses.map((r) => [r.step, r.reason])).toEqual([
      ['disable_key', 'failure_burst'],
    ]);
    expect(codeOf(await readBalances(0, key))).toBe('KEY_DISABLED');
    expect((await adminRequest(nodeA, 'POST', `/v1/keys/${key.id}/risk/reset`)).status).toBe(200);
  });

  it('a spray of key ids, two on A and one on B, bans the prefix', async () => {
    const keys = [await createKey(nodeA), await createKey(nodeA), await createKey(nodeA)];
    for (const [i, node] of ([0, 0, 1] as const).entries()) {
      const bad = await readBalances(node, keys[i]!, { ...fromOther, secret: 'not-the-secret' });
      expect(codeOf(bad)).toBe('SIGNATURE_INVALID');
    }
    const bans = await until(
      () => prefixResponses(0),
      (list) => list.length > 0,
      'node A to list the ban',
    );
    expect(bans.map((r) => [r.step, r.reason])).toEqual([['ban_prefix', 'key_spray']]);
    expect(codeOf(await readBalances(0, keys[0]!, fromOther))).toBe('IP_BANNED');
    const lifted = await adminRequest(nodeA, 'POST', '/v1/risk/prefixes/lift', {
      prefix: '192.0.2.0/24',
    });
    expect(lifted.status).toBe(200);
  });
});
