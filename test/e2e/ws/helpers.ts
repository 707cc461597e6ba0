/**
 * Helpers for the WebSocket e2e suite: a test socket with a message queue and a close promise,
 * and the login messages of every dialect signed as their exchanges define them.
 */
import { createHmac, sign, type KeyObject } from 'node:crypto';
import { expect } from 'vitest';
import { WebSocket, type RawData } from 'ws';
import { signNativeWsLogin } from '../../../src/client/ws-login.js';

export interface CloseInfo {
  readonly code: number;
  readonly reason: string;
}

export interface TestSocket {
  readonly ws: WebSocket;
  send(value: unknown): void;
  /** The next message (parsed JSON), waiting for it when none is queued. */
  next(): Promise<Record<string, unknown>>;
  /** The next message matching `test`, skipping others. */
  nextMatching(test: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
  readonly closed: Promise<CloseInfo>;
  close(): void;
}

export type Upgrade =
  | { readonly ok: true; readonly socket: TestSocket }
  | { readonly ok: false; readonly status: number; readonly body: string };

/** Opens a WebSocket; resolves with the refusal (status, body) when the upgrade is refused. */
export function openWs(url: string, headers: Record<string, string> = {}): Promise<Upgrade> {
  const ws = new WebSocket(url, { headers });
  const queue: Record<string, unknown>[] = [];
  const waiters: ((m: Record<string, unknown>) => void)[] = [];
  ws.on('message', (data) => {
    const value = JSON.parse(textOf(data)) as Record<string, unknown>;
    const waiter = waiters.shift();
    if (waiter) waiter(value);
    else queue.push(value);
  });
  const closed = new Promise<CloseInfo>((resolve) => {
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  const next = (): Promise<Record<string, unknown>> => {
    const queued = queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => waiters.push(resolve));
  };
  const socket: TestSocket = {
    ws,
    send: (value) => ws.send(typeof value === 'string' ? value : JSON.stringify(value)),
    next,
    async nextMatching(test) {
      for (;;) {
        const m = await next();
        if (test(m)) return m;
      }
    },
    closed,
    close: () => ws.close(),
  };
  return new Promise((resolve) => {
    ws.once('open', () => resolve({ ok: true, socket }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ ok: false, status: res.statusCode ?? 0, body }));
    });
    ws.once('error', () => undefined);
  });
}

/** Opens and expects the upgrade to succeed. */
export async function mustOpen(url: string, headers?: Record<string, string>): Promise<TestSocket> {
  const result = await openWs(url, headers);
  if (!result.ok) throw new Error(`upgrade refused: ${result.status} ${result.body}`);
  return result.socket;
}

/** Binance `session.logon` (Ed25519 only): sorted `apiKey=…&timestamp=…`, base64 signature. */
export function binanceLogon(keyId: string, privateKey: KeyObject, timestamp = Date.now()) {
  const payload = `apiKey=${keyId}&timestamp=${timestamp}`;
  return {
    id: 'logon-1',
    method: 'session.logon',
    params: {
      apiKey: keyId,
      timestamp,
      signature: sign(null, Buffer.from(payload), privateKey).toString('base64'),
    },
  };
}

/** Bybit `auth`: hex HMAC-SHA256 of `GET/realtime` + expires (ms). */
export function bybitAuth(keyId: string, secret: string, expires = Date.now() + 10_000) {
  const signature = createHmac('sha256', secret).update(`GET/realtime${expires}`).digest('hex');
  return { req_id: 'auth-1', op: 'auth', args: [keyId, expires, signature] };
}

/** OKX `login`: base64 HMAC-SHA256 of timestamp (s) + 'GET' + '/users/self/verify'. */
export function okxLogin(
  keyId: string,
  secret: string,
  passphrase: string,
  timestamp = Math.floor(Date.now() / 1000),
) {
  const sign = createHmac('sha256', secret)
    .update(`${timestamp}GET/users/self/verify`)
    .digest('base64');
  return { op: 'login', args: [{ apiKey: keyId, passphrase, timestamp: String(timestamp), sign }] };
}

export const wsUrlOf = (httpUrl: string): string => `${httpUrl.replace(/^http/, 'ws')}/ws`;

/** Opens a session at `wsUrl` and logs in natively (sandbox) with an HMAC key's secret. */
export async function nativeLogin(
  wsUrl: string,
  key: { readonly id: string; readonly secret?: string | undefined },
  nowMs = Date.now(),
): Promise<TestSocket> {
  const socket = await mustOpen(wsUrl);
  socket.send(
    signNativeWsLogin({
      key: { keyId: key.id, secret: key.secret ?? '' },
      environment: 'sandbox',
      createdSeconds: Math.floor(nowMs / 1000),
    }),
  );
  expect(await socket.next()).toMatchObject({ id: 'login', status: 200 });
  return socket;
}

/** The UTF-8 text of a ws message, whichever buffer form ws delivered it in. */
export function textOf(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
