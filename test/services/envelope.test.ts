import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PortcullisError } from '../../src/core/errors.js';
import {
  createKeyring,
  masterKeyFromBytes,
  openSecret,
  rewrapSecret,
  sealSecret,
} from '../../src/services/envelope.js';

const keyA = masterKeyFromBytes(Buffer.alloc(32, 0xa1));
const keyB = masterKeyFromBytes(Buffer.alloc(32, 0xb2));
const ringA = createKeyring(keyA);
const plaintext = Buffer.from('psk_the-secret-under-test');

function faultCode(fn: () => unknown): string {
  try {
    fn();
    return 'NO_ERROR';
  } catch (error) {
    return error instanceof PortcullisError ? error.code : 'OTHER';
  }
}

describe('envelope encryption', () => {
  it('opens what it sealed', () => {
    const sealed = sealSecret(ringA, plaintext, 'pk_test_a#1');
    expect(openSecret(ringA, sealed, 'pk_test_a#1')).toEqual(plaintext);
  });

  it('uses a fresh data key and IV for every record', () => {
    const one = sealSecret(ringA, plaintext, 'pk_test_a#1');
    const two = sealSecret(ringA, plaintext, 'pk_test_a#1');
    expect(one.ciphertext.equals(two.ciphertext)).toBe(false);
    expect(one.wrappedDek.equals(two.wrappedDek)).toBe(false);
  });

  it('names the wrapping master key by a fingerprint, not the key', () => {
    const sealed = sealSecret(ringA, plaintext, 'x');
    expect(sealed.kekId).toBe(keyA.id);
    expect(keyA.id).toMatch(/^[0-9a-f]{16}$/);
    expect(keyA.key.toString('hex')).not.toContain(keyA.id);
  });

  it('refuses an envelope opened for another record (ids bound as associated data)', () => {
    const sealed = sealSecret(ringA, plaintext, 'pk_test_a#1');
    expect(faultCode(() => openSecret(ringA, sealed, 'pk_test_b#1'))).toBe('MASTER_KEY_MISMATCH');
  });

  it('refuses an envelope opened for another version of the same key', () => {
    const sealed = sealSecret(ringA, plaintext, 'pk_test_a#1');
    expect(faultCode(() => openSecret(ringA, sealed, 'pk_test_a#2'))).toBe('MASTER_KEY_MISMATCH');
  });

  it('refuses a ciphertext moved under another record\u2019s data key', () => {
    const a = sealSecret(ringA, plaintext, 'pk_test_a#1');
    const b = sealSecret(ringA, Buffer.from('other'), 'pk_test_b#1');
    const swapped = { ...a, ciphertext: b.ciphertext, iv: b.iv, tag: b.tag };
    expect(faultCode(() => openSecret(ringA, swapped, 'pk_test_a#1'))).toBe('MASTER_KEY_MISMATCH');
  });

  it('refuses a flipped ciphertext bit', () => {
    const sealed = sealSecret(ringA, plaintext, 'x');
    const ciphertext = Buffer.from(sealed.ciphertext);
    ciphertext[0] = (ciphertext[0] ?? 0) ^ 1;
    expect(faultCode(() => openSecret(ringA, { ...sealed, ciphertext }, 'x'))).toBe(
      'MASTER_KEY_MISMATCH',
    );
  });

  it('refuses an envelope when its master key is not configured', () => {
    const sealed = sealSecret(ringA, plaintext, 'x');
    expect(faultCode(() => openSecret(createKeyring(keyB), sealed, 'x'))).toBe(
      'MASTER_KEY_MISMATCH',
    );
  });

  it('refuses an envelope relabelled with another master key id', () => {
    const sealed = sealSecret(ringA, plaintext, 'x');
    const ring = createKeyring(keyB, [keyA]);
    expect(faultCode(() => openSecret(ring, { ...sealed, kekId: keyB.id }, 'x'))).toBe(
      'MASTER_KEY_MISMATCH',
    );
  });

  it('re-wraps under the active key without touching the ciphertext', () => {
    const sealed = sealSecret(ringA, plaintext, 'x');
    const rewrapped = rewrapSecret(createKeyring(keyB, [keyA]), sealed, 'x');
    expect(rewrapped.kekId).toBe(keyB.id);
    expect(rewrapped.ciphertext.equals(sealed.ciphertext)).toBe(true);
    expect(openSecret(createKeyring(keyB), rewrapped, 'x')).toEqual(plaintext);
  });

  it('refuses a master key that is not 32 bytes with CONFIG_INVALID', () => {
    expect(faultCode(() => masterKeyFromBytes(randomBytes(16)))).toBe('CONFIG_INVALID');
  });
});
