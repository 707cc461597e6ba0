import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  binanceForwardBody,
  binanceScheme,
  parseBinance,
  type BinanceCredential,
} from '../../../../src/core/signing/binance.js';
import {
  binanceSignature,
  signBinance,
} from '../../../../src/core/signing/dialects/exchange-signers.js';
import type { SignedRequest, VerifierKey } from '../../../../src/core/signing/types.js';

interface Vector {
  id: string;
  payload: string;
  signature: string;
  rest: boolean;
}
const fixtures = JSON.parse(
  readFileSync(new URL('../../../fixtures/exchange-vectors/binance.json', import.meta.url), 'utf8'),
);
const SECRET: string = fixtures.hmacSecret;
const API_KEY: string = fixtures.apiKey;
const hmacKey: VerifierKey = { scheme: 'hmac', secrets: [Buffer.from(SECRET)] };
const edPrivate = createPrivateKey(fixtures.ed25519.privateKeyPem as string);
const edKey: VerifierKey = {
  scheme: 'ed25519',
  publicKey: createPublicKey(fixtures.ed25519.publicKeyPem as string),
};
const RULE = { pastMs: 5000, futureMs: 1000 };

function request(parts: {
  method?: string;
  rawQuery?: string | null;
  body?: string;
  headers?: Record<string, string | string[]>;
}): SignedRequest {
  const body = parts.body ?? '';
  return {
    method: parts.method ?? (body.length > 0 ? 'POST' : 'GET'),
    path: '/api/v3/order',
    rawQuery: parts.rawQuery ?? null,
    headers: {
      'x-mbx-apikey': API_KEY,
      ...(body.length > 0 ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      ...parts.headers,
    },
    body: Buffer.from(body),
  };
}

function parsed(req: SignedRequest): BinanceCredential {
  const result = parseBinance(req);
  if (!result.ok) throw new Error(`parse refused: ${result.reason}`);
  return result.credential;
}

function reasonOf(req: SignedRequest): string {
  const result = parseBinance(req);
  return result.ok ? 'OK' : result.reason;
}

const sign = (payload: string): string =>
  binanceSignature({ apiKey: API_KEY, secret: SECRET }, payload);
const queryOf = (payload: string): SignedRequest =>
  request({ rawQuery: `${payload}&signature=${sign(payload)}` });
const BASE = 'symbol=LTCBTC&side=BUY&type=LIMIT&quantity=1&price=0.1';
const NOW = 1_700_000_000_000;

describe('binance official and derived vectors', () => {
  const all: Vector[] = fixtures.hmac;
  it.each(all)('$id: HMAC-SHA256 hex of the payload matches', (v) => {
    expect(sign(v.payload)).toBe(v.signature);
  });

  it.each(all.filter((v) => v.rest))('$id: verifies as a query string', (v) => {
    const req = request({ rawQuery: `${v.payload}&signature=${v.signature}` });
    expect(binanceScheme.verify(parsed(req), req, hmacKey)).toBe(0);
  });

  it.each(all.filter((v) => v.rest))('$id: verifies as a form body', (v) => {
    const req = request({ body: `${v.payload}&signature=${v.signature}` });
    expect(binanceScheme.verify(parsed(req), req, hmacKey)).toBe(0);
  });

  const futures: Vector[] = fixtures.futures.vectors;
  it.each(futures)('$id: futures HMAC matches', (v) => {
    expect(binanceSignature({ apiKey: 'k', secret: fixtures.futures.secret }, v.payload)).toBe(
      v.signature,
    );
  });

  it('BN-3: the documented mixed query+body request is refused (boundary shift)', () => {
    const v: { query: string; body: string; signature: string } = fixtures.hmac[2];
    const req = request({ rawQuery: v.query, body: `${v.body}&signature=${v.signature}` });
    expect(reasonOf(req)).toBe('BAD_REQUEST');
  });

  const ed: Vector[] = fixtures.ed25519.vectors;
  it.each(ed)('$id: Ed25519 signer reproduces the derived signature', (v) => {
    const signed = binanceSignature({ apiKey: API_KEY, privateKey: edPrivate }, v.payload);
    expect(decodeURIComponent(signed)).toBe(v.signature);
  });

  it('D-ED-2: a percent-encoded Ed25519 signature verifies against the public key', () => {
    const v = ed[0] as Vector;
    const req = request({ rawQuery: `${v.payload}&signature=${encodeURIComponent(v.signature)}` });
    expect(binanceScheme.verify(parsed(req), req, edKey)).toBe(0);
  });

  it('D-ED-2: an Ed25519 signature never verifies against an HMAC key', () => {
    const v = ed[0] as Vector;
    const req = request({ rawQuery: `${v.payload}&signature=${encodeURIComponent(v.signature)}` });
    expect(binanceScheme.verify(parsed(req), req, hmacKey)).toBe(-1);
  });

  const wire: {
    id: string;
    method: string;
    path: string;
    rawQuery: string | null;
    body: string;
  }[] = fixtures.ccxtWire.requests;
  it.each(wire)('$id: the ccxt wire capture parses, is in window and verifies', (w) => {
    const req = request({ method: w.method, rawQuery: w.rawQuery, body: w.body });
    const credential = parsed(req);
    expect(binanceScheme.inWindow(credential, fixtures.ccxtWire.nowMs, RULE)).toBe(true);
    expect(binanceScheme.verify(credential, req, hmacKey)).toBe(0);
  });
});

describe('binance parse and round trip', () => {
  it('detects the scheme by the X-MBX-APIKEY header only', () => {
    expect(binanceScheme.detect(request({}))).toBe(true);
    expect(binanceScheme.detect({ ...request({}), headers: {} })).toBe(false);
  });

  it('signBinance output parses and verifies in the query', () => {
    const s = signBinance(
      { apiKey: API_KEY, secret: SECRET },
      { params: BASE, timestampMs: NOW, recvWindowMs: 5000, placement: 'query' },
    );
    const req: SignedRequest = {
      method: 'GET',
      path: '/api/v3/order',
      rawQuery: s.rawQuery,
      headers: s.headers,
      body: Buffer.from(s.body),
    };
    expect(binanceScheme.verify(parsed(req), req, hmacKey)).toBe(0);
  });

  it('signBinance output parses and verifies in the body', () => {
    const s = signBinance(
      { apiKey: API_KEY, secret: SECRET },
      { params: BASE, timestampMs: NOW, placement: 'body' },
    );
    const req: SignedRequest = {
      method: 'POST',
      path: '/api/v3/order',
      rawQuery: s.rawQuery,
      headers: s.headers,
      body: Buffer.from(s.body),
    };
    expect(binanceScheme.verify(parsed(req), req, hmacKey)).toBe(0);
  });

  it('returns the index of an older secret still in its grace period', () => {
    const req = queryOf(`${BASE}&timestamp=${NOW}`);
    const key: VerifierKey = {
      scheme: 'hmac',
      secrets: [Buffer.from('new-secret'), Buffer.from(SECRET)],
    };
    expect(binanceScheme.verify(parsed(req), req, key)).toBe(1);
  });

  it('returns -1 for a wrong secret', () => {
    const req = queryOf(`${BASE}&timestamp=${NOW}`);
    expect(
      binanceScheme.verify(parsed(req), req, { scheme: 'hmac', secrets: [Buffer.from('x')] }),
    ).toBe(-1);
  });

  it('strips the signature from the forwarded query', () => {
    const payload = `${BASE}&timestamp=${NOW}`;
    expect(parsed(queryOf(payload)).forwardQuery).toBe(payload);
  });

  it('strips the signature from the forwarded body', () => {
    const payload = `${BASE}&timestamp=${NOW}`;
    const req = request({ body: `${payload}&signature=${sign(payload)}` });
    expect(binanceForwardBody(parsed(req), req.body).toString()).toBe(payload);
  });

  it('keeps a µs timestamp as fractional milliseconds', () => {
    expect(parsed(queryOf(`${BASE}&timestamp=${NOW}123`)).signedAtMs).toBeCloseTo(NOW + 0.123, 3);
  });

  it('defaults recvWindow to 5000 and derives the replay TTL from it', () => {
    const credential = parsed(queryOf(`${BASE}&timestamp=${NOW}`));
    expect(credential.recvWindowMs).toBe(5000);
    expect(credential.replayTtlMs).toBeGreaterThanOrEqual(5000 + 1000);
  });

  it('accepts a recvWindow with three decimals', () => {
    expect(parsed(queryOf(`${BASE}&timestamp=${NOW}&recvWindow=6000.346`)).recvWindowMs).toBe(
      6000.346,
    );
  });

  it('gives the same replay id for the same request', () => {
    const req = queryOf(`${BASE}&timestamp=${NOW}`);
    expect(parsed(req).replayId).toBe(parsed(queryOf(`${BASE}&timestamp=${NOW}`)).replayId);
  });

  it('gives the same replay id whatever the hex case', () => {
    const payload = `${BASE}&timestamp=${NOW}`;
    const upper = request({ rawQuery: `${payload}&signature=${sign(payload).toUpperCase()}` });
    expect(parsed(upper).replayId).toBe(parsed(queryOf(payload)).replayId);
  });

  it('gives the same replay id for raw and percent-encoded base64 signatures', () => {
    const v = fixtures.ed25519.vectors[0] as Vector;
    const raw = request({
      rawQuery: `${v.payload}&signature=${v.signature.replaceAll('+', '%2B')}`,
    });
    const lowerEscapes = encodeURIComponent(v.signature).replace(/%[0-9A-F]{2}/g, (e) =>
      e.toLowerCase(),
    );
    const encoded = request({ rawQuery: `${v.payload}&signature=${lowerEscapes}` });
    expect(parsed(raw).replayId).toBe(parsed(encoded).replayId);
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.option(fc.string(), { nil: null }), fc.string(), fc.string(), (q, b, k) => {
        const req = request({ rawQuery: q, body: b, headers: { 'x-mbx-apikey': k } });
        const result = parseBinance(req);
        if (result.ok) binanceScheme.verify(result.credential, req, hmacKey);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('binance attacks', () => {
  const payload = `${BASE}&timeInForce=GTC&timestamp=${NOW}`;

  it('refuses parameters split between query and body', () => {
    const signature = sign(payload);
    const req = request({
      rawQuery: 'symbol=LTCBTC&timeInForce=GTC',
      body: `quantity=1&timestamp=${NOW}&signature=${signature}`,
    });
    expect(reasonOf(req)).toBe('BAD_REQUEST');
  });

  it('refuses a body that is not a form', () => {
    const req = request({
      body: `${payload}&signature=${sign(payload)}`,
      headers: { 'content-type': 'application/json' },
    });
    expect(reasonOf(req)).toBe('BAD_REQUEST');
  });

  it.each([
    ['within the query', `symbol=LTCBTC&symbol=ETHBTC&timestamp=${NOW}`],
    ['of timestamp', `${BASE}&timestamp=${NOW}&timestamp=${NOW + 1}`],
    ['of recvWindow', `${BASE}&recvWindow=5000&timestamp=${NOW}&recvWindow=60000`],
  ])('refuses duplicate parameters %s', (_label, p) => {
    expect(reasonOf(queryOf(p))).toBe('BAD_REQUEST');
  });

  it('refuses a duplicate within the body', () => {
    const p = `symbol=LTCBTC&symbol=ETHBTC&timestamp=${NOW}`;
    expect(reasonOf(request({ body: `${p}&signature=${sign(p)}` }))).toBe('BAD_REQUEST');
  });

  it.each([
    ['a percent-encoded name alias', `${BASE}&%74imestamp=1&timestamp=${NOW}`],
    ['an array name', `a[]=1&timestamp=${NOW}`],
    ['an object name', `a[b]=1&timestamp=${NOW}`],
    ['an empty segment', `${BASE}&&timestamp=${NOW}`],
    ['a segment without =', `${BASE}&flag&timestamp=${NOW}`],
  ])('refuses %s', (_label, p) => {
    expect(reasonOf(queryOf(p))).toBe('BAD_REQUEST');
  });

  it('refuses a signature with a space (not a visible ASCII byte)', () => {
    expect(reasonOf(request({ rawQuery: `${payload}&signature= ${sign(payload).slice(1)}` }))).toBe(
      'BAD_REQUEST',
    );
  });

  it('refuses a request without signature', () => {
    expect(reasonOf(request({ rawQuery: payload }))).toBe('SIGNATURE_MALFORMED');
  });

  it('refuses an empty signature', () => {
    expect(reasonOf(request({ rawQuery: `${payload}&signature=` }))).toBe('SIGNATURE_MALFORMED');
  });

  it('refuses a repeated signature', () => {
    const s = sign(payload);
    expect(reasonOf(request({ rawQuery: `${payload}&signature=${s}&signature=${s}` }))).toBe(
      'SIGNATURE_MALFORMED',
    );
  });

  it('refuses a signature that is not the last parameter', () => {
    expect(reasonOf(request({ rawQuery: `signature=${sign(payload)}&${payload}` }))).toBe(
      'SIGNATURE_MALFORMED',
    );
  });

  it('refuses a request without the key header', () => {
    const req = queryOf(payload);
    expect(reasonOf({ ...req, headers: {} })).toBe('CREDENTIALS_MISSING');
  });

  it('refuses a repeated key header', () => {
    expect(reasonOf({ ...queryOf(payload), headers: { 'x-mbx-apikey': [API_KEY, API_KEY] } })).toBe(
      'SIGNATURE_MALFORMED',
    );
  });

  it('accepts an upper-case hex signature', () => {
    const req = request({ rawQuery: `${payload}&signature=${sign(payload).toUpperCase()}` });
    expect(binanceScheme.verify(parsed(req), req, hmacKey)).toBe(0);
  });

  it.each([
    ['63 hex chars', (s: string) => s.slice(0, 63)],
    ['65 hex chars', (s: string) => `${s}0`],
    ['a 0x prefix', (s: string) => `0x${s.slice(2)}`],
    ['a non-hex char', (s: string) => `${s.slice(0, 63)}g`],
    [
      'a raw + in base64',
      () =>
        'Ws+5m/CMnpkko0uBFxGTZ2+fjqqBXsUjRiaz173fPhXTkhoDBYNZ6wcYNeWItdrGn1pvG7vkwx2fhmJdAZ3KDQ==',
    ],
    [
      'an unknown percent escape',
      () =>
        'Ws%2C5m/CMnpkko0uBFxGTZ2%2BfjqqBXsUjRiaz173fPhXTkhoDBYNZ6wcYNeWItdrGn1pvG7vkwx2fhmJdAZ3KDQ%3D%3D',
    ],
  ])('refuses a signature with %s', (_label, mutate) => {
    expect(reasonOf(request({ rawQuery: `${payload}&signature=${mutate(sign(payload))}` }))).toBe(
      'SIGNATURE_MALFORMED',
    );
  });

  it('refuses a timestamp in seconds as outside the window', () => {
    expect(reasonOf(queryOf(`${BASE}&timestamp=1700000000`))).toBe('TIMESTAMP_OUTSIDE_WINDOW');
  });

  it.each([
    '+1700000000000',
    '01700000000000',
    '1700000000000.5',
    '1.7e12',
    '-1700000000000',
    '',
    '17000000000000000',
  ])('refuses the timestamp %j as malformed', (ts) => {
    expect(reasonOf(queryOf(`${BASE}&timestamp=${ts}`))).toBe('SIGNATURE_MALFORMED');
  });

  it('refuses a request without timestamp', () => {
    expect(reasonOf(queryOf(BASE))).toBe('SIGNATURE_MALFORMED');
  });

  it.each([
    '0',
    '-1',
    '60001',
    '1e12',
    '5000abc',
    '05000',
    '5000.',
    '5000.1234',
    '1000000000000',
    '',
  ])('refuses recvWindow=%j', (rw) => {
    expect(reasonOf(queryOf(`${BASE}&timestamp=${NOW}&recvWindow=${rw}`))).toBe(
      'SIGNATURE_MALFORMED',
    );
  });

  it('accepts recvWindow=60000', () => {
    expect(reasonOf(queryOf(`${BASE}&timestamp=${NOW}&recvWindow=60000`))).toBe('OK');
  });
});

describe('binance window (timestamp < now + 1000 and now - timestamp <= recvWindow)', () => {
  const at = (ts: number, rw = 5000): BinanceCredential =>
    parsed(queryOf(`${BASE}&timestamp=${ts}&recvWindow=${rw}`));
  it('accepts now + 999', () =>
    expect(binanceScheme.inWindow(at(NOW + 999), NOW, RULE)).toBe(true));
  it('refuses now + 1000', () =>
    expect(binanceScheme.inWindow(at(NOW + 1000), NOW, RULE)).toBe(false));
  it('accepts now - recvWindow', () =>
    expect(binanceScheme.inWindow(at(NOW - 7000, 7000), NOW, RULE)).toBe(true));
  it('refuses now - recvWindow - 1', () =>
    expect(binanceScheme.inWindow(at(NOW - 7001, 7000), NOW, RULE)).toBe(false));
  it('ignores the environment rule', () => {
    expect(binanceScheme.inWindow(at(NOW - 50_000, 60_000), NOW, { pastMs: 1, futureMs: 1 })).toBe(
      true,
    );
  });
  it('keeps the replay id for at least the whole window', () => {
    const credential = at(NOW, 60_000);
    expect(credential.replayTtlMs).toBeGreaterThanOrEqual(60_000 + 1000);
  });
});
