import { createHmac, verify as verifySignature, type KeyObject } from 'node:crypto';

const HEX = /^[0-9a-fA-F]+$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Decodes hex of exactly `expectedBytes` bytes, case-insensitively; anything else is undefined. */
export function decodeHexStrict(text: string, expectedBytes: number): Buffer | undefined {
  if (text.length !== expectedBytes * 2 || !HEX.test(text)) return undefined;
  return Buffer.from(text, 'hex');
}

/**
 * Decodes standard, padded base64 of exactly `expectedBytes` bytes. Rejects the URL alphabet,
 * missing padding, whitespace and non-canonical trailing bits (re-encoding must give the input).
 */
export function decodeBase64Strict(text: string, expectedBytes: number): Buffer | undefined {
  if (text.length !== Math.ceil(expectedBytes / 3) * 4 || !BASE64.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== expectedBytes || bytes.toString('base64') !== text) return undefined;
  return bytes;
}

/** HMAC-SHA256 of `data` under `secret`. */
export function hmacSha256(secret: Buffer, data: string | Buffer): Buffer {
  return createHmac('sha256', secret).update(data).digest();
}

/**
 * Compares `provided` (already decoded to the expected length) with the HMAC of `data` under
 * every candidate secret, always computing all of them so that timing does not tell which
 * secret (if any) matched. Returns the index of the first match or -1.
 *
 * The digest is read as a one-byte string (`binary`, i.e. latin1: one character per byte) and
 * compared with `equalsBytes`, not as a Buffer: node:crypto allocates a digest Buffer's memory
 * outside the V8 heap, which cost ~1.2 µs per call here, a third of the whole HMAC
 * (docs/performance.md).
 */
export function matchHmac(
  secrets: readonly Buffer[],
  data: string | Buffer,
  provided: Buffer,
): number {
  let matched = -1;
  for (let i = 0; i < secrets.length; i++) {
    const secret = secrets[i];
    if (secret === undefined) continue;
    const expected = createHmac('sha256', secret).update(data).digest('binary');
    if (equalsBytes(expected, provided) && matched < 0) matched = i;
  }
  return matched;
}

/**
 * Whether the one-byte string `expected` (one character per byte, as a `latin1` digest) holds
 * exactly the bytes of `provided`, in time that depends on the length only: every byte is
 * compared, the differences are OR-ed together and nothing branches on them (the same
 * comparison timingSafeEqual makes in C). The lengths are public (the algorithm's).
 */
export function equalsBytes(expected: string, provided: Uint8Array): boolean {
  const length = expected.length;
  if (provided.length !== length) return false;
  let difference = 0;
  for (let i = 0; i < length; i++) difference |= expected.charCodeAt(i) ^ (provided[i] as number);
  return difference === 0;
}

/** Ed25519 verification (RFC 8032); false on any malformed input instead of throwing. */
export function verifyEd25519(
  publicKey: KeyObject,
  data: string | Buffer,
  signature: Buffer,
): boolean {
  if (signature.length !== 64) return false;
  try {
    return verifySignature(
      null,
      typeof data === 'string' ? Buffer.from(data) : data,
      publicKey,
      signature,
    );
  } catch {
    return false;
  }
}
