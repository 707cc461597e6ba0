/**
 * WebSocket sessions across three real gateway processes on one PostgreSQL store (a schema of
 * their own) and one Redis (a key prefix of their own), issue 9 "Tests": a key whose sessions
 * on nodes B and C are streaming orders is revoked through the CLI against node A; both
 * sessions are closed 4001 KEY_REVOKED within 1 s of the revocation's commit, a node that has
 * refused one order accepts none after it, and a new login of the key is refused on every node.
 * The cut-off of each node is printed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropSchema,
  POSTGRES_URL,
  randomSchema,
} from '../../adapters/postgres/postgres-harness.js';
import { signNativeWsLogin } from '../../../src/client/ws-login.js';
import { cliRevokeKey, type CliKey } from '../../helpers/cli-keys.js';
import {
  mustOpen,
  nativeLogin,
  textOf,
  wsUrlOf,
  type CloseInfo,
  type TestSocket,
} from '../ws/helpers.js';
import { createKey, runPrefix, startCluster, type Cluster } from './helpers.js';

// IOC far below the price: each order expires at once, so a stream of them never reaches the
// sandbox's bound on resting orders (200 per account and market) however long it runs.
const ORDER = {
  symbol: 'BTCUSDT',
  side: 'buy',
  type: 'limit',
  quantity: '0.001',
  price: '1',
  timeInForce: 'IOC',
};
const schema = randomSchema();
let cluster: Cluster;

beforeAll(async () => {
  const prefix = runPrefix('ws');
  cluster = await startCluster({
    size: 3,
    store: `${POSTGRES_URL}?schema=${schema}`,
    redis: 'redis://127.0.0.1:6379',
    config: {
      cluster: { keyPrefix: `${prefix}c:` },
      oauth: { ticketKeyPrefix: `${prefix}t:` },
      // Limits, risk and anomaly throttling are not what this test measures.
      environments: { sandbox: { limits: { enabled: false }, risk: { enabled: false } } },
      dataPlane: { websocket: { maxMessagesPerSecond: 10_000 } },
    },
  });
}, 180_000);

afterAll(async () => {
  await cluster?.cleanup();
  await dropSchema(schema);
});

/** Opens a session on node `node` and logs in natively with the key's HMAC secret. */
const nativeSession = (node: number, key: CliKey): Promise<TestSocket> =>
  nativeLogin(wsUrlOf(cluster.url(node)), key);

interface Stream {
  /** Resolves once the first order event of the stream arrived. */
  readonly streaming: Promise<void>;
  /** The close and the client's wall-clock time when it came. */
  readonly closed: Promise<{ info: CloseInfo; atMs: number }>;
  /** Every order answer in arrival order: its status and reason code. */
  readonly answers: { status: number; code: string | undefined }[];
  /** How many orders were sent. */
  sent(): number;
  stop(): void;
}

/** Subscribes to order events, then sends an order every 5 ms until the session closes. */
async function streamOrders(socket: TestSocket, tag: string): Promise<Stream> {
  socket.send({ id: 's', method: 'subscribe', params: { streams: ['orders'] } });
  expect(await socket.nextMatching((m) => m.id === 's')).toMatchObject({ status: 200 });
  const answers: Stream['answers'] = [];
  let firstEvent: () => void = () => undefined;
  const streaming = new Promise<void>((resolve) => (firstEvent = resolve));
  socket.ws.on('message', (data) => {
    const m = JSON.parse(textOf(data)) as Record<string, unknown>;
    if (m.stream === 'orders') firstEvent();
    if (typeof m.id === 'string' && m.id.startsWith(tag)) {
      const error = m.error as { code?: string } | undefined;
      answers.push({ status: Number(m.status), code: error?.code });
    }
  });
  const closed = socket.closed.then((info) => ({ info, atMs: Date.now() }));
  let n = 0;
  const pump = setInterval(() => {
    if (socket.ws.readyState !== socket.ws.OPEN) return;
    socket.send({ id: `${tag}${n++}`, method: 'order.place', params: ORDER });
  }, 5);
  void closed.then(() => clearInterval(pump));
  return { streaming, closed, answers, sent: () => n, stop: () => clearInterval(pump) };
}

describe('a key revoked on node A', () => {
  it('ends its streaming sessions on nodes B and C within 1 s (4001 KEY_REVOKED)', async () => {
    const nodeA = cluster.nodes[0] ?? expect.fail('no node A');
    const key = await createKey(nodeA);
    const streams = [
      await streamOrders(await nativeSession(1, key), 'b'),
      await streamOrders(await nativeSession(2, key), 'c'),
    ];
    try {
      await Promise.all(streams.map((s) => s.streaming));
      const revoked = await cliRevokeKey(nodeA.dataDir, key.id);
      // The server stamps revokedAt when the revocation commits; same machine, same wall clock.
      const revokedAtMs = Date.parse(String(revoked.revokedAt));
      const closes = await Promise.all(streams.map((s) => s.closed));
      const cutoffsMs = closes.map((c) => c.atMs - revokedAtMs);
      console.log(
        `ws_revocation_cutoff across nodes: B ${cutoffsMs[0]} ms, C ${cutoffsMs[1]} ms from the ` +
          `revocation's commit on A to the client's close; orders sent: ` +
          streams.map((s) => s.sent()).join(', '),
      );
      for (const [i, stream] of streams.entries()) {
        expect(closes[i]?.info).toEqual({ code: 4001, reason: 'KEY_REVOKED' });
        expect(cutoffsMs[i]).toBeLessThan(1000);
        // Once the node has refused one order, it accepts none after it; refusals are KEY_REVOKED.
        const firstRefused = stream.answers.findIndex((a) => a.status !== 200);
        const after = firstRefused < 0 ? [] : stream.answers.slice(firstRefused);
        expect(after.filter((a) => a.code !== 'KEY_REVOKED')).toEqual([]);
      }
    } finally {
      for (const stream of streams) stream.stop();
    }
  }, 90_000);

  it('refuses a new login of the revoked key on every node', async () => {
    const nodeA = cluster.nodes[0] ?? expect.fail('no node A');
    const key = await createKey(nodeA);
    const sessions = await Promise.all([0, 1, 2].map((node) => nativeSession(node, key)));
    await cliRevokeKey(nodeA.dataDir, key.id);
    // Each close says that node has applied the revocation: the logins below never race it.
    for (const session of sessions)
      expect(await session.closed).toEqual({ code: 4001, reason: 'KEY_REVOKED' });
    for (const node of [0, 1, 2]) {
      const socket = await mustOpen(wsUrlOf(cluster.url(node)));
      socket.send(
        signNativeWsLogin({
          key: { keyId: key.id, secret: key.secret as string },
          environment: 'sandbox',
          createdSeconds: Math.floor(Date.now() / 1000),
        }),
      );
      expect(await socket.next()).toMatchObject({ error: { code: 'KEY_REVOKED' } });
      expect(await socket.closed).toEqual({ code: 4009, reason: 'LOGIN_FAILED:KEY_REVOKED' });
    }
  }, 90_000);
});
