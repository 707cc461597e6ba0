/**
 * The Binance REST signing dialect (binance-spot-api-docs `rest-api.md`, "Request Security" and
 * "Timing security"): `X-MBX-APIKEY` header; `timestamp`, optional `recvWindow` and `signature`
 * in the query string or in an `application/x-www-form-urlencoded` body; HMAC-SHA256 hex, or
 * Ed25519 base64, over the exact bytes sent without `&signature=…`. See docs/dialects.md.
 */
import type { ReasonCode } from '../reasons.js';
import {
  headerValue,
  isContentType,
  isKeyIdSyntax,
  parseEpochTimestamp,
} from './dialects/header-value.js';
import {
  firstDuplicateName,
  parseFormParams,
  type FormParam,
} from './dialects/parse-form-params.js';
import type {
  Credential,
  ParseResult,
  SignedRequest,
  SigningScheme,
  VerifierKey,
  WindowRule,
} from './types.js';
import { decodeBase64Strict, decodeHexStrict, matchHmac, verifyEd25519 } from './verify-bytes.js';

export const BINANCE_KEY_HEADER = 'x-mbx-apikey';
export const BINANCE_DEFAULT_RECV_WINDOW_MS = 5000;
export const BINANCE_MAX_RECV_WINDOW_MS = 60_000;
/** Binance accepts a timestamp up to 1000 ms ahead of its clock ("Timing security"). */
export const BINANCE_FUTURE_TOLERANCE_MS = 1000;
/** Extra replay-memory margin beyond the acceptance window, for clock steps between nodes. */
const REPLAY_MARGIN_MS = 1000;

export interface BinanceCredential extends Credential {
  readonly dialect: 'binance';
  readonly recvWindowMs: number;
  /** Which part carries the parameters (never both: see the boundary-shift rule). */
  readonly payloadSource: 'query' | 'body';
  /** Length of the signed prefix of that part: everything before `&signature=`. */
  readonly payloadLength: number;
  readonly signatureKind: 'hex' | 'base64';
  /** The decoded signature: 32 bytes (HMAC) or 64 bytes (Ed25519). */
  readonly signature: Buffer;
}

const fail = (reason: ReasonCode): ParseResult<BinanceCredential> => ({ ok: false, reason });

/**
 * `recvWindow`: a positive decimal of at most 60000 with up to three decimals, as Binance
 * documents (`6000.346`); no sign, exponent, leading zero or trailing dot.
 */
export function parseRecvWindow(text: string): number | undefined {
  const length = text.length;
  let dot = -1;
  for (let i = 0; i < length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x2e && dot < 0) dot = i;
    else if (c < 0x30 || c > 0x39) return undefined;
  }
  const intLength = dot < 0 ? length : dot;
  const fracLength = dot < 0 ? 0 : length - dot - 1;
  if (intLength === 0 || intLength > 5 || (dot >= 0 && (fracLength === 0 || fracLength > 3))) {
    return undefined;
  }
  if (intLength > 1 && text.charCodeAt(0) === 0x30) return undefined;
  const value = Number(text);
  return value > 0 && value <= BINANCE_MAX_RECV_WINDOW_MS ? value : undefined;
}

/**
 * Decodes a signature value: 64 hex characters (any case) for HMAC, or base64 of 64 bytes for
 * Ed25519 where only `%2B`, `%2F`, `%3D` may be percent-encoded. A raw `+` is refused because a
 * form decoder reads it as a space.
 */
export function decodeBinanceSignature(
  raw: string,
): { kind: 'hex' | 'base64'; bytes: Buffer; normalised: string } | undefined {
  if (raw.length === 64) {
    const bytes = decodeHexStrict(raw, 32);
    return bytes && { kind: 'hex', bytes, normalised: bytes.toString('hex') };
  }
  let text = raw;
  if (raw.includes('%')) {
    text = '';
    for (let i = 0; i < raw.length; i++) {
      const c = raw[i];
      if (c !== '%') {
        text += c;
        continue;
      }
      const escape = raw.slice(i + 1, i + 3).toUpperCase();
      if (escape === '2B') text += '+';
      else if (escape === '2F') text += '/';
      else if (escape === '3D') text += '=';
      else return undefined;
      i += 2;
    }
  } else if (raw.includes('+')) {
    return undefined;
  }
  const bytes = decodeBase64Strict(text, 64);
  return bytes && { kind: 'base64', bytes, normalised: text };
}

function valueOf(text: string, param: FormParam): string {
  return text.slice(param.valueStart, param.end);
}

/** Finds the parameters and the signed prefix in the one part that carries them. */
function parseParams(request: SignedRequest):
  | ParseResult<BinanceCredential>
  | {
      readonly text: string;
      readonly source: 'query' | 'body';
      readonly params: FormParam[];
    } {
  const hasQuery = request.rawQuery !== null && request.rawQuery.length > 0;
  const hasBody = request.body.length > 0;
  // Binance concatenates query and body without a separator, so `…&b=GTC` + `quantity=1` and
  // `…&b=` + `GTCquantity=1` sign the same bytes with different parameters: never both.
  if (hasQuery && hasBody) return fail('BAD_REQUEST');
  if (!hasQuery && !hasBody) return fail('SIGNATURE_MALFORMED');
  if (
    hasBody &&
    !isContentType(
      headerValue(request.headers, 'content-type'),
      'application/x-www-form-urlencoded',
    )
  ) {
    return fail('BAD_REQUEST');
  }
  const text = hasQuery ? request.rawQuery : request.body.toString('latin1');
  const params = parseFormParams(text);
  if (params === undefined) return fail('BAD_REQUEST');
  return { text, source: hasQuery ? 'query' : 'body', params };
}

/** Parses the Binance credential; see docs/dialects.md for every refusal. */
export function parseBinance(request: SignedRequest): ParseResult<BinanceCredential> {
  const keyId = headerValue(request.headers, BINANCE_KEY_HEADER);
  if (keyId === undefined || keyId.length === 0) {
    return fail(
      request.headers[BINANCE_KEY_HEADER] === undefined
        ? 'CREDENTIALS_MISSING'
        : 'SIGNATURE_MALFORMED',
    );
  }
  if (!isKeyIdSyntax(keyId)) return fail('SIGNATURE_MALFORMED');
  const parsed = parseParams(request);
  if ('ok' in parsed) return parsed;
  const { text, source, params } = parsed;

  let signatureCount = 0;
  for (const param of params) if (param.name === 'signature') signatureCount++;
  const last = params[params.length - 1] as FormParam;
  // Exactly one signature, and last (as ccxt and the futures docs send it), so that removing it
  // leaves a prefix of the received bytes.
  if (signatureCount !== 1 || last.name !== 'signature') return fail('SIGNATURE_MALFORMED');
  if (firstDuplicateName(params) !== undefined) return fail('BAD_REQUEST');

  let timestampText: string | undefined;
  let recvWindowText: string | undefined;
  for (const param of params) {
    if (param.name === 'timestamp') timestampText = valueOf(text, param);
    else if (param.name === 'recvWindow') recvWindowText = valueOf(text, param);
  }
  if (timestampText === undefined) return fail('SIGNATURE_MALFORMED');
  const timestamp = parseEpochTimestamp(timestampText, true);
  if (timestamp === 'malformed') return fail('SIGNATURE_MALFORMED');
  if (timestamp === 'outside') return fail('TIMESTAMP_OUTSIDE_WINDOW');
  const recvWindowMs =
    recvWindowText === undefined ? BINANCE_DEFAULT_RECV_WINDOW_MS : parseRecvWindow(recvWindowText);
  if (recvWindowMs === undefined) return fail('SIGNATURE_MALFORMED');

  const signature = decodeBinanceSignature(valueOf(text, last));
  if (signature === undefined) return fail('SIGNATURE_MALFORMED');
  const payloadLength = Math.max(0, last.start - 1);
  return {
    ok: true,
    credential: {
      dialect: 'binance',
      keyId,
      signedAtMs: timestamp.ms,
      replayId: signature.normalised,
      replayTtlMs: Math.ceil(recvWindowMs) + BINANCE_FUTURE_TOLERANCE_MS + REPLAY_MARGIN_MS,
      alg: signature.kind === 'hex' ? 'hmac-sha256' : 'ed25519',
      credentialHeaders: [BINANCE_KEY_HEADER],
      forwardQuery: source === 'query' ? text.slice(0, payloadLength) : request.rawQuery,
      recvWindowMs,
      payloadSource: source,
      payloadLength,
      signatureKind: signature.kind,
      signature: signature.bytes,
    },
  };
}

/** The signed bytes: the part that carries the parameters, without `&signature=…`. */
function signedPayload(credential: BinanceCredential, request: SignedRequest): string | Buffer {
  return credential.payloadSource === 'query'
    ? (request.rawQuery ?? '').slice(0, credential.payloadLength)
    : request.body.subarray(0, credential.payloadLength);
}

/**
 * The body to forward upstream: without `&signature=…` when the parameters came in the body
 * (the query is already stripped in `forwardQuery`).
 */
export function binanceForwardBody(credential: BinanceCredential, body: Buffer): Buffer {
  return credential.payloadSource === 'body' ? body.subarray(0, credential.payloadLength) : body;
}

export const binanceScheme: SigningScheme<BinanceCredential> = {
  dialect: 'binance',
  detect: (request) => request.headers[BINANCE_KEY_HEADER] !== undefined,
  parse: parseBinance,
  /**
   * Binance's own rule, `timestamp < serverTime + 1000 && serverTime - timestamp <= recvWindow`;
   * the environment rule does not apply because the request carries its window.
   */
  inWindow: (credential, nowMs, _rule: WindowRule) =>
    credential.signedAtMs < nowMs + BINANCE_FUTURE_TOLERANCE_MS &&
    nowMs - credential.signedAtMs <= credential.recvWindowMs,
  verify(credential, request, key: VerifierKey) {
    const payload = signedPayload(credential, request);
    if (key.scheme === 'hmac') {
      return credential.signatureKind === 'hex'
        ? matchHmac(key.secrets, payload, credential.signature)
        : -1;
    }
    if (credential.signatureKind !== 'base64') return -1;
    return verifyEd25519(key.publicKey, payload, credential.signature) ? 0 : -1;
  },
  // The signature is a credential: the upstream never sees it, in the query or in the body.
  forwardBody: binanceForwardBody,
};
