/**
 * The SDK's WebSocket client (docs/sdk.md, docs/websocket.md): connects with an access token or a
 * signed native login, sends requests and matches answers by id, re-connects with exponential
 * backoff and re-subscribes, and surfaces every close code and reason.
 */
import type { KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { WebSocket, type RawData } from 'ws';
import type { Environment } from '../core/keys/model.js';
import { toSigningKey, type SigningKey } from './sign-request.js';
import { signNativeWsLogin } from './ws-login.js';

export type WsClientAuth =
  | { readonly kind: 'token'; readonly token: string | (() => Promise<string>) }
  | {
      readonly kind: 'login';
      readonly keyId: string;
      readonly secret?: string;
      readonly privateKey?: string | KeyObject;
      readonly environment: Environment;
    };

export interface WsClientOptions {
  /** The gateway's WebSocket URL, e.g. `ws://127.0.0.1:8090/ws`. */
  readonly url: string;
  readonly auth: WsClientAuth;
  /** First re-connect delay; doubles up to `maxBackoffMs`, with jitter. Default 250 ms. */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Give up after this many consecutive failed attempts (default: never). */
  readonly maxReconnects?: number;
  /** Clock in seconds for the login's `created` (tests inject one). */
  readonly nowSeconds?: () => number;
  /** Per-request answer timeout (default 10 s). */
  readonly requestTimeoutMs?: number;
}

/** How a connection ended, as the gateway said it. */
export interface WsCloseInfo {
  readonly code: number;
  readonly reason: string;
  /** Whether the client will try again (false for revoked keys, removed scopes, refused logins). */
  readonly willReconnect: boolean;
}

/** A refused request: the reason code the gateway answered with. */
export class PortcullisWsError extends Error {
  override readonly name = 'PortcullisWsError';
  constructor(
    readonly code: string,
    readonly status: number,
    readonly retryAfterMs?: number,
  ) {
    super(`WebSocket request refused: ${code}`);
  }
}

/** Close codes after which re-connecting with the same credentials cannot succeed. */
const FINAL_CODES = new Set([1008, 1009, 4001, 4003, 4004, 4005, 4006, 4009]);

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * Events: `open`, `event` (a stream event `{stream, data}`), `downgraded` (`{scopes, removed}`),
 * `close` (WsCloseInfo), `error`.
 */
export class PortcullisWsClient extends EventEmitter {
  private socket: WebSocket | undefined;
  private readonly pending = new Map<string, Pending>();
  private readonly streams = new Set<string>();
  private nextId = 1;
  private attempts = 0;
  private stopped = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly key: SigningKey | undefined;

  constructor(private readonly options: WsClientOptions) {
    super();
    const { auth } = options;
    this.key =
      auth.kind === 'login'
        ? toSigningKey({ keyId: auth.keyId, secret: auth.secret, privateKey: auth.privateKey })
        : undefined;
  }

  /** Opens the connection and logs in; resolves once requests can be sent. */
  async connect(): Promise<void> {
    this.stopped = false;
    const headers: Record<string, string> = {};
    const { auth } = this.options;
    if (auth.kind === 'token') {
      const token = typeof auth.token === 'string' ? auth.token : await auth.token();
      headers.authorization = `Bearer ${token}`;
    }
    const socket = new WebSocket(this.options.url, { headers });
    this.socket = socket;
    socket.on('message', (data: RawData) => this.onMessage(textOf(data)));
    socket.on('error', (error) => this.emit('error', error));
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('unexpected-response', (_request, response) => {
        reject(new PortcullisWsError(`HTTP_${response.statusCode ?? 0}`, response.statusCode ?? 0));
        socket.terminate();
      });
      socket.once('close', (code, reason) =>
        reject(new PortcullisWsError(reason.toString() || `CLOSED_${code}`, 0)),
      );
    });
    socket.on('close', (code, reason) => this.onClose(code, reason.toString()));
    if (this.key !== undefined && auth.kind === 'login') {
      const now = this.options.nowSeconds?.() ?? Math.floor(Date.now() / 1000);
      const login = signNativeWsLogin({
        key: this.key,
        environment: auth.environment,
        createdSeconds: now,
      });
      await this.call(login);
    }
    this.attempts = 0;
    if (this.streams.size > 0) await this.request('subscribe', { streams: [...this.streams] });
    this.emit('open');
  }

  /** Sends `{id, method, params}` and resolves with `result`, or rejects with the reason code. */
  request(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    return this.call({ id: `c${this.nextId++}`, method, params });
  }

  /** Subscribes to private streams; they are subscribed again after every re-connect. */
  async subscribe(streams: readonly string[]): Promise<unknown> {
    const result = await this.request('subscribe', { streams });
    for (const s of streams) this.streams.add(s);
    return result;
  }

  /** Closes for good (no re-connect). */
  close(): void {
    this.stopped = true;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.socket?.close(1000);
  }

  private call(message: Record<string, unknown>): Promise<unknown> {
    const socket = this.socket;
    if (socket?.readyState !== WebSocket.OPEN)
      return Promise.reject(new PortcullisWsError('NOT_CONNECTED', 0));
    const id = String(message.id);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new PortcullisWsError('TIMEOUT', 0));
      }, this.options.requestTimeoutMs ?? 10_000);
      this.pending.set(id, { resolve, reject, timer });
      socket.send(JSON.stringify(message));
    });
  }

  private onMessage(text: string): void {
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    if (typeof value.stream === 'string') {
      this.emit('event', value);
      return;
    }
    if (value.event === 'session.downgraded') {
      this.emit('downgraded', value);
      return;
    }
    const id =
      typeof value.id === 'string' || typeof value.id === 'number' ? String(value.id) : undefined;
    const pending = id === undefined ? undefined : this.pending.get(id);
    if (pending === undefined || id === undefined) return;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    const error = value.error as { code?: unknown; retryAfterMs?: unknown } | undefined;
    if (error !== undefined) {
      pending.reject(
        new PortcullisWsError(
          String(error.code),
          Number(value.status),
          typeof error.retryAfterMs === 'number' ? error.retryAfterMs : undefined,
        ),
      );
    } else pending.resolve(value.result);
  }

  private onClose(code: number, reason: string): void {
    for (const [id, pending] of this.pending) {
      clearTimeout(pending.timer);
      pending.reject(new PortcullisWsError(reason || `CLOSED_${code}`, 0));
      this.pending.delete(id);
    }
    const max = this.options.maxReconnects ?? Infinity;
    const willReconnect = !this.stopped && !FINAL_CODES.has(code) && this.attempts < max;
    this.emit('close', { code, reason, willReconnect } satisfies WsCloseInfo);
    if (willReconnect) this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const initial = this.options.initialBackoffMs ?? 250;
    const max = this.options.maxBackoffMs ?? 30_000;
    const delay = Math.min(max, initial * 2 ** this.attempts) * (0.5 + Math.random() / 2);
    this.attempts += 1;
    this.reconnectTimer = setTimeout(() => {
      this.connect().catch((error: unknown) => {
        this.emit('error', error);
        const max2 = this.options.maxReconnects ?? Infinity;
        if (!this.stopped && this.attempts < max2) this.scheduleReconnect();
      });
    }, delay);
  }
}

/** The UTF-8 text of a ws message, whichever buffer form ws delivered it in. */
function textOf(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
