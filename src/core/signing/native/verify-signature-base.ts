import type { VerifierKey } from '../types.js';
import { matchHmac, verifyEd25519 } from '../verify-bytes.js';

/** The algorithms of the native profile (RFC 9421 §3.3.3 hmac-sha256, §3.3.6 ed25519). */
export const NATIVE_ALGORITHMS = ['hmac-sha256', 'ed25519'] as const;
export type NativeAlgorithm = (typeof NATIVE_ALGORITHMS)[number];

/** Signature length in bytes for each algorithm. */
export const SIGNATURE_BYTES: Readonly<Record<NativeAlgorithm, number>> = {
  'hmac-sha256': 32,
  ed25519: 64,
};

/**
 * Verifies `signature` over a signature base with the key's material. Returns the index of the
 * secret that verified (0 = current; always 0 for Ed25519) or -1. The algorithm the request
 * declares must be the key's own (RFC 9421 §3.2 step 6: the verifier decides the algorithm);
 * on a mismatch the key's computation still runs, so timing does not tell the key's scheme.
 */
export function verifySignatureBase(
  base: string,
  signature: Buffer,
  alg: NativeAlgorithm,
  key: VerifierKey,
): number {
  if (key.scheme === 'hmac') {
    // matchHmac compares only decoded 32-byte values; a 64-byte signature never matches.
    const index = matchHmac(key.secrets, base, signature);
    return alg === 'hmac-sha256' ? index : -1;
  }
  const verified = verifyEd25519(key.publicKey, base, signature);
  return alg === 'ed25519' && verified ? 0 : -1;
}
