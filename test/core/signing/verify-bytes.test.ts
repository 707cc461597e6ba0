/**
 * The byte comparisons behind every HMAC signature check (src/core/signing/verify-bytes.ts):
 * matchHmac against node:crypto's own HMAC for random keys and messages, and equalsBytes
 * against Buffer equality, including a difference in every position.
 */
import { createHmac, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { equalsBytes, matchHmac } from '../../../src/core/signing/verify-bytes.js';

const hmac = (secret: Buffer, data: string | Buffer) =>
  createHmac('sha256', secret).update(data).digest();

describe('matchHmac', () => {
  it('finds the secret that signed, for any key and message (string or bytes)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 200 }),
        fc.uint8Array({ minLength: 0, maxLength: 200 }),
        fc.string({ maxLength: 300 }),
        fc.boolean(),
        (key, other, text, asBytes) => {
          const secret = Buffer.from(key);
          const data = asBytes ? Buffer.from(text) : text;
          const signature = hmac(secret, data);
          const wrong = Buffer.from(other);
          // Keys that differ only by trailing zero bytes (up to the 64-byte block) are one HMAC
          // key (RFC 2104 pads with zeros): node:crypto decides whether `wrong` signs alike.
          const index = hmac(wrong, data).equals(signature) ? 0 : 1;
          expect(matchHmac([wrong, secret], data, signature)).toBe(index);
          expect(matchHmac([secret], data, signature)).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the first of two HMAC-equal keys matches (found by fast-check: [0] and the empty key)', () => {
    const signature = hmac(Buffer.from([0]), 'base');
    expect(matchHmac([Buffer.alloc(0), Buffer.from([0])], 'base', signature)).toBe(0);
    expect(matchHmac([Buffer.from([1]), Buffer.from([0])], 'base', signature)).toBe(1);
  });

  it('a non-ASCII message is signed as its UTF-8 bytes, as the exchanges and node:crypto do', () => {
    const secret = randomBytes(32);
    const text = 'symbol=BTCUSDT&note=prix€×ü';
    expect(matchHmac([secret], text, hmac(secret, Buffer.from(text, 'utf8')))).toBe(0);
  });

  it('refuses every signature with one bit changed, a shorter one and a longer one', () => {
    const secret = randomBytes(32);
    const signature = hmac(secret, 'base');
    for (let bit = 0; bit < signature.length * 8; bit++) {
      const flipped = Buffer.from(signature);
      flipped[bit >> 3] = (flipped[bit >> 3] as number) ^ (1 << (bit & 7));
      expect(matchHmac([secret], 'base', flipped)).toBe(-1);
    }
    expect(matchHmac([secret], 'base', signature.subarray(0, 31))).toBe(-1);
    expect(matchHmac([secret], 'base', Buffer.concat([signature, Buffer.alloc(1)]))).toBe(-1);
    expect(matchHmac([], 'base', signature)).toBe(-1);
  });

  it('answers the first of several matching secrets (current before older)', () => {
    const secret = randomBytes(32);
    expect(matchHmac([randomBytes(32), secret, secret], 'm', hmac(secret, 'm'))).toBe(1);
  });
});

describe('equalsBytes', () => {
  it('agrees with Buffer equality', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), (a, b) => {
        const expected = Buffer.from(a).toString('latin1');
        expect(equalsBytes(expected, b)).toBe(Buffer.from(a).equals(Buffer.from(b)));
        expect(equalsBytes(expected, a)).toBe(true);
      }),
    );
  });

  it('a difference in any one position, high bit included, is a difference', () => {
    const bytes = randomBytes(32);
    const text = bytes.toString('latin1');
    for (let i = 0; i < bytes.length; i++) {
      for (const delta of [1, 0x80]) {
        const changed = Buffer.from(bytes);
        changed[i] = (changed[i] as number) ^ delta;
        expect(equalsBytes(text, changed)).toBe(false);
      }
    }
  });
});
