import type { SignedRequest, SigningScheme, VerifierKey, WindowRule } from '../types.js';
import type { ParseResult } from '../types.js';
import { checkNativeProfile, type NativeCredential } from './native-profile.js';
import { parseSignatureHeaders } from './parse-signature-headers.js';
import { headerFieldValue } from './signature-base.js';
import { verifySignatureBase } from './verify-signature-base.js';

/** The native signing scheme: the RFC 9421 profile described in docs/signing-native.md. */
export const nativeScheme: SigningScheme<NativeCredential> = {
  dialect: 'native',
  detect: detectNative,
  parse: parseNative,
  inWindow: nativeInWindow,
  verify: verifyNative,
};

/** Whether the request carries a native credential (either of the RFC 9421 fields). */
export function detectNative(request: SignedRequest): boolean {
  return (
    request.headers['signature-input'] !== undefined || request.headers['signature'] !== undefined
  );
}

/** Parses the one native signature and applies the profile; never throws. */
export function parseNative(request: SignedRequest): ParseResult<NativeCredential> {
  const input = headerFieldValue(request.headers, 'signature-input');
  const signature = headerFieldValue(request.headers, 'signature');
  if (input === undefined && signature === undefined) {
    return { ok: false, reason: 'CREDENTIALS_MISSING' };
  }
  if (input === undefined || signature === undefined) {
    return { ok: false, reason: 'SIGNATURE_MALFORMED' };
  }
  const parsed = parseSignatureHeaders(input, signature);
  if (!parsed.ok) return parsed;
  return checkNativeProfile(parsed.value, request);
}

/**
 * RFC 9421 §3.2 steps 4–5 with the environment's rule: `created` within
 * [now - pastMs, now + futureMs], and before `expires` when it was sent.
 */
export function nativeInWindow(
  credential: NativeCredential,
  nowMs: number,
  rule: WindowRule,
): boolean {
  const createdMs = credential.createdSeconds * 1000;
  if (createdMs < nowMs - rule.pastMs || createdMs > nowMs + rule.futureMs) return false;
  return credential.expiresSeconds === null || nowMs < credential.expiresSeconds * 1000;
}

/**
 * Verifies the signature over the base `parse` built from this request. The pipeline always
 * passes the request the credential was parsed from; the scheme never re-reads other bytes.
 */
export function verifyNative(
  credential: NativeCredential,
  _request: SignedRequest,
  key: VerifierKey,
): number {
  return verifySignatureBase(credential.base, credential.signature, credential.alg, key);
}
