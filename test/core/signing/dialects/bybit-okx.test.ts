import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  bybitScheme,
  parseBybit,
  type BybitCredential,
} from '../../../../src/core/signing/bybit.js';
import { signBybit, signOkx } from '../../../../src/core/signing/dialects/exchange-signers.js';
import {
  createOkxScheme,
  okxScheme,
  parseOkxTimestamp,
  type OkxCredential,
} from '../../../../src/core/signing/okx.js';
import type { SignedRequest, VerifierKey } from '../../../../src/core/signing/types.js';

const load = (name: string) =>
  JSON.parse(
    readFileSync(new URL(`../../../fixtures/exchange-vectors/${name}`, import.meta.url), 'utf8'),
  );
const bybitFx = load('bybit.json');
const okxFx = load('okx.json');
const NOW = 1_700_000_000_000;
const RULE = { pastMs: 5000, futureMs: 1000 };
const edKey: VerifierKey = {
  scheme: 'ed25519',
  publicKey: generateKeyPairSync('ed25519').publicKey,
};

interface Wire {
  id: string;
  method: string;
  path?: string;
  rawQuery: string | null;
  body: string;
  timestamp: string;
  recvWindow?: string;
  signature: string;
}

function req(
  method: string,
  rawQuery: string | null,
  body: string,
  headers: Record<string, string | string[]>,
  path = '/v5/x',
): SignedRequest {
  return { method, path, rawQuery, headers, body: Buffer.from(body) };
}

describe('bybit v5', () => {
  const key: VerifierKey = { scheme: 'hmac', secrets: [Buffer.from(bybitFx.secret as string)] };
  const headersOf = (w: Wire): Record<string, string> => ({
    'x-bapi-api-key': bybitFx.apiKey,
    'x-bapi-timestamp': w.timestamp,
    'x-bapi-recv-window': w.recvWindow ?? '5000',
    'x-bapi-sign': w.signature,
    ...(w.method === 'POST' ? { 'content-type': 'application/json' } : {}),
  });
  const toRequest = (w: Wire) => req(w.method, w.rawQuery, w.body, headersOf(w));
  const parsed = (r: SignedRequest): BybitCredential => {
    const result = parseBybit(r);
    if (!result.ok) throw new Error(result.reason);
    return result.credential;
  };
  const reasonOf = (r: SignedRequest) => {
    const result = parseBybit(r);
    return result.ok ? 'OK' : result.reason;
  };
  const signed = (
    over: {
      method?: string;
      rawQuery?: string | null;
      body?: string;
      ts?: number;
      rw?: number | null;
    } = {},
  ) => {
    const method = over.method ?? 'GET';
    const rawQuery = over.rawQuery === undefined ? 'category=linear&symbol=BTCUSDT' : over.rawQuery;
    const body = over.body ?? '';
    const headers = signBybit(
      { apiKey: bybitFx.apiKey, secret: bybitFx.secret },
      { method, rawQuery, body, timestampMs: over.ts ?? NOW, recvWindowMs: over.rw },
    );
    return req(method, rawQuery, body, headers);
  };

  it.each(bybitFx.derived as Wire[])('$id: derived vector verifies', (w) => {
    const r = toRequest(w);
    expect(bybitScheme.verify(parsed(r), r, key)).toBe(0);
  });

  it.each(bybitFx.ccxtWire.requests as Wire[])('$id: ccxt wire capture verifies in window', (w) => {
    const r = toRequest(w);
    expect(bybitScheme.inWindow(parsed(r), bybitFx.ccxtWire.nowMs, RULE)).toBe(true);
    expect(bybitScheme.verify(parsed(r), r, key)).toBe(0);
  });

  it('signBybit output verifies for GET and POST', () => {
    const get = signed();
    const post = signed({ method: 'POST', rawQuery: null, body: '{"a":"1"}' });
    expect([
      bybitScheme.verify(parsed(get), get, key),
      bybitScheme.verify(parsed(post), post, key),
    ]).toEqual([0, 0]);
  });

  it('signs an absent recvWindow header as the empty string and applies the 5000 default', () => {
    const r = signed({ rw: null });
    expect(bybitScheme.verify(parsed(r), r, key)).toBe(0);
    expect(parsed(r).recvWindowMs).toBe(5000);
  });

  it('detects by X-BAPI-API-KEY only', () => {
    expect(bybitScheme.detect(signed())).toBe(true);
    expect(bybitScheme.detect(req('GET', null, '', { 'x-mbx-apikey': 'k' }))).toBe(false);
  });

  it('accepts an upper-case signature with the same replay id', () => {
    const r = signed();
    const upper = {
      ...r,
      headers: { ...r.headers, 'x-bapi-sign': String(r.headers['x-bapi-sign']).toUpperCase() },
    };
    expect(parsed(upper).replayId).toBe(parsed(r).replayId);
    expect(bybitScheme.verify(parsed(upper), upper, key)).toBe(0);
  });

  it('returns -1 for an Ed25519 key', () => {
    const r = signed();
    expect(bybitScheme.verify(parsed(r), r, edKey)).toBe(-1);
  });

  it('refuses a POST that also carries a query (unsigned parameters)', () => {
    const r = signed({ method: 'POST', rawQuery: null, body: '{"a":"1"}' });
    expect(reasonOf({ ...r, rawQuery: 'symbol=ETHUSDT' })).toBe('BAD_REQUEST');
  });

  it('refuses a GET that also carries a body (unsigned data)', () => {
    const r = signed();
    expect(reasonOf({ ...r, body: Buffer.from('{"a":"1"}') })).toBe('BAD_REQUEST');
  });

  it('refuses a POST body that is not a JSON object or array', () => {
    expect(reasonOf(signed({ method: 'POST', rawQuery: null, body: '0{"a":1}' }))).toBe(
      'BAD_REQUEST',
    );
  });

  it('refuses duplicate query parameters', () => {
    expect(reasonOf(signed({ rawQuery: 'symbol=BTCUSDT&symbol=ETHUSDT' }))).toBe('BAD_REQUEST');
  });

  it('refuses a query whose first name starts with a digit (recvWindow boundary)', () => {
    expect(reasonOf(signed({ rawQuery: '0symbol=BTCUSDT' }))).toBe('BAD_REQUEST');
  });

  it.each([
    ['x-bapi-sign', ''],
    ['x-bapi-sign', 'abc'],
    ['x-bapi-sign', '0'.repeat(65)],
    ['x-bapi-timestamp', '+1700000000000'],
    ['x-bapi-timestamp', '1700000000000.0'],
    ['x-bapi-recv-window', '0'],
    ['x-bapi-recv-window', '-1'],
    ['x-bapi-recv-window', '60001'],
    ['x-bapi-recv-window', '1e12'],
    ['x-bapi-recv-window', '5000abc'],
  ])('refuses %s: %j', (name, value) => {
    const r = signed();
    expect(reasonOf({ ...r, headers: { ...r.headers, [name]: value } })).toBe(
      'SIGNATURE_MALFORMED',
    );
  });

  it('refuses a repeated signature header', () => {
    const r = signed();
    const s = String(r.headers['x-bapi-sign']);
    expect(reasonOf({ ...r, headers: { ...r.headers, 'x-bapi-sign': [s, s] } })).toBe(
      'SIGNATURE_MALFORMED',
    );
  });

  it('refuses a missing signature header', () => {
    const r = signed();
    const { 'x-bapi-sign': _dropped, ...rest } = r.headers;
    expect(reasonOf({ ...r, headers: rest })).toBe('SIGNATURE_MALFORMED');
  });

  it('treats a timestamp in seconds as outside the window', () => {
    const r = signed();
    expect(reasonOf({ ...r, headers: { ...r.headers, 'x-bapi-timestamp': '1700000000' } })).toBe(
      'TIMESTAMP_OUTSIDE_WINDOW',
    );
  });

  it.each([
    ['now + 999', NOW + 999, true],
    ['now + 1000', NOW + 1000, false],
    ['now - recvWindow', NOW - 5000, true],
    ['now - recvWindow - 1', NOW - 5001, false],
  ])('window: %s', (_label, ts, ok) => {
    expect(bybitScheme.inWindow(parsed(signed({ ts })), NOW, RULE)).toBe(ok);
  });

  it('gives the same replay id for the same request', () => {
    expect(parsed(signed()).replayId).toBe(parsed(signed()).replayId);
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(
        fc.string(),
        fc.string(),
        fc.string(),
        fc.option(fc.string(), { nil: null }),
        (k, ts, s, q) => {
          const r = req('GET', q, '', {
            'x-bapi-api-key': k,
            'x-bapi-timestamp': ts,
            'x-bapi-sign': s,
          });
          const result = parseBybit(r);
          if (result.ok) bybitScheme.verify(result.credential, r, key);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('okx v5', () => {
  const key: VerifierKey = { scheme: 'hmac', secrets: [Buffer.from(okxFx.secret as string)] };
  const okxKey = {
    apiKey: okxFx.ccxtWire.apiKey as string,
    secret: okxFx.secret as string,
    passphrase: 'passphrase',
  };
  const toRequest = (w: Wire): SignedRequest =>
    req(
      w.method,
      w.rawQuery,
      w.body,
      {
        'ok-access-key': okxKey.apiKey,
        'ok-access-sign': w.signature,
        'ok-access-timestamp': w.timestamp,
        'ok-access-passphrase': okxKey.passphrase,
      },
      w.path,
    );
  const parseResult = (r: SignedRequest) => okxScheme.parse(r);
  const parsed = (r: SignedRequest): OkxCredential => {
    const result = parseResult(r);
    if (!result.ok) throw new Error(result.reason);
    return result.credential;
  };
  const reasonOf = (r: SignedRequest) => {
    const result = parseResult(r);
    return result.ok ? 'OK' : result.reason;
  };
  const signed = (
    over: { method?: string; rawQuery?: string | null; body?: string; ts?: number } = {},
  ) => {
    const method = over.method ?? 'GET';
    const rawQuery = over.rawQuery === undefined ? 'ccy=BTC' : over.rawQuery;
    const body = over.body ?? '';
    const path = '/api/v5/account/balance';
    return req(
      method,
      rawQuery,
      body,
      signOkx(okxKey, { method, path, rawQuery, body, timestampMs: over.ts ?? NOW }),
      path,
    );
  };

  it.each([...(okxFx.derived as Wire[]), ...(okxFx.ccxtWire.requests as Wire[])])(
    '$id: verifies',
    (w) => {
      const r = toRequest(w);
      expect(okxScheme.verify(parsed(r), r, key)).toBe(0);
    },
  );

  it('carries the passphrase on the credential for the pipeline to check', () => {
    expect(parsed(signed()).passphrase).toBe('passphrase');
  });

  it('signOkx output verifies for GET and POST', () => {
    const get = signed();
    const post = signed({ method: 'POST', rawQuery: null, body: '{"a":"1"}' });
    expect([
      okxScheme.verify(parsed(get), get, key),
      okxScheme.verify(parsed(post), post, key),
    ]).toEqual([0, 0]);
  });

  it('ignores x-simulated-trading', () => {
    const r = signed();
    const demo = { ...r, headers: { ...r.headers, 'x-simulated-trading': '1' } };
    expect(okxScheme.verify(parsed(demo), demo, key)).toBe(0);
  });

  it('detects by OK-ACCESS-KEY only', () => {
    expect(okxScheme.detect(signed())).toBe(true);
    expect(okxScheme.detect(req('GET', null, '', { 'x-bapi-api-key': 'k' }))).toBe(false);
  });

  it('returns -1 for an Ed25519 key', () => {
    const r = signed();
    expect(okxScheme.verify(parsed(r), r, edKey)).toBe(-1);
  });

  it('refuses data in both the query and the body (boundary shift)', () => {
    const r = signed({ method: 'POST', rawQuery: null, body: '{"a":"1"}' });
    expect(reasonOf({ ...r, rawQuery: 'a=1' })).toBe('BAD_REQUEST');
  });

  it.each([
    '1700000000000',
    '1700000000',
    '2020-12-08T09:08:57Z',
    '2020-12-08T09:08:57.715+00:00',
    '2020-12-08 09:08:57.715Z',
    '2020-02-30T09:08:57.715Z',
    '2020-12-08T24:08:57.715Z',
    '2020-12-08t09:08:57.715z',
  ])('refuses the timestamp %j', (ts) => {
    const r = signed();
    expect(reasonOf({ ...r, headers: { ...r.headers, 'ok-access-timestamp': ts } })).toBe(
      'SIGNATURE_MALFORMED',
    );
  });

  it('parses the documented timestamp form', () => {
    expect(parseOkxTimestamp('2020-12-08T09:08:57.715Z')).toBe(
      Date.UTC(2020, 11, 8, 9, 8, 57, 715),
    );
  });

  it.each([
    '',
    'HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY',
    'HiZhvSfMtWJA3uUIVXV3a_bSXNPCWvYFXoGCVS8V4zY=',
    'HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zZ=',
  ])('refuses the signature %j', (sign) => {
    const r = signed();
    expect(reasonOf({ ...r, headers: { ...r.headers, 'ok-access-sign': sign } })).toBe(
      'SIGNATURE_MALFORMED',
    );
  });

  it('refuses a missing signature header', () => {
    const r = signed();
    const { 'ok-access-sign': _dropped, ...rest } = r.headers;
    expect(reasonOf({ ...r, headers: rest })).toBe('SIGNATURE_MALFORMED');
  });

  it('refuses a lower-case method', () => {
    expect(reasonOf({ ...signed(), method: 'get' })).toBe('BAD_REQUEST');
  });

  it.each([
    ['now - 5000', NOW - 5000, true],
    ['now - 5001', NOW - 5001, false],
    ['now + 1000', NOW + 1000, true],
    ['now + 1001', NOW + 1001, false],
  ])('window with a 5 s / 1 s rule: %s', (_label, ts, ok) => {
    expect(okxScheme.inWindow(parsed(signed({ ts })), NOW, RULE)).toBe(ok);
  });

  it('clamps a wider environment rule to the scheme bound so replay memory covers it', () => {
    const scheme = createOkxScheme({ maxWindow: { pastMs: 2000, futureMs: 500 } });
    const result = scheme.parse(signed({ ts: NOW - 3000 }));
    if (!result.ok) throw new Error(result.reason);
    expect(scheme.inWindow(result.credential, NOW, { pastMs: 10_000, futureMs: 10_000 })).toBe(
      false,
    );
    expect(result.credential.replayTtlMs).toBeGreaterThanOrEqual(2500);
  });

  it('gives the same replay id for the same request', () => {
    expect(parsed(signed()).replayId).toBe(parsed(signed()).replayId);
  });

  it('never throws on arbitrary input', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), fc.string(), (k, ts, s, m) => {
        const r = req(m, null, '', {
          'ok-access-key': k,
          'ok-access-timestamp': ts,
          'ok-access-sign': s,
        });
        const result = parseResult(r);
        if (result.ok) okxScheme.verify(result.credential, r, key);
      }),
      { numRuns: 1000 },
    );
  });
});
