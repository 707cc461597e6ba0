/**
 * The gateway in process, in front of a scripted upstream WebSocket: slow consumers are closed
 * instead of buffered without bound, the per-connection message-rate cap, idle timeout, and a
 * change event that ends a revoked key's session. The clock is injected and does not move unless
 * a test moves it, so the rate windows are deterministic.
 */
import { EventEmitter, once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { createLocalEvents } from '../../../src/app/local-events.js';
import { signNativeWsLogin } from '../../../src/client/ws-login.js';
import type { ApiKey } from '../../../src/core/keys/model.js';
import type { CachedKey, KeyLookup } from '../../../src/core/pipeline.js';
import {
  createWsGateway,
  type WsGateway,
  type WsGatewayOptions,
} from '../../../src/server/ws/ws-gateway.js';
import { createManualClock } from '../../helpers/manual-clock.js';
import { apiKey, hmacKey, SECRET } from '../../core/pipeline-fixtures.js';
import { mustOpen, type TestSocket } from '../../e2e/ws/helpers.js';
import { sandboxAuthorize, TEST_WS_OPTIONS } from './authorize-deps.js';

const OPTIONS = TEST_WS_OPTIONS;

interface Harness {
  readonly url: string;
  readonly gateway: WsGateway;
  readonly keys: Map<string, CachedKey>;
  readonly events: ReturnType<typeof createLocalEvents>;
  readonly closes: EventEmitter;
  close(): Promise<void>;
}

const harnesses: Harness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

/** An upstream that answers every request and, on `subscribe`, floods 64 KiB events. */
async function startUpstream(): Promise<{ url: string; server: Server }> {
  const server = createServer();
  const wss = new WebSocketServer({ server });
  const frame = JSON.stringify({ stream: 'orders', data: { pad: 'x'.repeat(65_536) } });
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer) => {
      const request = JSON.parse(data.toString('utf8')) as { id: unknown; method: string };
      ws.send(JSON.stringify({ id: request.id, status: 200, result: {} }));
      if (request.method !== 'subscribe') return;
      // Far more than the gateway may buffer for a client that does not read.
      for (let i = 0; i < 400 && ws.readyState === ws.OPEN; i++) ws.send(frame);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  server.on('close', () => wss.close());
  return { url: `ws://127.0.0.1:${port}/ws`, server };
}

async function harness(options: Partial<WsGatewayOptions> = {}, key: ApiKey = apiKey()) {
  const clock = createManualClock(Date.now());
  const upstream = await startUpstream();
  const keys = new Map([[key.id, hmacKey(key)]]);
  const lookup: KeyLookup = { get: (id) => keys.get(id) };
  const events = createLocalEvents();
  const closes = new EventEmitter();
  const gateway = createWsGateway(
    {
      authorize: sandboxAuthorize(lookup, clock),
      clock,
      clientIp: (peer) => peer,
      upstream: { url: upstream.url, headers: {} },
      events,
      onClose: (reason) => closes.emit(reason),
    },
    { ...OPTIONS, ...options },
  );
  const server = createServer();
  server.on('upgrade', (request, socket, head: Buffer) =>
    gateway.handleUpgrade(request, socket, head),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const h: Harness = {
    url: `ws://127.0.0.1:${port}/ws`,
    gateway,
    keys,
    events,
    closes,
    async close() {
      gateway.close();
      server.closeAllConnections();
      upstream.server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await new Promise((resolve) => upstream.server.close(resolve));
    },
  };
  harnesses.push(h);
  return { h, clock, key };
}

async function login(url: string, key: ApiKey, nowMs: number): Promise<TestSocket> {
  const socket = await mustOpen(url);
  socket.send(
    signNativeWsLogin({
      key: { keyId: key.id, secret: SECRET },
      environment: 'sandbox',
      createdSeconds: Math.floor(nowMs / 1000),
    }),
  );
  expect(await socket.next()).toMatchObject({ status: 200 });
  return socket;
}

describe('backpressure', () => {
  it('closes a client that stops reading instead of buffering the upstream flood', async () => {
    const { h, clock, key } = await harness();
    const socket = await login(h.url, key, clock.now());
    socket.ws.pause();
    socket.send({ id: 's', method: 'subscribe', params: { streams: ['orders'] } });
    await once(h.closes, 'SLOW_CONSUMER');
    socket.ws.resume();
    const closed = await socket.closed;
    expect(h.gateway.stats().closes).toMatchObject({ SLOW_CONSUMER: 1 });
    // The close frame queues behind what the client did not read; the socket is cut after 1 s.
    expect([1006, 1008]).toContain(closed.code);
  });
});

describe('per-connection message rate', () => {
  it('refuses messages over the cap with RATE_LIMITED and closes at twice the cap', async () => {
    const { h, clock, key } = await harness();
    const socket = await login(h.url, key, clock.now());
    // The login was message 1 of this second; 4 more fit under the cap of 5.
    for (let i = 0; i < 9; i++) socket.send({ id: i, method: 'ping' });
    const answers = [];
    for (let i = 0; i < 9; i++) answers.push(await socket.next());
    expect(answers.map((a) => (a.error as { code?: string } | undefined)?.code ?? 'ok')).toEqual([
      'ok',
      'ok',
      'ok',
      'ok',
      'RATE_LIMITED',
      'RATE_LIMITED',
      'RATE_LIMITED',
      'RATE_LIMITED',
      'RATE_LIMITED',
    ]);
    socket.send({ id: 'x', method: 'ping' });
    expect(await socket.closed).toEqual({ code: 1008, reason: 'MESSAGE_RATE_EXCEEDED' });
  });

  it('a new second starts a new window', async () => {
    const { h, clock, key } = await harness();
    const socket = await login(h.url, key, clock.now());
    for (let i = 0; i < 4; i++) socket.send({ id: i, method: 'ping' });
    for (let i = 0; i < 4; i++) await socket.next();
    clock.advance(1000);
    socket.send({ id: 'next', method: 'ping' });
    expect(await socket.next()).toMatchObject({ id: 'next', status: 200 });
  });
});

describe('key changes', () => {
  it('a key.changed event for a revoked key closes its session 4001 KEY_REVOKED', async () => {
    const { h, clock, key } = await harness();
    const socket = await login(h.url, key, clock.now());
    h.keys.set(key.id, hmacKey({ ...key, status: 'revoked', revokedAt: clock.now() }));
    h.events.publish({ type: 'key.changed', keyId: key.id, epoch: 2 });
    expect(await socket.closed).toEqual({ code: 4001, reason: 'KEY_REVOKED' });
    expect(h.gateway.stats().sessions).toBe(0);
  });

  it('a key that expires is closed 4002 by the sweep, without any event', async () => {
    const { h, clock, key } = await harness(
      { recheckIntervalMs: 50 },
      apiKey({ expiresAt: Date.now() + 60_000 }),
    );
    const socket = await login(h.url, key, clock.now());
    clock.advance(61_000);
    expect(await socket.closed).toEqual({ code: 4002, reason: 'KEY_EXPIRED' });
  });
});

describe('timeouts', () => {
  it('a connection that never logs in is closed 4008 LOGIN_TIMEOUT', async () => {
    const { h } = await harness({ loginTimeoutMs: 100 });
    const socket = await mustOpen(h.url);
    expect(await socket.closed).toEqual({ code: 4008, reason: 'LOGIN_TIMEOUT' });
  });

  it('an idle session is closed 4000 IDLE_TIMEOUT by the heartbeat', async () => {
    const { h, clock, key } = await harness({ heartbeatIntervalMs: 50, idleTimeoutMs: 10_000 });
    const socket = await login(h.url, key, clock.now());
    clock.advance(11_000);
    expect(await socket.closed).toEqual({ code: 4000, reason: 'IDLE_TIMEOUT' });
  });
});
