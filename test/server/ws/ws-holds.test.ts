/**
 * Orders of a key with a notional spend allowance over a WebSocket session (docs/policies.md
 * §4.1): the gateway in process, in front of a scripted upstream, with a recording `reserve`.
 * A hold is made before the order is forwarded and settled by the upstream's answer to its id:
 * committed on a 2xx, released otherwise, kept when the session ends first; an order that
 * cannot be matched to its answer, or that the allowance refuses, is never forwarded.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { signNativeWsLogin } from '../../../src/client/ws-login.js';
import type { ApiKey } from '../../../src/core/keys/model.js';
import type { ReserveOutcome } from '../../../src/server/data-plane/data-plane-governance.js';
import type { WsGatewayContext } from '../../../src/server/ws/ws-context.js';
import { createWsGateway, type WsGateway } from '../../../src/server/ws/ws-gateway.js';
import { MAX_PENDING_HOLDS } from '../../../src/server/ws/ws-session.js';
import { createManualClock } from '../../helpers/manual-clock.js';
import { apiKey, hmacKey, SECRET } from '../../core/pipeline-fixtures.js';
import { mustOpen, type TestSocket } from '../../e2e/ws/helpers.js';
import { sandboxAuthorize, TEST_WS_OPTIONS } from './authorize-deps.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

/**
 * An upstream that refuses orders of quantity "5" (400), never answers quantity "9", and
 * answers everything else 200; it records the ids it received.
 */
async function startUpstream(
  received: unknown[],
  opening?: Promise<void>,
): Promise<{ url: string; server: Server }> {
  const server = createServer();
  // `opening`: the upgrade is answered only once it resolves (an upstream still opening).
  const wss = new WebSocketServer({
    server,
    ...(opening !== undefined
      ? { verifyClient: (_info, done) => void opening.then(() => done(true)) }
      : {}),
  });
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer) => {
      const request = JSON.parse(data.toString('utf8')) as {
        id: unknown;
        params?: { quantity?: string };
      };
      received.push(request.id);
      const quantity = request.params?.quantity;
      if (quantity === '9') return;
      ws.send(
        JSON.stringify(
          quantity === '5'
            ? { id: request.id, status: 400, error: { code: 'INSUFFICIENT_BALANCE' } }
            : { id: request.id, status: 200, result: {} },
        ),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  server.on('close', () => wss.close());
  return { url: `ws://127.0.0.1:${port}/ws`, server };
}

type Reserve = NonNullable<WsGatewayContext['reserve']>;

/** A reserve that holds everything and records each hold's settlement, by request id. */
function recordingReserve() {
  const settled: [string, string][] = [];
  const reserve: Reserve = (input) =>
    Promise.resolve<ReserveOutcome>({
      kind: 'reserved',
      settle: (outcome) => {
        settled.push([input.requestId.split(':').slice(1).join(':'), outcome]);
        return Promise.resolve();
      },
    });
  return { reserve, settled };
}

async function session(
  reserve: Reserve | undefined,
  received: unknown[] = [],
  maxRate = 100,
  opening?: Promise<void>,
  holdAnswerTimeoutMs?: number,
) {
  const clock = createManualClock(Date.now());
  const key: ApiKey = apiKey({ allowanceKinds: ['notional'] });
  const upstream = await startUpstream(received, opening);
  const gateway: WsGateway = createWsGateway(
    {
      authorize: sandboxAuthorize(
        { get: (id) => (id === key.id ? hmacKey(key) : undefined) },
        clock,
      ),
      clock,
      clientIp: (peer) => peer,
      upstream: { url: upstream.url, headers: {} },
      ...(reserve !== undefined ? { reserve } : {}),
    },
    {
      ...TEST_WS_OPTIONS,
      maxMessagesPerSecond: maxRate,
      recheckIntervalMs: 60_000,
      ...(holdAnswerTimeoutMs !== undefined ? { holdAnswerTimeoutMs } : {}),
    },
  );
  const server = createServer();
  server.on('upgrade', (request, socket, head: Buffer) =>
    gateway.handleUpgrade(request, socket, head),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(async () => {
    gateway.close();
    server.closeAllConnections();
    upstream.server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await new Promise((resolve) => upstream.server.close(resolve));
  });
  const socket: TestSocket = await mustOpen(
    `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`,
  );
  socket.send(
    signNativeWsLogin({
      key: { keyId: key.id, secret: SECRET },
      environment: 'sandbox',
      createdSeconds: Math.floor(clock.now() / 1000),
    }),
  );
  expect(await socket.next()).toMatchObject({ status: 200 });
  return socket;
}

const order = (id: unknown, quantity = '1') => ({
  id,
  method: 'order.place',
  params: { symbol: 'BTCUSDT', side: 'buy', type: 'limit', quantity, price: '100' },
});

/** Waits until `settled` holds `n` entries (settlement follows the relayed answer). */
async function settledCount(settled: readonly unknown[], n: number): Promise<void> {
  for (let i = 0; i < 200 && settled.length < n; i++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('WebSocket orders held against a notional allowance', () => {
  it('commits on a 2xx answer and releases on any other, matched by id', async () => {
    const { reserve, settled } = recordingReserve();
    const socket = await session(reserve);
    socket.send(order('ok'));
    socket.send(order(7, '5'));
    expect(await socket.nextMatching((m) => m.id === 'ok')).toMatchObject({ status: 200 });
    expect(await socket.nextMatching((m) => m.id === 7)).toMatchObject({ status: 400 });
    await settledCount(settled, 2);
    expect(settled).toEqual([
      ['s:ok', 'commit'],
      ['n:7', 'release'],
    ]);
  });

  it('keeps the hold of an order still unanswered when the session ends', async () => {
    const { reserve, settled } = recordingReserve();
    const received: unknown[] = [];
    const socket = await session(reserve, received);
    socket.send(order('silent', '9'));
    socket.send(order('after'));
    await socket.nextMatching((m) => m.id === 'after');
    expect(received).toEqual(['silent', 'after']);
    socket.close();
    await socket.closed;
    await settledCount(settled, 2);
    expect(settled).toEqual([
      ['s:after', 'commit'],
      ['s:silent', 'keep'],
    ]);
  });

  it('keeps the hold of an order the upstream does not answer in holdAnswerTimeout', async () => {
    const { reserve, settled } = recordingReserve();
    const socket = await session(reserve, [], 100, undefined, 100);
    socket.send(order('silent', '9'));
    socket.send(order('answered'));
    await socket.nextMatching((m) => m.id === 'answered');
    // The timeout, not the session's end: the session is still open.
    for (let i = 0; i < 400 && settled.length < 2; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(settled).toEqual([
      ['s:answered', 'commit'],
      ['s:silent', 'keep'],
    ]);
    // Its id is free again: a new order may use it.
    socket.send(order('silent'));
    expect(await socket.nextMatching((m) => m.id === 'silent')).toMatchObject({ status: 200 });
    await settledCount(settled, 3);
    expect(settled.at(-1)).toEqual(['s:silent', 'commit']);
  });

  it('gives back the hold of an order that never left the queue (upstream still opening)', async () => {
    const { reserve, settled } = recordingReserve();
    const received: unknown[] = [];
    let open = () => {};
    const socket = await session(
      reserve,
      received,
      100,
      new Promise<void>((resolve) => (open = resolve)),
    );
    try {
      socket.send(order('queued'));
      socket.send({ id: 'ping', method: 'ping', params: {} });
      await socket.nextMatching((m) => m.id === 'ping'); // the order was held and queued before it
      socket.close();
      await socket.closed;
      await settledCount(settled, 1);
      expect(settled).toEqual([['s:queued', 'release']]);
      expect(received).toEqual([]);
    } finally {
      open();
    }
  });

  it('refuses an order without a usable id, or with the id of one still waiting, unforwarded', async () => {
    const { reserve, settled } = recordingReserve();
    const received: unknown[] = [];
    const socket = await session(reserve, received);
    socket.send(order(null));
    expect(await socket.next()).toMatchObject({ id: null, error: { code: 'BAD_REQUEST' } });
    socket.send(order('x'.repeat(129)));
    expect(await socket.next()).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    socket.send(order('dup', '9'));
    socket.send(order('dup'));
    expect(await socket.next()).toMatchObject({ id: 'dup', error: { code: 'BAD_REQUEST' } });
    // An answered order after them: the upstream has read everything forwarded before it.
    socket.send(order('probe'));
    await socket.nextMatching((m) => m.id === 'probe');
    expect(received).toEqual(['dup', 'probe']);
    await settledCount(settled, 1);
    expect(settled).toEqual([['s:probe', 'commit']]);
  });

  it('holds at most MAX_PENDING_HOLDS unanswered orders per session', async () => {
    const { reserve } = recordingReserve();
    const received: unknown[] = [];
    const socket = await session(reserve, received, 10_000);
    // Once the upstream connection is open (before it, at most 64 messages queue).
    socket.send(order('first'));
    await socket.nextMatching((m) => m.id === 'first');
    for (let i = 0; i < MAX_PENDING_HOLDS; i++) socket.send(order(i, '9'));
    socket.send(order('one-too-many'));
    expect(await socket.next()).toMatchObject({
      id: 'one-too-many',
      error: { code: 'RATE_LIMITED', retryAfterMs: 1000 },
    });
    socket.close();
    await socket.closed;
    // Everything forwarded before the refusal reached the upstream, and nothing after it.
    for (let i = 0; i < 400 && received.length < 1 + MAX_PENDING_HOLDS; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(received).toHaveLength(1 + MAX_PENDING_HOLDS);
    expect(received).not.toContain('one-too-many');
  });

  it('answers the allowance’s refusal, or STORE_UNAVAILABLE, and forwards nothing', async () => {
    const received: unknown[] = [];
    let calls = 0;
    const socket = await session(() => {
      calls++;
      return calls === 1
        ? Promise.resolve<ReserveOutcome>({ kind: 'refused', reason: 'ALLOWANCE_EXCEEDED' })
        : Promise.reject(new Error('store down'));
    }, received);
    socket.send(order('a'));
    expect(await socket.next()).toMatchObject({
      id: 'a',
      status: 403,
      error: { code: 'ALLOWANCE_EXCEEDED' },
    });
    socket.send(order('b'));
    expect(await socket.next()).toMatchObject({
      id: 'b',
      status: 503,
      error: { code: 'STORE_UNAVAILABLE' },
    });
    expect(received).toEqual([]);
  });

  it('without an allowance service such orders are refused (fail closed); a cancel passes', async () => {
    const received: unknown[] = [];
    const socket = await session(undefined, received);
    socket.send(order('a'));
    expect(await socket.next()).toMatchObject({ error: { code: 'ALLOWANCE_EXCEEDED' } });
    socket.send({ id: 'c', method: 'order.cancel', params: { orderId: 'ord_1' } });
    expect(await socket.next()).toMatchObject({ id: 'c', status: 200 });
    expect(received).toEqual(['c']);
  });
});
