/**
 * One client WebSocket session: login (when not authenticated at the upgrade), per-message
 * authorization, relay to and from the upstream WebSocket, message-rate cap and backpressure.
 * The gateway (ws-gateway.ts) owns the registry, timers and re-checks.
 */
import type { Duplex } from 'node:stream';
import { WebSocket, type RawData } from 'ws';
import { answerPlaced } from '../../core/dialects/answer-outcome.js';
import type { ApiKey, Scope } from '../../core/keys/model.js';
import { REASON_CATALOG, type ReasonCode } from '../../core/reasons.js';
import { parseStrictJson } from '../../core/strict-json.js';
import {
  FATAL_REASONS,
  authorizeWsMessage,
  type WsGrant,
  type WsVerdict,
} from '../../core/ws/authorize-message.js';
import { mapWsRequest, streamsOf, toWsRequest, type WsRequest } from '../../core/ws/ws-actions.js';
import { parseWsLogin } from '../../core/ws/ws-login.js';
import { verifyWsLoginMessage } from '../../core/ws/verify-ws-login.js';
import { WS_CLOSE, closeForReason, type WsCloseCode } from './close-codes.js';
import { coalesceWrites } from './coalesce-writes.js';
import { loginAccepted, loginRefused } from './login-replies.js';
import type { WsGatewayContext } from './ws-context.js';

/** How every stream event of the upstream begins. */
const STREAM_PREFIX = Buffer.from('{"stream"');
/** Queued client messages while the upstream connection opens. */
const MAX_QUEUED = 64;
/** Orders held against a spend allowance and not yet answered by the upstream, per session. */
export const MAX_PENDING_HOLDS = 256;
/**
 * An order the upstream has not answered in this time keeps its hold (it may have been placed:
 * the safe side), as a REST order whose answer timed out does. The default of
 * `dataPlane.websocket.holdAnswerTimeout`.
 */
export const HOLD_ANSWER_TIMEOUT_MS = 30_000;

/** A held order waiting for the upstream's answer to its message id. */
interface PendingHold {
  settle(outcome: 'commit' | 'release' | 'keep'): Promise<void>;
  readonly timer: NodeJS.Timeout;
}

export class WsSession {
  readonly id: string;
  readonly clientIp: string;
  grant: WsGrant | undefined;
  key: ApiKey | undefined;
  /** Scopes the session may use now (after any downgrade). */
  scopes: readonly Scope[] = [];
  /** Token expiry (epoch ms); null for signed logins. */
  expiresAtMs: number | null = null;
  readonly streams = new Set<string>();
  alive = true;
  lastActivityMs: number;
  closed = false;
  private upstream: WebSocket | undefined;
  private upstreamReady = false;
  private holdUpstream: () => void = noHold;
  private readonly holdClient: () => void;
  private readonly queued: (string | Buffer)[] = [];
  private chain: Promise<void> | undefined;
  private windowStartMs = 0;
  private windowCount = 0;
  private loginTimer: NodeJS.Timeout | undefined;
  /** The grant each message is authorized with: `grant` narrowed to `scopes` (kept, not rebuilt per message). */
  private messageGrant: WsGrant | undefined;
  /** Orders held against a spend allowance, by message id, until the upstream answers them. */
  private readonly holds = new Map<string, PendingHold>();
  /** Held orders still queued for an upstream that is opening: never sent if the session ends. */
  private readonly unsentHolds = new Set<string>();

  constructor(
    private readonly ctx: WsGatewayContext,
    readonly socket: WebSocket,
    init: { id: string; clientIp: string; transport?: Duplex },
  ) {
    this.id = init.id;
    this.clientIp = init.clientIp;
    this.holdClient = init.transport === undefined ? noHold : coalesceWrites(init.transport);
    this.lastActivityMs = ctx.clock.now();
    socket.on('message', (data, isBinary) => this.onFrame(data, isBinary));
    socket.on('pong', () => {
      this.alive = true;
    });
    socket.on('close', () => this.onClosed());
    socket.on('error', () => this.onClosed());
  }

  /** Waits for a login message; closes with LOGIN_TIMEOUT when none comes in time. */
  awaitLogin(timeoutMs: number): void {
    this.loginTimer = setTimeout(() => this.close(WS_CLOSE.LOGIN_TIMEOUT), timeoutMs);
  }

  /** Binds the session to a verified key and opens its upstream connection. */
  activate(
    key: ApiKey,
    grant: WsGrant,
    scopes: readonly Scope[],
    expiresAtMs: number | null,
  ): void {
    if (this.loginTimer !== undefined) clearTimeout(this.loginTimer);
    this.key = key;
    this.grant = grant;
    this.scopes = scopes;
    this.messageGrant = { ...grant, scopes };
    this.expiresAtMs = expiresAtMs;
    this.ctx.register(this);
    this.openUpstream(key, scopes);
  }

  /** Sends a JSON value; closes a consumer that does not keep up instead of buffering more. */
  send(value: unknown): void {
    this.sendRaw(JSON.stringify(value));
  }

  sendRaw(data: string | Buffer): void {
    if (this.closed || this.socket.readyState !== WebSocket.OPEN) return;
    if (this.socket.bufferedAmount > this.ctx.options.maxBufferedBytes) {
      this.close(WS_CLOSE.SLOW_CONSUMER);
      // The close frame queues behind what the client is not reading: do not wait for it.
      setTimeout(() => this.socket.terminate(), 1000).unref();
      return;
    }
    this.holdClient();
    // Text frames either way: a Buffer holds the UTF-8 of a JSON text.
    this.socket.send(data, { binary: false });
  }

  /** Ends the session with a close code the client can act on. */
  close(close: WsCloseCode, detail?: string): void {
    if (this.closed) return;
    this.closed = true;
    this.ctx.closed(this, close);
    const reason = detail === undefined ? close.reason : `${close.reason}:${detail}`;
    this.socket.close(close.code, reason.slice(0, 120));
    this.teardown();
  }

  /** Applies removed rights: unsubscribes streams the remaining scopes no longer cover. */
  downgrade(scopes: readonly Scope[]): void {
    const removed = this.scopes.filter((s) => !scopes.includes(s));
    this.scopes = scopes;
    if (this.grant !== undefined) this.messageGrant = { ...this.grant, scopes };
    if (!scopes.includes('read') && this.streams.size > 0) {
      const streams = [...this.streams];
      this.streams.clear();
      this.toUpstream(JSON.stringify({ id: null, method: 'unsubscribe', params: { streams } }));
    }
    this.send({ event: 'session.downgraded', scopes, removed });
  }

  private onClosed(): void {
    if (!this.closed) {
      this.closed = true;
      this.ctx.closed(this, undefined);
    }
    this.teardown();
  }

  private teardown(): void {
    if (this.loginTimer !== undefined) clearTimeout(this.loginTimer);
    // Orders not answered yet may have been placed: their holds stay counted. Orders that never
    // left the queue were not: theirs are given back.
    for (const id of [...this.holds.keys()])
      this.settleHold(id, this.unsentHolds.has(id) ? 'release' : 'keep');
    this.unsentHolds.clear();
    const upstream = this.upstream;
    this.upstream = undefined;
    if (upstream !== undefined) {
      if (upstream.readyState === WebSocket.CONNECTING) upstream.terminate();
      else upstream.close(1000);
    }
  }

  private openUpstream(key: ApiKey, scopes: readonly Scope[]): void {
    const upstream = new WebSocket(this.ctx.upstream.url, {
      headers: {
        ...this.ctx.upstream.headers,
        'x-portcullis-account': key.accountId,
        'x-portcullis-key': key.id,
        'x-portcullis-scopes': scopes.join(','),
        'x-request-id': this.id,
      },
      maxPayload: 4 * 1024 * 1024,
      handshakeTimeout: 5000,
    });
    this.upstream = upstream;
    upstream.once('upgrade', (response) => {
      this.holdUpstream = coalesceWrites(response.socket);
    });
    upstream.on('open', () => {
      this.upstreamReady = true;
      for (const text of this.queued.splice(0)) upstream.send(text, { binary: false });
      this.unsentHolds.clear();
    });
    upstream.on('message', (data: RawData, isBinary: boolean) => {
      if (isBinary) return;
      const bytes = bytesOf(data);
      const event = isStreamEvent(bytes);
      // Events of streams this session may no longer read are dropped, even if in flight.
      if (event && this.streams.size === 0) return;
      // An answer to a held order settles its hold (read only while some hold waits).
      if (!event && this.holds.size > 0) this.answerHold(bytes);
      this.sendRaw(bytes);
    });
    const lost = (): void => {
      if (this.upstream === upstream) this.close(WS_CLOSE.UPSTREAM_CLOSED);
    };
    upstream.on('close', lost);
    upstream.on('error', lost);
  }

  private toUpstream(text: string | Buffer): void {
    if (this.upstreamReady && this.upstream?.readyState === WebSocket.OPEN) {
      this.holdUpstream();
      this.upstream.send(text, { binary: false });
      return;
    }
    if (this.queued.length >= MAX_QUEUED) {
      this.close(WS_CLOSE.SLOW_CONSUMER);
      return;
    }
    this.queued.push(text);
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    if (this.closed) return;
    const nowMs = this.ctx.clock.now();
    this.lastActivityMs = nowMs;
    this.alive = true;
    // Per-connection message-rate cap: refuse over the cap, close well over it.
    if (nowMs - this.windowStartMs >= 1000) {
      this.windowStartMs = nowMs;
      this.windowCount = 0;
    }
    this.windowCount += 1;
    const cap = this.ctx.options.maxMessagesPerSecond;
    if (this.windowCount > cap * 2) {
      this.close(WS_CLOSE.MESSAGE_RATE_EXCEEDED);
      return;
    }
    const bytes = bytesOf(data);
    const overRate = this.windowCount > cap;
    // Messages of one session are handled in order, even when one waits for the key store.
    if (this.chain !== undefined) {
      this.chain = this.chain.then(() => this.handle(bytes, isBinary, nowMs, overRate));
      return;
    }
    const result = this.handle(bytes, isBinary, nowMs, overRate);
    if (result instanceof Promise) {
      const chain: Promise<void> = result.finally(() => {
        if (this.chain === chain) this.chain = undefined;
      });
      this.chain = chain;
    }
  }

  private handle(
    bytes: Buffer,
    isBinary: boolean,
    nowMs: number,
    overRate: boolean,
  ): void | Promise<void> {
    if (this.closed) return;
    const parsed = isBinary ? undefined : parseObject(bytes);
    const grant = this.messageGrant;
    if (grant === undefined) return this.handleLogin(parsed, nowMs);
    const request = parsed === undefined ? undefined : toWsRequest(parsed);
    if (request === undefined) return this.deny(null, 'BAD_REQUEST');
    if (overRate) return this.deny(request.id, 'RATE_LIMITED', 1000);
    if (request.method === 'login' || request.method === 'session.logon')
      return this.deny(request.id, 'BAD_REQUEST');
    const mapping = mapWsRequest(request);
    if (!mapping.ok) return this.deny(request.id, mapping.reason);
    const verdict = authorizeWsMessage(this.ctx.authorize, grant, mapping.checks, nowMs);
    if (verdict instanceof Promise) return verdict.then((v) => this.settle(request, bytes, v));
    return this.settle(request, bytes, verdict);
  }

  private settle(request: WsRequest, bytes: Buffer, verdict: WsVerdict): void | Promise<void> {
    this.ctx.counted(verdict.outcome === 'allow');
    if (verdict.outcome === 'deny') {
      this.deny(request.id, verdict.reason, verdict.retryAfterMs);
      if (FATAL_REASONS.has(verdict.reason)) this.close(closeForReason(verdict.reason));
      return;
    }
    if (verdict.spends !== undefined) return this.holdThenForward(request, bytes, verdict);
    if (request.method === 'ping') {
      this.send({ id: request.id, status: 200, result: { pong: true } });
      return;
    }
    if (request.method === 'subscribe' || request.method === 'unsubscribe') {
      for (const stream of streamsOf(request.params) ?? []) {
        if (request.method === 'subscribe') this.streams.add(stream);
        else this.streams.delete(stream);
      }
    }
    this.toUpstream(bytes);
  }

  /**
   * Holds the spends of an allowed order (docs/policies.md §4.1), then forwards it; the hold is
   * settled by the upstream's answer to the message's id: committed on a 2xx status, released on
   * any other, kept when no answer comes (timeout, session or upstream gone).
   */
  private async holdThenForward(
    request: WsRequest,
    bytes: Buffer,
    verdict: Extract<WsVerdict, { outcome: 'allow' }>,
  ): Promise<void> {
    const reserve = this.ctx.reserve;
    if (reserve === undefined) return this.deny(request.id, 'ALLOWANCE_EXCEEDED');
    // The answer is matched by id: a held order needs one that no waiting order has.
    const holdId = holdIdOf(request.id);
    if (holdId === undefined || this.holds.has(holdId)) return this.deny(request.id, 'BAD_REQUEST');
    if (this.holds.size >= MAX_PENDING_HOLDS) return this.deny(request.id, 'RATE_LIMITED', 1000);
    const settles: PendingHold['settle'][] = [];
    const releaseAll = () => Promise.all(settles.map((settle) => settle('release')));
    for (const spend of verdict.spends ?? []) {
      let outcome;
      try {
        outcome = await reserve({ ...spend, key: verdict.key, requestId: `${this.id}:${holdId}` });
      } catch {
        await releaseAll();
        return this.deny(request.id, 'STORE_UNAVAILABLE', 1000);
      }
      if (outcome.kind === 'refused') {
        await releaseAll();
        return this.deny(request.id, outcome.reason);
      }
      if (outcome.kind === 'reserved') settles.push((o) => outcome.settle(o));
    }
    if (this.closed) {
      await releaseAll(); // never forwarded
      return;
    }
    const queued = !this.upstreamReady;
    this.toUpstream(bytes);
    if (settles.length === 0) return;
    // Closed by that very send (too many messages queued for an upstream still opening): the
    // order was not forwarded. The answer cannot have come yet: it arrives on a later turn.
    if (this.closed) {
      await releaseAll();
      return;
    }
    const timer = setTimeout(
      () => this.settleHold(holdId, 'keep'),
      this.ctx.options.holdAnswerTimeoutMs ?? HOLD_ANSWER_TIMEOUT_MS,
    );
    timer.unref();
    this.holds.set(holdId, {
      settle: async (o) => {
        await Promise.all(settles.map((settle) => settle(o)));
      },
      timer,
    });
    if (queued) this.unsentHolds.add(holdId);
  }

  /** Settles the hold an upstream answer names, by the answer's status. */
  private answerHold(bytes: Buffer): void {
    let answer: unknown;
    try {
      answer = JSON.parse(bytes.toString('utf8'));
    } catch {
      return;
    }
    if (typeof answer !== 'object' || answer === null) return;
    const { id, status } = answer as { id?: unknown; status?: unknown };
    const holdId = holdIdOf(id);
    if (holdId === undefined || !this.holds.has(holdId)) return;
    // The REST paths' rule (a session speaks the native protocol: no rejection in a 2xx body).
    const placed = typeof status === 'number' && answerPlaced('native', status, undefined);
    this.settleHold(holdId, placed ? 'commit' : 'release');
  }

  private settleHold(holdId: string, outcome: 'commit' | 'release' | 'keep'): void {
    const hold = this.holds.get(holdId);
    if (hold === undefined) return;
    this.holds.delete(holdId);
    this.unsentHolds.delete(holdId);
    clearTimeout(hold.timer);
    // A settle that fails leaves the hold counted for its period (the safe side).
    void hold.settle(outcome).catch(() => undefined);
  }

  private deny(id: WsRequest['id'], reason: ReasonCode, retryAfterMs?: number): void {
    this.send({
      id,
      status: REASON_CATALOG[reason].status,
      error: {
        code: reason,
        message: REASON_CATALOG[reason].description,
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      },
    });
  }

  private async handleLogin(
    parsed: Readonly<Record<string, unknown>> | undefined,
    nowMs: number,
  ): Promise<void> {
    const environment = this.ctx.authorize.environment;
    const login = parsed === undefined ? undefined : parseWsLogin(parsed, environment);
    if (login === undefined) {
      this.send({ id: null, status: 401, error: { code: 'CREDENTIALS_MISSING' } });
      this.close(WS_CLOSE.LOGIN_FAILED, 'CREDENTIALS_MISSING');
      return;
    }
    if (!login.ok) {
      this.send({ id: null, status: 401, error: { code: login.reason } });
      this.close(WS_CLOSE.LOGIN_FAILED, login.reason);
      return;
    }
    const result = await verifyWsLoginMessage(
      this.ctx.authorize,
      login.login,
      this.clientIp,
      nowMs,
    );
    if (this.closed) return;
    if (!result.ok) {
      this.send(loginRefused(login.login, result.reason, { sessionId: this.id }));
      this.close(WS_CLOSE.LOGIN_FAILED, result.reason);
      return;
    }
    if (!this.ctx.admitKey(result.key.id)) {
      this.send(loginRefused(login.login, 'RATE_LIMITED', { sessionId: this.id }));
      this.close(WS_CLOSE.KEY_CONNECTION_LIMIT);
      return;
    }
    const grant: WsGrant = { keyId: result.key.id, scopes: null, clientIp: this.clientIp };
    this.activate(result.key, grant, result.key.scopes, null);
    this.send(
      loginAccepted(login.login, result.key, result.key.scopes, { sessionId: this.id, nowMs }),
    );
  }
}

function noHold(): void {}

/** A message id as a hold's key (a string and a number of the same digits stay apart). */
function holdIdOf(id: unknown): string | undefined {
  if (typeof id === 'string' && id.length > 0 && id.length <= 128) return `s:${id}`;
  if (typeof id === 'number' && Number.isFinite(id)) return `n:${id}`;
  return undefined;
}

/** A strict-JSON object (no duplicate keys, valid UTF-8), or undefined. */
function parseObject(bytes: Buffer): Readonly<Record<string, unknown>> | undefined {
  const parsed = parseStrictJson(bytes);
  if (!parsed.ok) return undefined;
  const { value } = parsed;
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** Whether an upstream frame is a stream event (compared in place: no slice per frame). */
function isStreamEvent(bytes: Buffer): boolean {
  const n = STREAM_PREFIX.length;
  return bytes.length >= n && bytes.compare(STREAM_PREFIX, 0, n, 0, n) === 0;
}

/** The bytes of a ws message, whichever buffer form ws delivered it in. */
function bytesOf(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
