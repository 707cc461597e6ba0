/**
 * The OKX v5 REST signing dialect (okx.com/docs-v5/en, "REST Authentication"): headers
 * `OK-ACCESS-KEY`, `OK-ACCESS-SIGN`, `OK-ACCESS-TIMESTAMP` (ISO-8601 UTC with milliseconds),
 * `OK-ACCESS-PASSPHRASE`; base64 HMAC-SHA256 over `timestamp + METHOD + requestPath + body`,
 * where requestPath carries the query (`/api/v5/account/balance?ccy=BTC`).
 */
import type { ReasonCode } from '../reasons.js';
import { hasHeader, headerValue, isKeyIdSyntax } from './dialects/header-value.js';
import type {
  Credential,
  ParseResult,
  SignedRequest,
  SigningScheme,
  VerifierKey,
  WindowRule,
} from './types.js';
import { decodeBase64Strict, matchHmac } from './verify-bytes.js';

export const OKX_HEADERS = {
  key: 'ok-access-key',
  sign: 'ok-access-sign',
  timestamp: 'ok-access-timestamp',
  passphrase: 'ok-access-passphrase',
} as const;
/**
 * OKX publishes no REST window (only error 50102; its WebSocket login expires after 30 s).
 * This is the recommended rule for the okx dialect and the scheme's default bound: ccxt's okx
 * signs with the raw local clock (`timeDifference` 0, `adjustForTimeDifference` false), so a
 * client that is a little ahead must still pass. See docs/dialects.md.
 */
export const OKX_DEFAULT_WINDOW: WindowRule = { pastMs: 30_000, futureMs: 5_000 };
const REPLAY_MARGIN_MS = 1000;
const MAX_PASSPHRASE_LENGTH = 128;

export interface OkxCredential extends Credential {
  readonly dialect: 'okx';
  /** The timestamp header exactly as sent: it starts the signed string. */
  readonly timestampText: string;
  readonly signature: Buffer;
}

const fail = (reason: ReasonCode): ParseResult<OkxCredential> => ({ ok: false, reason });

const DIGIT_POSITIONS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];

function digitsAt(text: string, from: number, count: number): number {
  let value = 0;
  for (let i = from; i < from + count; i++) value = value * 10 + text.charCodeAt(i) - 0x30;
  return value;
}

/**
 * Parses exactly `YYYY-MM-DDTHH:MM:SS.sssZ` (24 characters, UTC, milliseconds) into epoch ms;
 * undefined for any other form, including impossible dates such as February 30.
 */
export function parseOkxTimestamp(text: string): number | undefined {
  if (text.length !== 24) return undefined;
  for (const i of DIGIT_POSITIONS) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return undefined;
  }
  if (
    text[4] !== '-' ||
    text[7] !== '-' ||
    text[10] !== 'T' ||
    text[13] !== ':' ||
    text[16] !== ':' ||
    text[19] !== '.' ||
    text[23] !== 'Z'
  ) {
    return undefined;
  }
  const year = digitsAt(text, 0, 4);
  const month = digitsAt(text, 5, 2);
  const day = digitsAt(text, 8, 2);
  const hour = digitsAt(text, 11, 2);
  const minute = digitsAt(text, 14, 2);
  const second = digitsAt(text, 17, 2);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  const ms = Date.UTC(year, month - 1, day, hour, minute, second, digitsAt(text, 20, 3));
  // Date.UTC rolls 02-30 over into March: the day must survive the round trip.
  return new Date(ms).getUTCDate() === day ? ms : undefined;
}

function isPassphraseSyntax(text: string): boolean {
  if (text.length === 0 || text.length > MAX_PASSPHRASE_LENGTH) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

function isUpperMethod(method: string): boolean {
  if (method.length === 0 || method.length > 16) return false;
  for (let i = 0; i < method.length; i++) {
    const c = method.charCodeAt(i);
    if (c < 0x41 || c > 0x5a) return false;
  }
  return true;
}

/** Parses the OKX credential; see docs/dialects.md for every refusal. */
export function parseOkx(request: SignedRequest, replayTtlMs: number): ParseResult<OkxCredential> {
  const { headers } = request;
  const keyId = headerValue(headers, OKX_HEADERS.key);
  if (keyId === undefined || keyId.length === 0) {
    return fail(
      hasHeader(headers, OKX_HEADERS.key) ? 'SIGNATURE_MALFORMED' : 'CREDENTIALS_MISSING',
    );
  }
  if (!isKeyIdSyntax(keyId)) return fail('SIGNATURE_MALFORMED');
  const timestampText = headerValue(headers, OKX_HEADERS.timestamp);
  const signText = headerValue(headers, OKX_HEADERS.sign);
  if (timestampText === undefined || signText === undefined) return fail('SIGNATURE_MALFORMED');
  const signedAtMs = parseOkxTimestamp(timestampText);
  if (signedAtMs === undefined) return fail('SIGNATURE_MALFORMED');
  const signature = decodeBase64Strict(signText, 32);
  if (signature === undefined) return fail('SIGNATURE_MALFORMED');
  let passphrase: string | undefined;
  if (hasHeader(headers, OKX_HEADERS.passphrase)) {
    passphrase = headerValue(headers, OKX_HEADERS.passphrase);
    if (passphrase === undefined || !isPassphraseSyntax(passphrase)) {
      return fail('SIGNATURE_MALFORMED');
    }
  }
  if (!isUpperMethod(request.method)) return fail('BAD_REQUEST');
  // The query and the body are concatenated without a separator: a request may carry data in
  // one of them, never both, or `?a=1` + `{"x":1}` and `?a=1{"x":1}` would sign the same bytes.
  if (request.rawQuery !== null && request.rawQuery.length > 0 && request.body.length > 0) {
    return fail('BAD_REQUEST');
  }
  const credential: OkxCredential = {
    dialect: 'okx',
    keyId,
    signedAtMs,
    replayId: signText,
    replayTtlMs,
    alg: 'hmac-sha256',
    credentialHeaders: [
      OKX_HEADERS.key,
      OKX_HEADERS.sign,
      OKX_HEADERS.timestamp,
      OKX_HEADERS.passphrase,
    ],
    forwardQuery: request.rawQuery,
    timestampText,
    signature,
  };
  return {
    ok: true,
    credential: passphrase === undefined ? credential : { ...credential, passphrase },
  };
}

export interface OkxSchemeOptions {
  /**
   * The widest window the scheme ever accepts; the environment's rule is clamped to it so that
   * the replay memory (this window plus a margin) always covers every accepted request.
   */
  readonly maxWindow?: WindowRule;
}

/** Creates the OKX scheme; `okxScheme` is the one with the default bound. */
export function createOkxScheme(options: OkxSchemeOptions = {}): SigningScheme<OkxCredential> {
  const bound = options.maxWindow ?? OKX_DEFAULT_WINDOW;
  const replayTtlMs = bound.pastMs + bound.futureMs + REPLAY_MARGIN_MS;
  return {
    dialect: 'okx',
    detect: (request) => request.headers[OKX_HEADERS.key] !== undefined,
    parse: (request) => parseOkx(request, replayTtlMs),
    /** OKX gives no number: the environment's rule applies, within the scheme's bound. */
    inWindow: (credential, nowMs, rule) =>
      credential.signedAtMs >= nowMs - Math.min(rule.pastMs, bound.pastMs) &&
      credential.signedAtMs <= nowMs + Math.min(rule.futureMs, bound.futureMs),
    verify: verifyOkx,
  };
}

/** Recomputes the base64 HMAC over `timestamp + METHOD + path(?query) + body`. */
function verifyOkx(credential: OkxCredential, request: SignedRequest, key: VerifierKey): number {
  // OKX has no Ed25519 keys.
  if (key.scheme !== 'hmac') return -1;
  const head =
    credential.timestampText +
    request.method +
    request.path +
    (request.rawQuery === null ? '' : '?' + request.rawQuery);
  const payload =
    request.body.length === 0 ? head : Buffer.concat([Buffer.from(head), request.body]);
  return matchHmac(key.secrets, payload, credential.signature);
}

export const okxScheme = createOkxScheme();
