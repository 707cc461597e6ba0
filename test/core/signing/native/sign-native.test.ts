import { describe, expect, it } from 'vitest';
import {
  signNativeRequest,
  type SignNativeInput,
} from '../../../../src/core/signing/native/index.js';
import { isPortcullisError } from '../../../../src/core/errors.js';
import { CREATED_SECONDS, ED25519_PUBLIC, KEY_ID, NONCE, SECRET } from './helpers.js';

const base: SignNativeInput = {
  method: 'GET',
  path: '/api/v1/account',
  rawQuery: null,
  keyId: KEY_ID,
  createdSeconds: CREATED_SECONDS,
  nonce: NONCE,
  secret: SECRET,
};

function codeOf(input: SignNativeInput): string | undefined {
  try {
    signNativeRequest(input);
    return undefined;
  } catch (error) {
    return isPortcullisError(error) ? error.code : 'OTHER';
  }
}

describe('signNativeRequest', () => {
  it('produces the documented field layout', () => {
    expect(signNativeRequest({ ...base, rawQuery: 'a=1', body: '{}' })).toEqual({
      'signature-input': `sig1=("@method" "@path" "@query" "content-digest");created=${CREATED_SECONDS};keyid="${KEY_ID}";alg="hmac-sha256";nonce="${NONCE}"`,
      signature: expect.stringMatching(/^sig1=:[A-Za-z0-9+/]{43}=:$/),
      'content-digest': expect.stringMatching(/^sha-256=:[A-Za-z0-9+/]{43}=:$/),
    });
  });

  it('omits Content-Digest without a body', () => {
    expect(signNativeRequest(base)).not.toHaveProperty('content-digest');
  });

  it.each([
    { name: 'created in milliseconds', input: { ...base, createdSeconds: CREATED_SECONDS * 1000 } },
    { name: 'a fractional created', input: { ...base, createdSeconds: 1.5 } },
    { name: 'expires before created', input: { ...base, expiresSeconds: CREATED_SECONDS } },
    { name: 'a short nonce', input: { ...base, nonce: 'abc' } },
    { name: 'a key id with a quote', input: { ...base, keyId: 'pk_"x' } },
    { name: 'a non-ASCII path', input: { ...base, path: '/caf\u00e9' } },
    { name: 'covering the signature field', input: { ...base, headers: { Signature: 'x' } } },
    {
      name: 'covering content-digest by hand',
      input: { ...base, headers: { 'content-digest': 'x' } },
    },
    {
      name: 'an Ed25519 public key as private key',
      input: { ...base, secret: undefined, privateKey: ED25519_PUBLIC },
    },
  ])('refuses $name with VALIDATION_FAILED', ({ input }) => {
    expect(codeOf(input)).toBe('VALIDATION_FAILED');
  });

  it('never puts the secret in the error message', () => {
    expect(() => signNativeRequest({ ...base, nonce: 'bad' })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining(SECRET) }),
    );
  });
});
