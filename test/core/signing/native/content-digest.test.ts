import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkContentDigest, contentDigest } from '../../../../src/core/signing/native/index.js';

const body = Buffer.from('{"hello": "world"}');
// RFC 9530 §B.2 / RFC 9421 §B.2: the sha-512 digest of {"hello": "world"}.
const RFC_SHA512 =
  'sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:';
const sha256 = contentDigest(body, 'sha-256');

describe('contentDigest', () => {
  it('reproduces the RFC sha-512 example', () => {
    expect(contentDigest(body, 'sha-512')).toBe(RFC_SHA512);
  });

  it('defaults to sha-256', () => {
    const expected = createHash('sha256').update(body).digest('base64');
    expect(contentDigest(body)).toBe(`sha-256=:${expected}:`);
  });
});

describe('checkContentDigest', () => {
  it.each([
    { name: 'sha-256', field: sha256, expected: 'ok' },
    { name: 'the RFC sha-512 example', field: RFC_SHA512, expected: 'ok' },
    { name: 'both algorithms', field: `${sha256}, ${RFC_SHA512}`, expected: 'ok' },
    { name: 'both without a space', field: `${RFC_SHA512},${sha256}`, expected: 'ok' },
    {
      name: 'the digest of another body',
      field: contentDigest(Buffer.from('x')),
      expected: 'DIGEST_MISMATCH',
    },
    {
      name: 'one member of two wrong',
      field: `${sha256}, ${contentDigest(Buffer.from('x'), 'sha-512')}`,
      expected: 'DIGEST_MISMATCH',
    },
    {
      name: 'an unsupported algorithm',
      field: 'sha-1=:AAAAAAAAAAAAAAAAAAAAAAAAAAA=:',
      expected: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'a supported and an unsupported member',
      field: `${sha256}, md5=:AAAAAAAAAAAAAAAAAAAAAA==:`,
      expected: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'the same algorithm twice',
      field: `${sha256}, ${sha256}`,
      expected: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'upper-case algorithm',
      field: sha256.replace('sha-256', 'SHA-256'),
      expected: 'SIGNATURE_MALFORMED',
    },
    { name: 'a parameter', field: `${sha256};x=1`, expected: 'SIGNATURE_MALFORMED' },
    {
      name: 'unpadded base64',
      field: sha256.replace(/=+:$/, ':'),
      expected: 'SIGNATURE_MALFORMED',
    },
    { name: 'a short digest', field: 'sha-256=:AAAA:', expected: 'SIGNATURE_MALFORMED' },
    { name: 'an empty field', field: '', expected: 'SIGNATURE_MALFORMED' },
  ])('$name → $expected', ({ field, expected }) => {
    expect(checkContentDigest(field, body)).toBe(expected);
  });
});
