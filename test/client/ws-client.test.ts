/**
 * The SDK's WebSocket client against a scripted server: it logs in with a verifiable native
 * login, re-connects after a transient close and subscribes its streams again, rejects refused
 * requests with their reason code, and stops after a final close code, saying why.
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  PortcullisWsClient,
  PortcullisWsError,
  type WsCloseInfo,
} from '../../src/client/ws-client.js';
import { parseWsLogin, verifyWsLogin } from '../../src/core/ws/ws-login.js';

const SECRET = 'psk_test_client_secret';

interface Script {
  readonly url: string;
  readonly connections: WebSocket[];
  readonly received: Record<string, unknown>[];
  close(): Promise<void>;
}

const scripts: Script[] = [];
afterEach(async () => {
  await Promise.all(scripts.splice(0).map((s) => s.close()));
});

/** Verifies logins like the gateway, answers ok, refuses `order.place` with SCOPE_MISSING. */
async function scriptedServer(): Promise<Script> {
  const server = createServer();
  const wss = new WebSocketServer({ server });
  const connections: WebSocket[] = [];
  const received: Record<string, unknown>[] = [];
  wss.on('connection', (ws) => {
    connections.push(ws);
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString('utf8')) as Record<string, unknown>;
      received.push(message);
      const login = parseWsLogin(message, 'sandbox');
      if (login !== undefined) {
        const ok =
          login.ok &&
          verifyWsLogin(login.login, { scheme: 'hmac', secrets: [Buffer.from(SECRET)] }) === 0;
        ws.send(JSON.stringify({ id: message.id, status: ok ? 200 : 401, result: {} }));
        return;
      }
      if (message.method === 'order.place') {
        ws.send(JSON.stringify({ id: message.id, status: 403, error: { code: 'SCOPE_MISSING' } }));
        return;
      }
      ws.send(JSON.stringify({ id: message.id, status: 200, result: { ok: true } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const script: Script = {
    url: `ws://127.0.0.1:${port}/ws`,
    connections,
    received,
    async close() {
      for (const ws of wss.clients) ws.terminate();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  scripts.push(script);
  return script;
}

const client = (url: string) =>
  new PortcullisWsClient({
    url,
    auth: { kind: 'login', keyId: 'pk_test_client', secret: SECRET, environment: 'sandbox' },
    initialBackoffMs: 10,
    maxBackoffMs: 20,
  });

describe('PortcullisWsClient', () => {
  it('re-connects after 1001 GOING_AWAY, logs in again and re-subscribes its streams', async () => {
    const script = await scriptedServer();
    const ws = client(script.url);
    await ws.connect();
    await ws.subscribe(['orders', 'balances']);
    const closed = once(ws, 'close') as Promise<[WsCloseInfo]>;
    const reopened = once(ws, 'open');
    script.connections[0]?.close(1001, 'GOING_AWAY');
    expect((await closed)[0]).toEqual({ code: 1001, reason: 'GOING_AWAY', willReconnect: true });
    await reopened;
    const methods = script.received.map((m) => m.method);
    expect(methods).toEqual(['login', 'subscribe', 'login', 'subscribe']);
    expect(script.received[3]).toMatchObject({ params: { streams: ['orders', 'balances'] } });
    ws.close();
  });

  it('rejects a refused request with its reason code', async () => {
    const script = await scriptedServer();
    const ws = client(script.url);
    await ws.connect();
    const refused = await ws.request('order.place', {}).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PortcullisWsError);
    expect(refused).toMatchObject({ code: 'SCOPE_MISSING', status: 403 });
    ws.close();
  });

  it('does not re-connect after 4001 KEY_REVOKED and says why', async () => {
    const script = await scriptedServer();
    const ws = client(script.url);
    await ws.connect();
    const closed = once(ws, 'close') as Promise<[WsCloseInfo]>;
    script.connections[0]?.close(4001, 'KEY_REVOKED');
    expect((await closed)[0]).toEqual({ code: 4001, reason: 'KEY_REVOKED', willReconnect: false });
  });
});
