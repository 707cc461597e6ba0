import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';

// scrypt parameters: ~30 ms on a server core, 16 MiB of memory (OWASP's minimum for scrypt).
const N = 16384;
const R = 8;
const P = 1;
const KEY_LENGTH = 32;

/** Hashes an OKX-style passphrase slowly; the stored form carries its parameters. */
export function hashPassphrase(passphrase: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(passphrase, salt, KEY_LENGTH, { N, r: R, p: P });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/** Checks a passphrase against its stored hash in constant time; false for a malformed hash. */
export function verifyPassphrase(passphrase: string, stored: string): boolean {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, saltText, hashText] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hashText, 'base64');
  const actual = scryptSync(passphrase, Buffer.from(saltText, 'base64'), expected.length, {
    N: Number(n),
    r: Number(r),
    p: Number(p),
  });
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
