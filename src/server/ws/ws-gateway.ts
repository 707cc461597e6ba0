/**
 * The WebSocket endpoint of one environment's data plane (docs/websocket.md): authenticates at
 * the upgrade (access token or ticket) or by a signed login message, caps connections per IP
 * and per key, and keeps every live session's key under watch — a change event re-checks that
 * key's sessions at once, a sweep re-checks all of them every `recheckIntervalMs`, and each
 * message is checked again — so revocation, expiry or a scope change ends or downgrades them.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { Clock } from '../../core/clock.js';
import type { Environment, Scope } from '../../core/keys/model.js';
import { isScope } from '../../core/keys/model.js';
import type { ClientIpResolver } from '../../core/net/client-ip.js';
import { checkSessionKey, type WsGrant, type WsKeyCheck } from '../../core/ws/authorize-message.js';
import type { WsLoginDeps } from '../../core/ws/verify-ws-login.js';
import type { ChangeEvents } from '../../ports.js';
import { WS_CLOSE, closeForReason } from './close-codes.js';
import type { WsGatewayContext, WsGatewayOptions } from './ws-context.js';
import { WsSession } from './ws-session.js';

export type { WsGatewayOptions } from './ws-context.js';

/** The authorization server's answer for a token or ticket (src/services/access-tokens.ts). */
export type WsTokenCheck =
  | {
      readonly ok: true;
      readonly keyId: string;
      readonly accountId: string;
      readonly environment: string;
      readonly scopes: readonly string[];
      /** Expiry, JWT-style seconds (epoch ms accepted too). */
      readonly exp: number;
      readonly jti: string;
    }
  | { readonly ok: false; readonly reason: string };

/** The slice of the authorization server the gateway uses; absent: token auth is refused. */
export interface WsTokenAuthority {
  verify(token: string, options: { environment: Environment }): Promise<WsTokenCheck>;
  redeemTicket(
    ticket: string,
    context: { environment: Environment; clientIp?: string },
  ): Promise<WsTokenCheck>;
}

export interface WsGatewayDeps {
  readonly authorize: WsLoginDeps;
  readonly clock: Clock;
  readonly clientIp: ClientIpResolver;
  /** The environment's upstream WebSocket and the headers that prove the gateway sent it. */
  readonly upstream: { readonly url: string; readonly headers: Readonly<Record<string, string>> };
  readonly events?: ChangeEvents;
  readonly tokens?: WsTokenAuthority;
  /** Told every close the gateway decides, by its reason (metrics, tests). */
  readonly onClose?: (reason: string) => void;
  /** Holds orders against spend allowances (WsGatewayContext.reserve). */
  readonly reserve?: WsGatewayContext['reserve'];
}

export interface WsGatewayStats {
  readonly sessions: number;
  readonly allowed: number;
  readonly denied: number;
  readonly closes: Readonly<Record<string, number>>;
}

export interface WsGateway {
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  stats(): WsGatewayStats;
  /** Closes every session (1001) and stops the timers. */
  close(): void;
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]{1,4096})$/;
const TICKET = /^[A-Za-z0-9._~-]{16,512}$/;

/** Builds the gateway; wire `handleUpgrade` to the data plane's HTTP `upgrade` event. */
export function createWsGateway(deps: WsGatewayDeps, options: WsGatewayOptions): WsGateway {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxPayloadBytes,
    perMessageDeflate: false,
  });
  const byKey = new Map<string, Set<WsSession>>();
  const byIp = new Map<string, number>();
  const all = new Set<WsSession>();
  const closes: Record<string, number> = {};
  let allowed = 0;
  let denied = 0;

  const releaseIp = (clientIp: string): void => {
    const left = (byIp.get(clientIp) ?? 1) - 1;
    if (left <= 0) byIp.delete(clientIp);
    else byIp.set(clientIp, left);
  };

  const context: WsGatewayContext = {
    clock: deps.clock,
    options,
    authorize: deps.authorize,
    upstream: deps.upstream,
    admitKey: (keyId) => (byKey.get(keyId)?.size ?? 0) < options.maxConnectionsPerKey,
    register(session) {
      const keyId = session.grant?.keyId;
      if (keyId === undefined) return;
      let set = byKey.get(keyId);
      if (set === undefined) {
        set = new Set();
        byKey.set(keyId, set);
      }
      set.add(session);
    },
    closed(session, close) {
      if (!all.delete(session)) return;
      if (close !== undefined) {
        closes[close.reason] = (closes[close.reason] ?? 0) + 1;
        deps.onClose?.(close.reason);
      }
      releaseIp(session.clientIp);
      const keyId = session.grant?.keyId;
      const set = keyId === undefined ? undefined : byKey.get(keyId);
      if (set !== undefined && keyId !== undefined) {
        set.delete(session);
        if (set.size === 0) byKey.delete(keyId);
      }
    },
    counted(ok) {
      if (ok) allowed += 1;
      else denied += 1;
    },
    ...(deps.reserve !== undefined ? { reserve: deps.reserve } : {}),
  };

  /** Applies a key re-check to the key's sessions: close, downgrade or nothing. */
  const apply = (keyId: string, check: WsKeyCheck): void => {
    const sessions = byKey.get(keyId);
    if (sessions === undefined) return;
    const nowMs = deps.clock.now();
    for (const session of [...sessions]) {
      if (!check.ok) {
        session.close(closeForReason(check.reason));
        continue;
      }
      if (session.expiresAtMs !== null && nowMs >= session.expiresAtMs) {
        session.close(WS_CLOSE.TOKEN_EXPIRED);
        continue;
      }
      const grantScopes = session.grant?.scopes ?? null;
      const now =
        grantScopes === null ? check.scopes : check.scopes.filter((s) => grantScopes.includes(s));
      const kept = session.scopes.filter((s) => now.includes(s));
      if (kept.length === session.scopes.length) continue;
      if (kept.length === 0) session.close(WS_CLOSE.SCOPES_REMOVED);
      else session.downgrade(kept);
    }
  };

  const recheck = (keyId: string): void => {
    const sessions = byKey.get(keyId);
    const first = sessions?.values().next().value;
    if (first?.grant === undefined) return;
    const check = checkSessionKey(deps.authorize, first.grant, deps.clock.now());
    if (check instanceof Promise) void check.then((c) => apply(keyId, c));
    else apply(keyId, check);
  };

  // Deferred a turn so the key cache (subscribed earlier) has dropped the entry first.
  const unsubscribe = deps.events?.subscribe((event) => {
    if (event.type === 'key.changed' && byKey.has(event.keyId))
      setImmediate(() => recheck(event.keyId));
    // Revocations are rare: a scan of the open sessions is cheaper than an index kept per token.
    if (event.type === 'token.revoked') {
      for (const session of [...all])
        if (session.grant?.tokenId === event.jti) session.close(WS_CLOSE.TOKEN_REVOKED);
    }
  });
  const sweep = setInterval(() => {
    for (const keyId of [...byKey.keys()]) recheck(keyId);
  }, options.recheckIntervalMs);
  sweep.unref();
  const heartbeat = setInterval(() => {
    const nowMs = deps.clock.now();
    for (const session of [...all]) {
      if (!session.alive || nowMs - session.lastActivityMs > options.idleTimeoutMs) {
        session.close(WS_CLOSE.IDLE_TIMEOUT);
        continue;
      }
      session.alive = false;
      session.socket.ping();
    }
  }, options.heartbeatIntervalMs);
  heartbeat.unref();

  const refuse = (socket: Duplex, status: number, code: string): void => {
    const body = JSON.stringify({ error: { code } });
    socket.end(
      `HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : status === 429 ? 'Too Many Requests' : 'Unauthorized'}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  };

  const accept = (
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    clientIp: string,
    then: (session: WsSession) => void,
  ): void => {
    wss.handleUpgrade(request, socket, head, (ws) => {
      const session = new WsSession(context, ws, {
        id: `wss_${randomBytes(9).toString('base64url')}`,
        clientIp,
        transport: socket,
      });
      all.add(session);
      then(session);
    });
  };

  async function upgradeWithToken(
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    clientIp: string,
    credential: { kind: 'token' | 'ticket'; value: string },
  ): Promise<void> {
    const release = (): void => releaseIp(clientIp);
    const tokens = deps.tokens;
    if (tokens === undefined) {
      release();
      return refuse(socket, 401, 'TOKEN_AUTH_UNAVAILABLE');
    }
    const environment = deps.authorize.environment;
    let result: WsTokenCheck;
    try {
      result =
        credential.kind === 'token'
          ? await tokens.verify(credential.value, { environment })
          : await tokens.redeemTicket(credential.value, { environment, clientIp });
    } catch {
      result = { ok: false, reason: 'TOKEN_INVALID' };
    }
    if (result.ok && result.environment !== environment)
      result = { ok: false, reason: 'ENV_MISMATCH' };
    if (!result.ok) {
      release();
      return refuse(socket, 401, result.reason);
    }
    const scopes = result.scopes.filter((s): s is Scope => isScope(s));
    const grant: WsGrant = { keyId: result.keyId, scopes, clientIp, tokenId: result.jti };
    const nowMs = deps.clock.now();
    const check = await checkSessionKey(deps.authorize, grant, nowMs);
    if (!check.ok) {
      release();
      return refuse(socket, 401, check.reason);
    }
    if (!context.admitKey(check.key.id)) {
      release();
      return refuse(socket, 429, 'KEY_CONNECTION_LIMIT');
    }
    const expiresAtMs = result.exp < 1e12 ? result.exp * 1000 : result.exp;
    if (expiresAtMs <= nowMs) {
      release();
      return refuse(socket, 401, 'TOKEN_EXPIRED');
    }
    accept(request, socket, head, clientIp, (session) => {
      session.activate(check.key, grant, check.scopes, expiresAtMs);
    });
  }

  return {
    handleUpgrade(request, socket, head) {
      const url = request.url ?? '/';
      const q = url.indexOf('?');
      const path = q < 0 ? url : url.slice(0, q);
      if (path !== options.path) return refuse(socket, 404, 'ROUTE_UNKNOWN');
      const clientIp = deps.clientIp(
        request.socket.remoteAddress ?? '',
        request.headers['x-forwarded-for'],
      );
      const open = byIp.get(clientIp) ?? 0;
      if (open >= options.maxConnectionsPerIp) return refuse(socket, 429, 'IP_CONNECTION_LIMIT');
      byIp.set(clientIp, open + 1);
      const credential = credentialOf(request, q < 0 ? '' : url.slice(q + 1));
      if (credential === 'malformed') {
        releaseIp(clientIp);
        return refuse(socket, 401, 'CREDENTIALS_MALFORMED');
      }
      if (credential !== undefined) {
        void upgradeWithToken(request, socket, head, clientIp, credential);
        return;
      }
      accept(request, socket, head, clientIp, (session) => {
        session.awaitLogin(options.loginTimeoutMs);
      });
    },
    stats: () => ({ sessions: all.size, allowed, denied, closes: { ...closes } }),
    close() {
      unsubscribe?.();
      clearInterval(sweep);
      clearInterval(heartbeat);
      for (const session of [...all]) session.close(WS_CLOSE.GOING_AWAY);
      for (const client of wss.clients) client.terminate();
      wss.close();
    },
  };
}

/** The token or ticket of an upgrade: `Authorization: Bearer`, `?access_token=` or `?ticket=`. */
function credentialOf(
  request: IncomingMessage,
  query: string,
): { kind: 'token' | 'ticket'; value: string } | 'malformed' | undefined {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = BEARER.exec(header);
    return match?.[1] === undefined ? 'malformed' : { kind: 'token', value: match[1] };
  }
  if (query === '') return undefined;
  const params = new URLSearchParams(query);
  const tokens = params.getAll('access_token');
  const tickets = params.getAll('ticket');
  if (tokens.length + tickets.length === 0) return undefined;
  if (tokens.length + tickets.length > 1) return 'malformed';
  const token = tokens[0];
  if (token !== undefined)
    return /^[A-Za-z0-9._~+/=-]{1,4096}$/.test(token)
      ? { kind: 'token', value: token }
      : 'malformed';
  const ticket = tickets[0] ?? '';
  return TICKET.test(ticket) ? { kind: 'ticket', value: ticket } : 'malformed';
}
