/**
 * Escalating bans across a cluster (issue 5: no one gets around a limit by hitting several
 * gateway nodes). Two real gateway processes on one SQLite store and one Redis (rate limits on
 * Redis, a key prefix of their own), in front of the built-in sandbox exchange. A client that
 * keeps going after 429s on node A is banned there (418); the ban reaches node B through the
 * change events, so B refuses it before any verification work and lists it; a node C started
 * after the ban finds it in Redis; an operator lifts it on B, and A and C stop refusing it.
 * Without the announcements B knows nothing of A's ban, without Redis C knows nothing of it.
 * A client that spreads its 429s over A and B, below the threshold on each, is banned on both:
 * the nodes count refusals together in Redis (without that, neither node ever bans it).
 *
 * The waits poll a node's admin API (`until`: every 20 ms, at most 10 s).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliKey } from '../../helpers/cli-keys.js';
import { adminRequest, type ServerHandle } from '../../helpers/server-process.js';
import { codeOf, send, signed, type Answer } from '../data-plane/helpers.js';
import { createKey, runPrefix, startCluster, until, type Cluster } from './helpers.js';

/** A client behind the loopback "proxy" (trusted), so both nodes see the same address. */
const CLIENT = '198.51.100.7';
let cluster: Cluster;
let nodeA: ServerHandle;
let nodeB: ServerHandle;
let nodeC: ServerHandle;
let trader: CliKey;

beforeAll(async () => {
  const prefix = runPrefix('bans');
  cluster = await startCluster({
    size: 2,
    redis: 'redis://127.0.0.1:6379',
    config: {
      cluster: { keyPrefix: `${prefix}c:` },
      rateLimits: { backend: 'redis', keyPrefix: `${prefix}rl:` },
      dataPlane: { trustedProxies: ['127.0.0.1/32'] },
      environments: {
        production: { enabled: false },
        sandbox: {
          limits: {
            // One account read (weight 20) per minute per key: the second is a 429.
            perKey: [{ window: '1m', limit: 20 }],
            // Three 429s within a minute make an offence: banned for 10 minutes.
            bans: { refusalThreshold: 3, refusalWindow: '1m', firstBan: '10m' },
          },
        },
      },
    },
  });
  [nodeA, nodeB] = cluster.nodes as [ServerHandle, ServerHandle];
  trader = await createKey(nodeA);
}, 180_000);

afterAll(async () => {
  await cluster?.cleanup();
});

const read = (node: 0 | 1 | 2, key = trader, client = CLIENT): Promise<Answer> =>
  send(
    signed(cluster.url(node), 'GET', '/api/v1/account', undefined, key, {
      headers: { 'x-forwarded-for': client },
    }),
  );

interface BanView {
  readonly environment: string;
  readonly prefix: string;
  readonly offences: number;
}

async function bansOn(node: ServerHandle): Promise<BanView[]> {
  const answer = await adminRequest(node, 'GET', '/v1/bans');
  expect(answer.status).toBe(200);
  return answer.body['bans'] as BanView[];
}

describe.sequential('bans across two nodes', () => {
  it('a ban decided on A is listed on B and refused by B before verification', async () => {
    const codes: string[] = [];
    for (let i = 0; i < 10 && codes.at(-1) !== 'IP_BANNED'; i++) {
      const answer = await read(0);
      codes.push(answer.status === 200 ? '200' : (codeOf(answer) ?? String(answer.status)));
    }
    // Global limits: one read, then 429s; the third 429 is answered 418 already.
    expect(codes).toEqual(['200', 'RATE_LIMITED', 'RATE_LIMITED', 'IP_BANNED']);
    const listed = await until(
      () => bansOn(nodeB),
      (bans) => bans.length > 0,
      'the ban on node B',
    );
    expect(listed).toEqual([
      { environment: 'sandbox', prefix: CLIENT, offences: 1, until: expect.any(String) },
    ]);
    // B refuses at once (a 418, not one more 429 counting towards a ban of its own), and a
    // request B cannot even verify is refused the same way: the ban is checked first.
    const onB = await read(1);
    expect({ status: onB.status, code: codeOf(onB) }).toEqual({ status: 418, code: 'IP_BANNED' });
    const unsigned = await send({
      url: `${cluster.url(1)}/api/v1/account`,
      method: 'GET',
      headers: { 'x-forwarded-for': CLIENT },
      body: Buffer.alloc(0),
    });
    expect({ status: unsigned.status, code: codeOf(unsigned) }).toEqual({
      status: 418,
      code: 'IP_BANNED',
    });
  });

  it('a node started after the ban finds it in Redis and refuses the prefix', async () => {
    nodeC = await cluster.addNode();
    // Read at once: C loaded the bans before its listeners opened (no event reached it).
    expect((await bansOn(nodeC)).map((b) => [b.prefix, b.offences])).toEqual([[CLIENT, 1]]);
    const onC = await read(2);
    expect({ status: onC.status, code: codeOf(onC) }).toEqual({ status: 418, code: 'IP_BANNED' });
  }, 60_000);

  it('a lift through B ends the ban on A and C too', async () => {
    const lifted = await adminRequest(nodeB, 'POST', '/v1/bans/lift', {
      prefix: CLIENT,
      forgive: false,
    });
    expect(lifted.body).toEqual({ prefix: CLIENT, lifted: ['sandbox'] });
    await until(
      () => bansOn(nodeA),
      (bans) => bans.length === 0,
      'the lift on node A',
    );
    await until(
      () => bansOn(nodeC),
      (bans) => bans.length === 0,
      'the lift on node C',
    );
    // The key's minute is still spent: a 429 now, no longer the 418 of the ban.
    for (const node of [0, 2] as const) {
      const answer = await read(node);
      expect({ status: answer.status, code: codeOf(answer) }).toEqual({
        status: 429,
        code: 'RATE_LIMITED',
      });
    }
    // A node started now finds no ban: the lift removed it from Redis too.
    const late = await cluster.addNode();
    expect(await bansOn(late)).toEqual([]);
  }, 60_000);

  it('429s spread over A and B, below the threshold on each, ban the client on both', async () => {
    const spreader = '198.51.100.8';
    const key = await createKey(nodeA);
    // The key's one read of the minute, then 429s alternately on A and B: two on each node, where
    // three make an offence. The third refusal of the cluster is still a 429 (the count is
    // reported within 100 ms); the fourth may already meet the ban.
    expect((await read(0, key, spreader)).status).toBe(200);
    const codes: string[] = [];
    for (const node of [0, 1, 0, 1] as const)
      codes.push(codeOf(await read(node, key, spreader)) ?? '');
    expect(codes.slice(0, 3)).toEqual(['RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED']);
    for (const node of [nodeA, nodeB]) {
      const bans = await until(
        () => bansOn(node),
        (list) => list.some((b) => b.prefix === spreader),
        'the spread client banned',
      );
      expect(bans.find((b) => b.prefix === spreader)?.offences).toBe(1);
    }
    for (const node of [0, 1] as const) {
      const answer = await read(node, key, spreader);
      expect({ status: answer.status, code: codeOf(answer) }).toEqual({
        status: 418,
        code: 'IP_BANNED',
      });
    }
  }, 60_000);
});
