/**
 * Signed login messages after a WebSocket upgrade (docs/websocket.md §2): the native message
 * and the Binance `session.logon`, Bybit `auth` and OKX `login` messages, as their exchanges
 * define them (../shared/reference/exchange-signing.md §3.2, Bybit and OKX WebSocket rows).
 * Parsing is pure and never throws; verification is a separate step once the key is known.
 */
import type { Environment } from '../keys/model.js';
import type { Dialect, VerifierKey, WindowRule } from '../signing/types.js';
import {
  decodeBase64Strict,
  decodeHexStrict,
  matchHmac,
  verifyEd25519,
} from '../signing/verify-bytes.js';

/** A login message, parsed but not verified. */
export interface WsLogin {
  readonly dialect: Dialect;
  /** The request id to echo in the answer (`id` or Bybit's `req_id`); null when absent. */
  readonly requestId: string | number | null;
  readonly keyId: string;
  /** What the signature covers, exactly as the dialect defines it. */
  readonly payload: string;
  readonly signature: Buffer;
  readonly algorithm: 'hmac' | 'ed25519';
  readonly signedAtMs: number;
  /** Unique per login (the nonce, or the signature itself); scoped by key in the guard. */
  readonly replayId: string;
  readonly passphrase?: string;
  /** Bybit: the signed `expires`; the login is valid only before it. */
  readonly expiresAtMs?: number;
}

export type WsLoginParse =
  | { readonly ok: true; readonly login: WsLogin }
  | { readonly ok: false; readonly reason: 'SIGNATURE_MALFORMED' | 'CREDENTIALS_MISSING' };

/** The prefix of the native login's signed string; binds the signature to this use. */
export const NATIVE_LOGIN_CONTEXT = 'portcullis-ws-login';
const KEY_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;
const DIGITS = /^\d{1,16}$/;
/** Binance's largest recvWindow (ms). */
const MAX_RECV_WINDOW_MS = 60_000;
/** OKX: "the request will expire 30 seconds after the timestamp". */
const OKX_LOGIN_VALIDITY_MS = 30_000;

/** The string a native login signs: context, environment, key id, created (s) and nonce. */
export function nativeLoginPayload(
  environment: Environment,
  keyId: string,
  createdSeconds: number,
  nonce: string,
): string {
  return `${NATIVE_LOGIN_CONTEXT}\n${environment}\n${keyId}\n${createdSeconds}\n${nonce}`;
}

/**
 * Recognises a login message of any dialect; `undefined` when the message is not a login at
 * all (the caller answers that a login is required).
 */
export function parseWsLogin(
  message: Readonly<Record<string, unknown>>,
  environment: Environment,
): WsLoginParse | undefined {
  const { method, op } = message;
  const params = message.params;
  if (method === 'login') return parseNative(message.id, params, environment);
  if (method === 'session.logon') return parseBinance(message.id, params);
  if (op === 'auth') return parseBybit(message.req_id, message.args);
  if (op === 'login') return parseOkx(message.args);
  return undefined;
}

const malformed: WsLoginParse = { ok: false, reason: 'SIGNATURE_MALFORMED' };

function requestIdOf(id: unknown): string | number | null {
  if (typeof id === 'number' && Number.isSafeInteger(id)) return id;
  if (typeof id === 'string' && /^[A-Za-z0-9._:-]{1,64}$/.test(id)) return id;
  return null;
}

function asRecord(value: unknown): Readonly<Record<string, unknown>> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

function parseNative(id: unknown, raw: unknown, environment: Environment): WsLoginParse {
  const params = asRecord(raw);
  if (params === undefined) return malformed;
  const { keyId, created, nonce, signature, alg } = params;
  if (typeof keyId !== 'string' || !KEY_ID.test(keyId)) return malformed;
  if (typeof created !== 'number' || !Number.isSafeInteger(created) || created < 0)
    return malformed;
  if (typeof nonce !== 'string' || !NONCE.test(nonce)) return malformed;
  if (alg !== 'hmac-sha256' && alg !== 'ed25519') return malformed;
  if (typeof signature !== 'string') return malformed;
  const bytes = decodeBase64Strict(signature, alg === 'ed25519' ? 64 : 32);
  if (bytes === undefined) return malformed;
  return {
    ok: true,
    login: {
      dialect: 'native',
      requestId: requestIdOf(id),
      keyId,
      payload: nativeLoginPayload(environment, keyId, created, nonce),
      signature: bytes,
      algorithm: alg === 'ed25519' ? 'ed25519' : 'hmac',
      signedAtMs: created * 1000,
      replayId: nonce,
    },
  };
}

/** Binance: every param but `signature`, sorted by name, `k=v&…`, no percent-encoding (§3.2). */
function parseBinance(id: unknown, raw: unknown): WsLoginParse {
  const params = asRecord(raw);
  if (params === undefined) return malformed;
  const { apiKey, timestamp, signature, recvWindow } = params;
  if (typeof apiKey !== 'string' || !KEY_ID.test(apiKey)) return malformed;
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp < 0)
    return malformed;
  if (
    recvWindow !== undefined &&
    (typeof recvWindow !== 'number' ||
      !Number.isInteger(recvWindow) ||
      recvWindow <= 0 ||
      recvWindow > MAX_RECV_WINDOW_MS)
  )
    return malformed;
  const extra = Object.keys(params).filter(
    (k) => !['apiKey', 'timestamp', 'signature', 'recvWindow'].includes(k),
  );
  if (extra.length > 0 || typeof signature !== 'string') return malformed;
  // session.logon accepts Ed25519 keys only: a 64-byte base64 signature.
  const bytes = decodeBase64Strict(signature, 64);
  if (bytes === undefined) return malformed;
  const signed: [string, string][] = [
    ['apiKey', apiKey],
    ['timestamp', String(timestamp)],
  ];
  if (recvWindow !== undefined) signed.push(['recvWindow', String(recvWindow)]);
  signed.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    ok: true,
    login: {
      dialect: 'binance',
      requestId: requestIdOf(id),
      keyId: apiKey,
      payload: signed.map(([k, v]) => `${k}=${v}`).join('&'),
      signature: bytes,
      algorithm: 'ed25519',
      signedAtMs: timestamp,
      replayId: signature,
      ...(recvWindow !== undefined ? { expiresAtMs: timestamp + recvWindow } : {}),
    },
  };
}

/** Bybit: `["apiKey", expires, "hex(HMAC(secret, 'GET/realtime' + expires))"]`. */
function parseBybit(id: unknown, args: unknown): WsLoginParse {
  if (!Array.isArray(args) || args.length !== 3) return malformed;
  const [apiKey, expires, signature] = args as unknown[];
  if (typeof apiKey !== 'string' || !KEY_ID.test(apiKey)) return malformed;
  const expiresText = typeof expires === 'number' ? String(expires) : expires;
  if (typeof expiresText !== 'string' || !DIGITS.test(expiresText)) return malformed;
  if (typeof signature !== 'string') return malformed;
  const bytes = decodeHexStrict(signature, 32);
  if (bytes === undefined) return malformed;
  const expiresAtMs = Number(expiresText);
  return {
    ok: true,
    login: {
      dialect: 'bybit',
      requestId: requestIdOf(id),
      keyId: apiKey,
      payload: `GET/realtime${expiresText}`,
      signature: bytes,
      algorithm: 'hmac',
      // Bybit signs only an expiry: treat it as signed now for the window's future bound.
      signedAtMs: expiresAtMs,
      replayId: signature.toLowerCase(),
      expiresAtMs,
    },
  };
}

/** OKX: `[{apiKey, passphrase, timestamp (s), sign: base64(HMAC(ts + 'GET/users/self/verify'))}]`. */
function parseOkx(args: unknown): WsLoginParse {
  if (!Array.isArray(args) || args.length !== 1) return malformed;
  const params = asRecord(args[0]);
  if (params === undefined) return malformed;
  const { apiKey, passphrase, timestamp, sign } = params;
  if (typeof apiKey !== 'string' || !KEY_ID.test(apiKey)) return malformed;
  if (typeof passphrase !== 'string' || passphrase.length === 0 || passphrase.length > 128)
    return malformed;
  const ts = typeof timestamp === 'number' ? String(timestamp) : timestamp;
  if (typeof ts !== 'string' || !/^\d{1,12}$/.test(ts)) return malformed;
  if (typeof sign !== 'string') return malformed;
  const bytes = decodeBase64Strict(sign, 32);
  if (bytes === undefined) return malformed;
  const signedAtMs = Number(ts) * 1000;
  return {
    ok: true,
    login: {
      dialect: 'okx',
      requestId: null,
      keyId: apiKey,
      payload: `${ts}GET/users/self/verify`,
      signature: bytes,
      algorithm: 'hmac',
      signedAtMs,
      replayId: sign,
      passphrase,
      expiresAtMs: signedAtMs + OKX_LOGIN_VALIDITY_MS,
    },
  };
}

/**
 * Whether the login is fresh at `nowMs`. Bybit: `expires` in the future, but no further than the
 * window allows (so a replay-guard entry can outlive it). Others: the signed time inside the
 * window, and before their own expiry when they carry one.
 */
export function wsLoginInWindow(login: WsLogin, nowMs: number, rule: WindowRule): boolean {
  if (login.dialect === 'bybit') {
    const expires = login.expiresAtMs ?? 0;
    return expires > nowMs && expires <= nowMs + rule.pastMs + rule.futureMs + 60_000;
  }
  if (login.signedAtMs > nowMs + rule.futureMs) return false;
  if (login.expiresAtMs !== undefined) return nowMs < login.expiresAtMs;
  return login.signedAtMs >= nowMs - rule.pastMs;
}

/** How long the login's replay id must be remembered. */
export function wsLoginReplayTtlMs(login: WsLogin, nowMs: number, rule: WindowRule): number {
  const until = Math.max(login.expiresAtMs ?? 0, login.signedAtMs + rule.pastMs);
  return Math.max(until - nowMs, 0) + rule.pastMs + rule.futureMs + 1000;
}

/**
 * Verifies the signature in constant time against the key's verifier; the index of the secret
 * that matched (0 = current, 1+ = in rotation grace) or -1. A scheme mismatch does the same work
 * against nothing and fails.
 */
export function verifyWsLogin(login: WsLogin, key: VerifierKey): number {
  if (login.algorithm === 'ed25519') {
    if (key.scheme !== 'ed25519') return -1;
    return verifyEd25519(key.publicKey, login.payload, login.signature) ? 0 : -1;
  }
  if (key.scheme !== 'hmac') return -1;
  return matchHmac(key.secrets, login.payload, login.signature);
}
