import type { Credential, SignedRequest } from '../types.js';
import type { ReasonCode } from '../../reasons.js';
import { checkContentDigest } from './content-digest.js';
import type { ParsedSignatureHeaders } from './parse-signature-headers.js';
import { buildSignatureBase, headerFieldValue } from './signature-base.js';
import {
  NATIVE_ALGORITHMS,
  SIGNATURE_BYTES,
  type NativeAlgorithm,
} from './verify-signature-base.js';

/** What the native scheme extracts from a request. */
export interface NativeCredential extends Credential {
  readonly dialect: 'native';
  readonly alg: NativeAlgorithm;
  readonly label: string;
  readonly createdSeconds: number;
  /** The `expires` parameter, when sent. */
  readonly expiresSeconds: number | null;
  readonly nonce: string;
  readonly components: readonly string[];
  /** The serialised inner list signed as `@signature-params`. */
  readonly signatureParams: string;
  /** The signature base built by `parse` from this same request (RFC 9421 §2.5). */
  readonly base: string;
  readonly signature: Buffer;
}

export type NativeProfileResult =
  | { readonly ok: true; readonly credential: NativeCredential }
  | { readonly ok: false; readonly reason: ReasonCode };

/**
 * Largest `created`/`expires` accepted: ten digits of Unix seconds (until 2286). Milliseconds
 * (13 digits today) are refused as malformed instead of being read as a date far in the future.
 */
export const MAX_TIMESTAMP_SECONDS = 9_999_999_999;
/** Key ids: what the gateway issues (`pk_live_…`), bounded. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
/** Nonces: 16..128 base64url characters, i.e. at least 96 bits when random. */
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;
/**
 * How long a nonce is remembered, as far as the scheme knows: the margin alone. The native
 * scheme has no window of its own (the environment's rule decides, `nativeInWindow`), and the
 * pipeline remembers every replay id for at least the whole window plus a second
 * (`pastMs + futureMs + 1000`), which is exactly as long as a request signed with that nonce
 * can be accepted. Five minutes, whatever the window, made the in-memory guard's default bound
 * (250,000 ids) the node's ceiling: a steady 1,000 native requests a second filled it after
 * 250 s and every later new nonce was refused REPLAY_CHECK_UNAVAILABLE.
 */
export const NATIVE_REPLAY_TTL_MS = 1000;
/** Fields that carry the credential; stripped before forwarding. */
export const NATIVE_CREDENTIAL_HEADERS: readonly string[] = ['signature', 'signature-input'];

const KNOWN_PARAMS = new Set(['created', 'expires', 'keyid', 'alg', 'nonce']);
const MALFORMED = { ok: false, reason: 'SIGNATURE_MALFORMED' } as const;

/**
 * Applies the native profile to a parsed signature: the parameters it requires and allows, the
 * components it requires, the signature length, the signature base and the body digest. Anything
 * short of the profile is SIGNATURE_MALFORMED, never partially trusted.
 */
export function checkNativeProfile(
  parsed: ParsedSignatureHeaders,
  request: SignedRequest,
): NativeProfileResult {
  const { params, components } = parsed;
  for (const key of params.keys()) if (!KNOWN_PARAMS.has(key)) return MALFORMED;
  const created = params.get('created');
  const expires = params.get('expires');
  const keyId = params.get('keyid');
  const alg = params.get('alg');
  const nonce = params.get('nonce');
  if (!isTimestamp(created)) return MALFORMED;
  if (expires !== undefined && (!isTimestamp(expires) || expires <= created)) return MALFORMED;
  if (typeof keyId !== 'string' || !KEY_ID_PATTERN.test(keyId)) return MALFORMED;
  if (!isNativeAlgorithm(alg)) return MALFORMED;
  if (typeof nonce !== 'string' || !NONCE_PATTERN.test(nonce)) return MALFORMED;
  if (parsed.signature.length !== SIGNATURE_BYTES[alg]) return MALFORMED;

  const digestField = headerFieldValue(request.headers, 'content-digest');
  if (!coversRequired(components, request, digestField !== undefined)) return MALFORMED;
  // Building the base checks every covered component exists and is signable.
  const base = buildSignatureBase(request, components, parsed.signatureParams);
  if (!base.ok) return MALFORMED;
  if (digestField !== undefined) {
    // RFC 9530 §2: over the raw body bytes as received.
    const digest = checkContentDigest(digestField, request.body);
    if (digest !== 'ok') return { ok: false, reason: digest };
  }
  return {
    ok: true,
    credential: {
      dialect: 'native',
      keyId,
      signedAtMs: created * 1000,
      replayId: nonce,
      replayTtlMs: NATIVE_REPLAY_TTL_MS,
      alg,
      credentialHeaders: NATIVE_CREDENTIAL_HEADERS,
      forwardQuery: request.rawQuery,
      label: parsed.label,
      createdSeconds: created,
      expiresSeconds: expires ?? null,
      nonce,
      components,
      signatureParams: parsed.signatureParams,
      base: base.base,
      signature: parsed.signature,
    },
  };
}

/**
 * The profile's required coverage: the method and path always; the query whenever the target
 * has one (even an empty one); the digest whenever there is a body or a digest field, so a body
 * is never accepted unsigned and a digest field is never accepted unsigned.
 */
function coversRequired(
  components: readonly string[],
  request: SignedRequest,
  hasDigestField: boolean,
): boolean {
  if (!components.includes('@method') || !components.includes('@path')) return false;
  if (request.rawQuery !== null && !components.includes('@query')) return false;
  if ((request.body.length > 0 || hasDigestField) && !components.includes('content-digest')) {
    return false;
  }
  return true;
}

function isTimestamp(value: unknown): value is number {
  return (
    typeof value === 'number' &&
    Number.isSafeInteger(value) &&
    value >= 0 &&
    value <= MAX_TIMESTAMP_SECONDS
  );
}

function isNativeAlgorithm(value: unknown): value is NativeAlgorithm {
  return (NATIVE_ALGORITHMS as readonly unknown[]).includes(value);
}
