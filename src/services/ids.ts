import { randomBytes, randomUUID } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `length` characters from [A-Za-z0-9], uniformly (rejection sampling: no modulo bias). */
export function randomAlphanumeric(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      if (byte < 248) out += ALPHABET[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

/** A prefixed public id such as `acc_…` or `pk_live_…` (about 119 bits of randomness). */
export function newId(prefix: string): string {
  return `${prefix}${randomAlphanumeric(20)}`;
}

/** A fresh HMAC secret: 43 characters of [A-Za-z0-9] is about 256 bits; the prefix makes leaks scannable. */
export function newHmacSecret(): string {
  return `psk_${randomAlphanumeric(43)}`;
}

/**
 * A request id: unique, not secret. randomUUID draws from a buffered entropy pool, so it costs
 * tens of nanoseconds where a fresh randomBytes call costs microseconds on the hot path.
 */
export function newRequestId(): string {
  return `req_${randomUUID().replaceAll('-', '')}`;
}
