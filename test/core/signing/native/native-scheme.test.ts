import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  contentDigest,
  nativeScheme,
  NATIVE_REPLAY_TTL_MS,
  type NativeCredential,
} from '../../../../src/core/signing/native/index.js';
import type { SignedRequest, VerifierKey } from '../../../../src/core/signing/types.js';
import {
  CREATED_SECONDS,
  ED25519_KEY,
  editInput,
  HMAC_KEY,
  KEY_ID,
  NONCE,
  NOW_MS,
  SECRET,
  signedRequest,
  WINDOW,
  withHeaders,
} from './helpers.js';

const ORDER = '{"symbol":"BTCUSDT","side":"BUY","quantity":"0.01"}';

function parseOk(request: SignedRequest): NativeCredential {
  const result = nativeScheme.parse(request);
  if (!result.ok) throw new Error(`expected a credential, got ${result.reason}`);
  return result.credential;
}

function reasonOf(request: SignedRequest): string {
  const result = nativeScheme.parse(request);
  return result.ok ? 'OK' : result.reason;
}

function verifies(request: SignedRequest, key: VerifierKey): number {
  return nativeScheme.verify(parseOk(request), request, key);
}

describe('native scheme round trip', () => {
  const shapes = [
    { name: 'GET without query', shape: { method: 'GET', path: '/api/v1/account' } },
    { name: 'GET with query', shape: { method: 'GET', rawQuery: 'symbol=BTCUSDT&limit=10' } },
    { name: 'GET with empty query', shape: { method: 'GET', rawQuery: '' } },
    {
      name: 'POST with body',
      shape: { body: ORDER, headers: { 'content-type': 'application/json' } },
    },
    {
      name: 'DELETE with query and body',
      shape: { method: 'DELETE', rawQuery: 'id=1', body: ORDER },
    },
  ];
  for (const alg of ['hmac-sha256', 'ed25519'] as const) {
    const key = alg === 'hmac-sha256' ? HMAC_KEY : ED25519_KEY;
    it.each(shapes)(`${alg}: $name verifies`, ({ shape }) => {
      expect(verifies(signedRequest(shape, alg), key)).toBe(0);
    });
  }

  it('fills the credential fields', () => {
    const request = signedRequest({ rawQuery: 'a=1', body: ORDER });
    expect(parseOk(request)).toMatchObject({
      dialect: 'native',
      keyId: KEY_ID,
      alg: 'hmac-sha256',
      signedAtMs: CREATED_SECONDS * 1000,
      replayId: NONCE,
      replayTtlMs: NATIVE_REPLAY_TTL_MS,
      credentialHeaders: ['signature', 'signature-input'],
      forwardQuery: 'a=1',
    });
  });

  it('returns the index of the rotated secret that verifies', () => {
    const request = signedRequest({ body: ORDER });
    const key: VerifierKey = {
      scheme: 'hmac',
      secrets: [Buffer.from('sk_test_the_new_secret_nobody_has_yet'), Buffer.from(SECRET)],
    };
    expect(verifies(request, key)).toBe(1);
  });

  it('accepts a sha-512 Content-Digest', () => {
    const request = signedRequest({ body: ORDER }, 'hmac-sha256', { digestAlg: 'sha-512' });
    expect(verifies(request, HMAC_KEY)).toBe(0);
  });

  it('accepts Signature-Input given as a one-element array of field lines', () => {
    const request = signedRequest({ body: ORDER });
    const input = request.headers['signature-input'] as string;
    expect(verifies(withHeaders(request, { 'signature-input': [` ${input} `] }), HMAC_KEY)).toBe(0);
  });
});

describe('native scheme detect', () => {
  it('detects Signature-Input or Signature', () => {
    const base = { method: 'GET', path: '/', rawQuery: null, body: Buffer.alloc(0) };
    expect(nativeScheme.detect({ ...base, headers: { 'signature-input': 'x' } })).toBe(true);
    expect(nativeScheme.detect({ ...base, headers: { signature: 'x' } })).toBe(true);
    expect(nativeScheme.detect({ ...base, headers: { 'x-mbx-apikey': 'x' } })).toBe(false);
  });
});

describe('native scheme verify', () => {
  it('returns -1 for an HMAC-signed request against an Ed25519 key', () => {
    expect(verifies(signedRequest({ body: ORDER }), ED25519_KEY)).toBe(-1);
  });

  it('returns -1 for an Ed25519-signed request against an HMAC key', () => {
    expect(verifies(signedRequest({ body: ORDER }, 'ed25519'), HMAC_KEY)).toBe(-1);
  });

  it('returns -1 for another secret', () => {
    const key: VerifierKey = { scheme: 'hmac', secrets: [Buffer.from(SECRET + 'x')] };
    expect(verifies(signedRequest({ body: ORDER }), key)).toBe(-1);
  });

  it('returns -1 when the secret is the base64-decoded form of the shown secret', () => {
    const key: VerifierKey = { scheme: 'hmac', secrets: [Buffer.from(SECRET, 'base64')] };
    expect(verifies(signedRequest(), key)).toBe(-1);
  });
});

describe('native scheme inWindow', () => {
  const credential = parseOk(signedRequest());
  it.each([
    { name: 'at created', nowMs: NOW_MS, expected: true },
    { name: 'pastMs after', nowMs: NOW_MS + WINDOW.pastMs, expected: true },
    { name: 'just past the window', nowMs: NOW_MS + WINDOW.pastMs + 1, expected: false },
    { name: 'futureMs before', nowMs: NOW_MS - WINDOW.futureMs, expected: true },
    { name: 'too far in the future', nowMs: NOW_MS - WINDOW.futureMs - 1, expected: false },
  ])('$name → $expected', ({ nowMs, expected }) => {
    expect(nativeScheme.inWindow(credential, nowMs, WINDOW)).toBe(expected);
  });

  it('refuses at or after expires even inside the window', () => {
    const withExpiry = parseOk(
      signedRequest({}, 'hmac-sha256', { expiresSeconds: CREATED_SECONDS + 2 }),
    );
    expect(nativeScheme.inWindow(withExpiry, NOW_MS + 1_999, WINDOW)).toBe(true);
    expect(nativeScheme.inWindow(withExpiry, NOW_MS + 2_000, WINDOW)).toBe(false);
  });
});

describe('native scheme rejections', () => {
  const post = signedRequest({ rawQuery: 'a=1', body: ORDER });
  const replaceInput = (from: string | RegExp, to: string) =>
    editInput(post, (v) => v.replace(from, to));

  it.each([
    {
      name: 'no credential at all',
      request: withHeaders(post, { signature: undefined, 'signature-input': undefined }),
      reason: 'CREDENTIALS_MISSING',
    },
    {
      name: 'Signature missing',
      request: withHeaders(post, { signature: undefined }),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'Signature-Input missing',
      request: withHeaders(post, { 'signature-input': undefined }),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: '@method not covered',
      request: replaceInput('"@method" ', ''),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: '@path not covered',
      request: replaceInput('"@path" ', ''),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: '@query not covered with a query',
      request: replaceInput('"@query" ', ''),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'content-digest not covered with a body',
      request: replaceInput(' "content-digest"', ''),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: '@query-param covered',
      request: replaceInput('"@query"', '"@query-param";name="a"'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: '@target-uri covered',
      request: replaceInput('"@query"', '"@query" "@target-uri"'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'component parameter ;sf',
      request: replaceInput('"content-digest"', '"content-digest";sf'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'component parameter ;bs',
      request: replaceInput('"content-digest"', '"content-digest";bs'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'covered header absent',
      request: replaceInput('"@query"', '"@query" "x-absent"'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'duplicate component',
      request: replaceInput('"@path"', '"@path" "@path"'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'signature field covered',
      request: replaceInput('"@query"', '"@query" "signature"'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'created missing',
      request: replaceInput(/;created=\d+/, ''),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'keyid missing',
      request: replaceInput(/;keyid="[^"]*"/, ''),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'alg missing',
      request: replaceInput(/;alg="[^"]*"/, ''),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'nonce missing',
      request: replaceInput(/;nonce="[^"]*"/, ''),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'unknown parameter',
      request: editInput(post, (v) => v + ';tag="x"'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'repeated parameter',
      request: editInput(post, (v) => v + ';created=1700000001'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'alg naming the other algorithm (wrong signature length)',
      request: replaceInput('"hmac-sha256"', '"ed25519"'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'unknown alg',
      request: replaceInput('"hmac-sha256"', '"rsa-pss-sha512"'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'alg as a token',
      request: replaceInput('"hmac-sha256"', 'hmac-sha256'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'created in milliseconds',
      request: replaceInput(/created=\d+/, 'created=1700000000000'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'created negative',
      request: replaceInput(/created=\d+/, 'created=-1700000000'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'created as a string',
      request: replaceInput(/created=\d+/, 'created="1700000000"'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'created decimal',
      request: replaceInput(/created=\d+/, 'created=1700000000.5'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'created 1.0-style',
      request: replaceInput(/created=\d+/, 'created=1700000000.0'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'created with a leading zero',
      request: replaceInput(/created=\d+/, 'created=01700000000'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'created beyond 2^53',
      request: replaceInput(/created=\d+/, 'created=99999999999999999'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'expires before created',
      request: replaceInput(/(created=\d+)/, '$1;expires=1699999999'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'nonce too short',
      request: replaceInput(/nonce="[^"]*"/, 'nonce="short"'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'nonce with a space',
      request: replaceInput(/nonce="[^"]*"/, 'nonce="0123456789 abcdefgh"'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'empty keyid',
      request: replaceInput(/keyid="[^"]*"/, 'keyid=""'),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'two labels',
      request: editInput(
        post,
        (v) => `${v}, sig2=("@method");created=1;keyid="k";alg="hmac-sha256";nonce="${NONCE}"`,
      ),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'same label twice',
      request: editInput(post, (v) => `${v}, ${v}`),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'two field lines',
      request: withHeaders(post, {
        'signature-input': [post.headers['signature-input'] as string, 'sig2=()'],
      }),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'extra space inside the list',
      request: replaceInput('"@method" ', '"@method"  '),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'labels differ',
      request: withHeaders(post, {
        signature: (post.headers.signature as string).replace('sig1', 'sig2'),
      }),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'signature too short',
      request: withHeaders(post, { signature: 'sig1=:AAAA:' }),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'signature of Ed25519 length for hmac',
      request: withHeaders(post, { signature: `sig1=:${Buffer.alloc(64).toString('base64')}:` }),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'signature not base64',
      request: withHeaders(post, { signature: `sig1=:${'!'.repeat(44)}:` }),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'signature unpadded',
      request: withHeaders(post, {
        signature: (post.headers.signature as string).replace(/=+:$/, ':'),
      }),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'signature with a parameter',
      request: withHeaders(post, { signature: `${post.headers.signature as string};x=1` }),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'digest missing with a body',
      request: withHeaders(post, { 'content-digest': undefined }),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'digest of another body',
      request: withHeaders(post, { 'content-digest': contentDigest(Buffer.from('{}')) }),
      reason: 'DIGEST_MISMATCH',
    },
    {
      name: 'digest with an unsupported algorithm only',
      request: withHeaders(post, { 'content-digest': 'md5=:AAAAAAAAAAAAAAAAAAAAAA==:' }),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'digest of the wrong length',
      request: withHeaders(post, { 'content-digest': 'sha-256=:AAAA:' }),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'digest not a byte sequence',
      request: withHeaders(post, { 'content-digest': 'sha-256="abc"' }),
      reason: 'SIGNATURE_MALFORMED',
    },
    {
      name: 'digest algorithm twice',
      request: withHeaders(post, {
        'content-digest': `${post.headers['content-digest'] as string}, ${post.headers['content-digest'] as string}`,
      }),
      reason: 'SIGNATURE_MALFORMED',
    },
  ])('$name → $reason', ({ request, reason }) => {
    expect(reasonOf(request)).toBe(reason);
  });

  it('rejects a body-less request carrying an uncovered Content-Digest', () => {
    const get = signedRequest({ method: 'GET' });
    const request = withHeaders(get, { 'content-digest': contentDigest(Buffer.alloc(0)) });
    expect(reasonOf(request)).toBe('SIGNATURE_MALFORMED');
  });

  it('rejects a covered header whose value is not ASCII', () => {
    const request = signedRequest({ headers: { 'x-note': 'ok' }, body: ORDER });
    expect(reasonOf(withHeaders(request, { 'x-note': 'caf\u00e9' }))).toBe('SIGNATURE_MALFORMED');
  });

  it('rejects a query added to a request signed without one', () => {
    const get = signedRequest({ method: 'GET' });
    expect(reasonOf({ ...get, rawQuery: 'a=1' })).toBe('SIGNATURE_MALFORMED');
  });
});

describe('native scheme robustness', () => {
  it('never throws on arbitrary credential fields', () => {
    const field = fc.option(
      fc.oneof(
        fc.string({ maxLength: 120 }),
        fc.array(fc.string({ maxLength: 40 }), { maxLength: 3 }),
      ),
      { nil: undefined },
    );
    fc.assert(
      fc.property(
        field,
        field,
        field,
        fc.uint8Array({ maxLength: 16 }),
        (input, sig, digest, body) => {
          const request: SignedRequest = {
            method: 'POST',
            path: '/p',
            rawQuery: null,
            body: Buffer.from(body),
            headers: { 'signature-input': input, signature: sig, 'content-digest': digest },
          };
          const result = nativeScheme.parse(request);
          if (result.ok) nativeScheme.verify(result.credential, request, HMAC_KEY);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
