/**
 * Issue 9 part B against a real process: every login dialect, token and ticket upgrades,
 * per-message authorization with reason codes, relay of sandbox order and balance events, a key
 * revoked or narrowed through the CLI while its session streams orders, oversized frames and
 * connection caps. (Slow consumers: ws-backpressure.test.ts.)
 */
import { generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { signNativeRequest } from '../../../src/core/signing/native/index.js';
import { signNativeWsLogin } from '../../../src/client/ws-login.js';
import { PortcullisWsClient, type WsCloseInfo } from '../../../src/client/ws-client.js';
import {
  cliCreateAccount,
  cliCreateKey,
  cliJson,
  cliRevokeKey,
  type CliKey,
} from '../../helpers/cli-keys.js';
import { startServer, type ServerHandle } from '../../helpers/server-process.js';
import { writeConfig } from '../data-plane/helpers.js';
import {
  binanceLogon,
  bybitAuth,
  mustOpen,
  nativeLogin,
  okxLogin,
  openWs,
  textOf,
  wsUrlOf,
  type TestSocket,
} from './helpers.js';

// Every CLI call is a process start; on a loaded machine one test takes several of them.
vi.setConfig({ testTimeout: 120_000 });

let server: ServerHandle;
let httpUrl: string;
let wsUrl: string;
let accountId: string;
let configDir: string | undefined;

const ORDER = { symbol: 'BTCUSDT', side: 'buy', type: 'limit', quantity: '0.001', price: '1' };
// The same with IOC, for streams of orders: each expires at once, so a stream never reaches the
// sandbox's bound on resting orders (200 per account and market) however long it runs.
const STREAMED_ORDER = { ...ORDER, timeInForce: 'IOC' };
const nowSeconds = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ws-'));
  configDir = dir;
  const config = writeConfig(dir, {
    environments: { sandbox: { limits: { enabled: false } } },
    dataPlane: {
      websocket: {
        maxConnectionsPerKey: 3,
        maxConnectionsPerIp: 12,
        maxPayloadBytes: 4096,
        maxMessagesPerSecond: 10_000,
      },
    },
  });
  server = await startServer({ args: ['--config', config] });
  httpUrl = server.info.dataPlanes.sandbox!.url;
  wsUrl = wsUrlOf(httpUrl);
  accountId = await cliCreateAccount(server.dataDir);
}, 90_000);

afterAll(async () => {
  await server?.cleanup();
  if (configDir !== undefined) rmSync(configDir, { recursive: true, force: true });
});

const newKey = (scopes = 'read,trade', extra: string[] = []): Promise<CliKey> =>
  cliCreateKey(server.dataDir, { accountId, scopes, extra });

function ed25519Key(): { privateKey: KeyObject; file: string } {
  const pair = generateKeyPairSync('ed25519');
  const file = join(server.dataDir, `pub-${randomBytes(4).toString('hex')}.pem`);
  writeFileSync(file, pair.publicKey.export({ type: 'spki', format: 'pem' }));
  return { privateKey: pair.privateKey, file };
}

/** Opens a session and logs in natively with the key's HMAC secret. */
const nativeSession = (key: CliKey): Promise<TestSocket> => nativeLogin(wsUrl, key);

describe('login dialects', () => {
  it('native HMAC login, then an order through the sandbox with its order and balance events', async () => {
    const key = await newKey();
    const socket = await nativeSession(key);
    socket.send({ id: 's1', method: 'subscribe', params: { streams: ['orders', 'balances'] } });
    expect(await socket.next()).toMatchObject({ id: 's1', status: 200 });
    socket.send({ id: 'o1', method: 'order.place', params: ORDER });
    const seen = [await socket.next(), await socket.next(), await socket.next()];
    expect(seen.find((m) => m.id === 'o1')).toMatchObject({
      status: 200,
      result: { symbol: 'BTCUSDT', status: 'open' },
    });
    expect(seen.find((m) => m.stream === 'orders')).toMatchObject({ data: { status: 'open' } });
    expect(seen.find((m) => m.stream === 'balances')).toBeDefined();
    const placed = seen.find((m) => m.id === 'o1') as { result: { id: string } };
    socket.send({ id: 'c1', method: 'order.cancel', params: { orderId: placed.result.id } });
    const cancel = await socket.nextMatching((m) => m.id === 'c1');
    expect(cancel).toMatchObject({ status: 200, result: { status: 'canceled' } });
    socket.close();
  });

  it('native Ed25519 login', async () => {
    const { privateKey, file } = ed25519Key();
    const key = await newKey('read,trade', ['--public-key', file]);
    const socket = await mustOpen(wsUrl);
    socket.send(
      signNativeWsLogin({
        key: { keyId: key.id, privateKey },
        environment: 'sandbox',
        createdSeconds: nowSeconds(),
      }),
    );
    expect(await socket.next()).toMatchObject({ status: 200, result: { keyId: key.id } });
    socket.close();
  });

  it('Binance session.logon with an Ed25519 key', async () => {
    const { privateKey, file } = ed25519Key();
    const key = await newKey('read,trade', ['--public-key', file]);
    const socket = await mustOpen(wsUrl);
    socket.send(binanceLogon(key.id, privateKey));
    expect(await socket.next()).toMatchObject({
      id: 'logon-1',
      status: 200,
      result: { apiKey: key.id },
    });
    socket.send({ id: 'p', method: 'order.place', params: ORDER });
    expect(await socket.nextMatching((m) => m.id === 'p')).toMatchObject({ status: 200 });
    socket.close();
  });

  it('Bybit auth with an HMAC key', async () => {
    const key = await newKey();
    const socket = await mustOpen(wsUrl);
    socket.send(bybitAuth(key.id, key.secret as string));
    expect(await socket.next()).toMatchObject({ success: true, op: 'auth', req_id: 'auth-1' });
    socket.close();
  });

  it('OKX login with key, passphrase and signature', async () => {
    const key = await newKey('read,trade', ['--passphrase', 'pass-phrase-1']);
    const socket = await mustOpen(wsUrl);
    socket.send(okxLogin(key.id, key.secret as string, 'pass-phrase-1'));
    expect(await socket.next()).toMatchObject({ event: 'login', code: '0' });
    socket.close();
  });

  it.each([
    ['a wrong Bybit signature', 'SIGNATURE_INVALID'],
    ['a wrong OKX passphrase', 'PASSPHRASE_INVALID'],
    ['a replayed native login', 'NONCE_REPLAYED'],
    ['an order before any login', 'CREDENTIALS_MISSING'],
    ['a stale native login', 'TIMESTAMP_OUTSIDE_WINDOW'],
  ] as const)('refuses %s with close 4009 and reason %s', async (what, reason) => {
    const key = await newKey('read,trade', ['--passphrase', 'pass-phrase-1']);
    const secret = key.secret as string;
    const login = signNativeWsLogin({
      key: { keyId: key.id, secret },
      environment: 'sandbox',
      createdSeconds: what === 'a stale native login' ? nowSeconds() - 600 : nowSeconds(),
    });
    if (what === 'a replayed native login') {
      const first = await mustOpen(wsUrl);
      first.send(login);
      expect(await first.next()).toMatchObject({ status: 200 });
      first.close();
    }
    const socket = await mustOpen(wsUrl);
    const message =
      what === 'a wrong Bybit signature'
        ? bybitAuth(key.id, 'not-the-secret')
        : what === 'a wrong OKX passphrase'
          ? okxLogin(key.id, secret, 'wrong-passphrase')
          : what === 'an order before any login'
            ? { id: 1, method: 'order.place', params: ORDER }
            : login;
    socket.send(message);
    const closed = await socket.closed;
    expect(closed).toEqual({ code: 4009, reason: `LOGIN_FAILED:${reason}` });
  });
});

describe('tokens and tickets at the upgrade', () => {
  async function signedForm(key: CliKey, path: string, form: Record<string, string>) {
    const body = new URLSearchParams(form).toString();
    const headers = signNativeRequest({
      method: 'POST',
      path,
      rawQuery: null,
      body,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      keyId: key.id,
      secret: key.secret as string,
      createdSeconds: nowSeconds(),
      nonce: randomBytes(12).toString('base64url'),
    });
    const response = await fetch(`${httpUrl}${path}`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    return (await response.json()) as Record<string, unknown>;
  }

  it('a Bearer token narrowed to read: subscribe allowed, order refused SCOPE_MISSING', async () => {
    const key = await newKey();
    const token = await signedForm(key, '/oauth/token', {
      grant_type: 'client_credentials',
      scope: 'read',
    });
    const socket = await mustOpen(wsUrl, { authorization: `Bearer ${String(token.access_token)}` });
    socket.send({ id: 1, method: 'subscribe', params: { streams: ['orders'] } });
    expect(await socket.next()).toMatchObject({ id: 1, status: 200 });
    socket.send({ id: 2, method: 'order.place', params: ORDER });
    expect(await socket.next()).toMatchObject({
      id: 2,
      status: 403,
      error: { code: 'SCOPE_MISSING' },
    });
    socket.close();
  });

  it('a ticket is single use; a bad token is refused at the upgrade', async () => {
    const key = await newKey();
    const token = await signedForm(key, '/oauth/token', { grant_type: 'client_credentials' });
    const response = await fetch(`${httpUrl}/oauth/ticket`, {
      method: 'POST',
      headers: { authorization: `Bearer ${String(token.access_token)}` },
    });
    const { ticket } = (await response.json()) as { ticket: string };
    const first = await mustOpen(`${wsUrl}?ticket=${ticket}`);
    first.send({ id: 1, method: 'ping' });
    expect(await first.next()).toMatchObject({ id: 1, status: 200 });
    first.close();
    const second = await openWs(`${wsUrl}?ticket=${ticket}`);
    expect(second.ok).toBe(false);
    const bad = await openWs(wsUrl, { authorization: 'Bearer not.a.token' });
    expect(bad).toMatchObject({ ok: false, status: 401 });
  });

  it('revoking a token (/oauth/revoke) ends the sessions opened with it, and only those', async () => {
    const key = await newKey();
    const revoked = await signedForm(key, '/oauth/token', { grant_type: 'client_credentials' });
    const kept = await signedForm(key, '/oauth/token', { grant_type: 'client_credentials' });
    const socket = await mustOpen(wsUrl, {
      authorization: `Bearer ${String(revoked.access_token)}`,
    });
    const other = await mustOpen(wsUrl, { authorization: `Bearer ${String(kept.access_token)}` });
    socket.send({ id: 1, method: 'ping' });
    expect(await socket.next()).toMatchObject({ id: 1, status: 200 });
    await signedForm(key, '/oauth/revoke', { token: String(revoked.access_token) });
    expect(await socket.closed).toEqual({ code: 4001, reason: 'TOKEN_REVOKED' });
    other.send({ id: 2, method: 'ping' });
    expect(await other.next()).toMatchObject({ id: 2, status: 200 });
    other.close();
    // The revoked token cannot open a new session either.
    const again = await openWs(wsUrl, { authorization: `Bearer ${String(revoked.access_token)}` });
    expect(again).toMatchObject({ ok: false, status: 401 });
  });

  it('the SDK client connects with a token from a function and surfaces the close reason', async () => {
    const key = await newKey();
    const client = new PortcullisWsClient({
      url: wsUrl,
      auth: {
        kind: 'token',
        token: async () =>
          String(
            (await signedForm(key, '/oauth/token', { grant_type: 'client_credentials' }))
              .access_token,
          ),
      },
    });
    await client.connect();
    await client.subscribe(['orders']);
    const result = (await client.request('order.place', ORDER)) as { status: string };
    expect(result.status).toBe('open');
    const closed = new Promise<WsCloseInfo>((resolve) => client.once('close', resolve));
    await cliRevokeKey(server.dataDir, key.id);
    expect(await closed).toEqual({ code: 4001, reason: 'KEY_REVOKED', willReconnect: false });
  });
});

describe('per-message authorization', () => {
  it.each([
    ['an unknown method', { id: 1, method: 'withdraw.all' }, 'ROUTE_UNKNOWN', 404],
    [
      'a malformed cancel',
      { id: 1, method: 'order.cancel', params: { orderId: '../x' } },
      'BAD_REQUEST',
      400,
    ],
    [
      'an unknown stream',
      { id: 1, method: 'subscribe', params: { streams: ['trades'] } },
      'BAD_REQUEST',
      400,
    ],
    ['a duplicate JSON key', '{"id":1,"method":"ping","method":"order.place"}', 'BAD_REQUEST', 400],
  ] as const)(
    'refuses %s with %s and keeps the session',
    async (_what, message, reason, status) => {
      const key = await newKey();
      const socket = await nativeSession(key);
      socket.send(message);
      const answer = await socket.next();
      expect(answer).toMatchObject({ status, error: { code: reason } });
      socket.send({ id: 'after', method: 'ping' });
      expect(await socket.next()).toMatchObject({ id: 'after', status: 200 });
      socket.close();
    },
  );

  it('a read-only key may subscribe but not place orders (SCOPE_MISSING)', async () => {
    const key = await newKey('read');
    const socket = await nativeSession(key);
    socket.send({ id: 1, method: 'order.place', params: ORDER });
    expect(await socket.next()).toMatchObject({ status: 403, error: { code: 'SCOPE_MISSING' } });
    socket.send({ id: 2, method: 'subscribe', params: { streams: ['balances'] } });
    expect(await socket.next()).toMatchObject({ id: 2, status: 200 });
    socket.close();
  });
});

describe('key changes on live sessions', () => {
  it('a key revoked through the CLI while streaming orders is cut off within 1 s', async () => {
    const key = await newKey();
    const socket = await nativeSession(key);
    socket.send({ id: 's', method: 'subscribe', params: { streams: ['orders'] } });
    await socket.nextMatching((m) => m.id === 's');
    let sent = 0;
    let closedAtMs = 0;
    const closed = socket.closed.then((info) => {
      closedAtMs = Date.now();
      return info;
    });
    // Stream orders until the session ends.
    const pump = setInterval(() => {
      if (socket.ws.readyState === socket.ws.OPEN) {
        socket.send({ id: `o${sent++}`, method: 'order.place', params: STREAMED_ORDER });
      }
    }, 5);
    const refused: Record<string, unknown>[] = [];
    let firstEvent: () => void = () => undefined;
    const streaming = new Promise<void>((resolve) => (firstEvent = resolve));
    socket.ws.on('message', (data) => {
      const m = JSON.parse(textOf(data)) as Record<string, unknown>;
      if (m.error !== undefined) refused.push(m);
      if (m.stream === 'orders') firstEvent();
    });
    await streaming;
    const revoked = await cliRevokeKey(server.dataDir, key.id);
    const info = await closed;
    clearInterval(pump);
    // The server stamps revokedAt when the revocation commits; same machine, same wall clock.
    const cutoffMs = closedAtMs - Date.parse(String(revoked.revokedAt));
    console.log(
      `ws_revocation_cutoff: ${cutoffMs} ms from the revocation's commit (revokedAt) to the client's close; ${sent} orders sent while streaming`,
    );
    expect(info).toEqual({ code: 4001, reason: 'KEY_REVOKED' });
    expect(cutoffMs).toBeLessThan(1000);
    expect(refused.every((m) => (m.error as { code: string }).code === 'KEY_REVOKED')).toBe(true);
  }, 90_000);

  it('removing one scope downgrades the session; its streams are unsubscribed', async () => {
    const key = await newKey();
    const socket = await nativeSession(key);
    socket.send({ id: 's', method: 'subscribe', params: { streams: ['orders'] } });
    await socket.nextMatching((m) => m.id === 's');
    await cliJson(['keys', 'update', key.id, '--scopes', 'trade'], server.dataDir);
    const downgraded = await socket.nextMatching((m) => m.event === 'session.downgraded');
    expect(downgraded).toMatchObject({ scopes: ['trade'], removed: ['read'] });
    socket.send({ id: 'r', method: 'subscribe', params: { streams: ['orders'] } });
    expect(await socket.nextMatching((m) => m.id === 'r')).toMatchObject({
      error: { code: 'SCOPE_MISSING' },
    });
    socket.send({ id: 'o', method: 'order.place', params: ORDER });
    expect(await socket.nextMatching((m) => m.id === 'o')).toMatchObject({ status: 200 });
    socket.close();
  });

  it('a session whose scopes are all removed is closed 4003 SCOPES_REMOVED', async () => {
    const key = await newKey();
    const socket = await nativeSession(key);
    await cliJson(['keys', 'update', key.id, '--scopes', 'withdraw'], server.dataDir);
    expect(await socket.closed).toEqual({ code: 4003, reason: 'SCOPES_REMOVED' });
  });
});

describe('frames and caps', () => {
  it('closes a frame over maxPayloadBytes with 1009', async () => {
    const key = await newKey();
    const socket = await nativeSession(key);
    socket.send({ id: 1, method: 'ping', params: { pad: 'x'.repeat(8000) } });
    expect((await socket.closed).code).toBe(1009);
  });

  it('a key gets at most maxConnectionsPerKey sessions (4029)', async () => {
    const key = await newKey();
    const sessions = [await nativeSession(key), await nativeSession(key), await nativeSession(key)];
    const extra = await mustOpen(wsUrl);
    extra.send(
      signNativeWsLogin({
        key: { keyId: key.id, secret: key.secret as string },
        environment: 'sandbox',
        createdSeconds: nowSeconds(),
      }),
    );
    expect(await extra.closed).toEqual({ code: 4029, reason: 'KEY_CONNECTION_LIMIT' });
    for (const s of sessions) s.close();
    await Promise.all(sessions.map((s) => s.closed));
  });

  it('an address gets at most maxConnectionsPerIp connections (429 at the upgrade)', async () => {
    const open: TestSocket[] = [];
    for (let i = 0; i < 12; i++) open.push(await mustOpen(wsUrl));
    const refused = await openWs(wsUrl);
    expect(refused).toMatchObject({ ok: false, status: 429 });
    expect(refused.ok ? '' : refused.body).toContain('IP_CONNECTION_LIMIT');
    for (const s of open) s.close();
    await Promise.all(open.map((s) => s.closed));
  });
});
