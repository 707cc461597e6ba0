import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  buildSignatureBase,
  parseSignatureHeaders,
  verifySignatureBase,
  type NativeAlgorithm,
} from '../../../../src/core/signing/native/index.js';
import type { SignedRequest, VerifierKey } from '../../../../src/core/signing/types.js';

// RFC 9421 Appendix B; see test/fixtures/rfc9421/README.md for the source.
interface Vector {
  name: string;
  alg: NativeAlgorithm;
  sharedSecretBase64?: string;
  privateKeyPem?: string;
  publicKeyPem?: string;
  signatureInput: string;
  signature: string;
  signatureBase: string[];
}
const fixture = JSON.parse(
  readFileSync(new URL('../../../fixtures/rfc9421/vectors.json', import.meta.url), 'utf8'),
) as {
  request: {
    method: string;
    path: string;
    rawQuery: string;
    headers: Record<string, string>;
    body: string;
  };
  vectors: Vector[];
};
const request: SignedRequest = { ...fixture.request, body: Buffer.from(fixture.request.body) };

function keyOf(vector: Vector): VerifierKey {
  if (vector.alg === 'hmac-sha256') {
    return { scheme: 'hmac', secrets: [Buffer.from(vector.sharedSecretBase64 ?? '', 'base64')] };
  }
  return { scheme: 'ed25519', publicKey: createPublicKey(vector.publicKeyPem ?? '') };
}

function parse(vector: Vector) {
  const parsed = parseSignatureHeaders(vector.signatureInput, vector.signature);
  if (!parsed.ok) throw new Error(`${vector.name}: headers do not parse`);
  return parsed.value;
}

describe.each(fixture.vectors)('RFC 9421 $name', (vector) => {
  it('parses the signature-params member exactly as received', () => {
    const label = vector.signatureInput.slice(0, vector.signatureInput.indexOf('='));
    expect(parse(vector).signatureParams).toBe(vector.signatureInput.slice(label.length + 1));
  });

  it('builds the byte-exact signature base', () => {
    const parsed = parse(vector);
    const base = buildSignatureBase(request, parsed.components, parsed.signatureParams);
    expect(base).toEqual({ ok: true, base: vector.signatureBase.join('\n') });
  });

  it('verifies the published signature', () => {
    const parsed = parse(vector);
    const base = vector.signatureBase.join('\n');
    expect(verifySignatureBase(base, parsed.signature, vector.alg, keyOf(vector))).toBe(0);
  });

  it('rejects the published signature over a changed base', () => {
    const parsed = parse(vector);
    const base = vector.signatureBase.join('\n').replace('example.com', 'example.org');
    expect(verifySignatureBase(base, parsed.signature, vector.alg, keyOf(vector))).toBe(-1);
  });
});

describe('RFC 9421 B.2.6 signing', () => {
  it('reproduces the published Ed25519 signature (Ed25519 is deterministic)', () => {
    const vector = fixture.vectors.find((v) => v.alg === 'ed25519');
    if (vector === undefined) throw new Error('no ed25519 vector');
    const signature = sign(
      null,
      Buffer.from(vector.signatureBase.join('\n')),
      createPrivateKey(vector.privateKeyPem ?? ''),
    );
    expect(`sig-b26=:${signature.toString('base64')}:`).toBe(vector.signature);
  });
});
