import { describe, expect, it } from 'vitest';
import { FUTURE_REASONS, type DenialReason } from '../../../src/core/dialects/denial.js';
import { BINANCE_DENIALS } from '../../../src/core/dialects/render-binance-denial.js';
import { BYBIT_DENIALS } from '../../../src/core/dialects/render-bybit-denial.js';
import { renderDenial } from '../../../src/core/dialects/render-denial.js';
import { OKX_DENIALS } from '../../../src/core/dialects/render-okx-denial.js';
import { REASON_CATALOG, type ReasonCode } from '../../../src/core/reasons.js';
import { DIALECTS } from '../../../src/core/signing/types.js';

const CTX = { requestId: 'req_1', nowMs: 1_700_000_000_000 };
const REASONS = Object.keys(REASON_CATALOG) as ReasonCode[];
const ALL: DenialReason[] = [...REASONS, ...FUTURE_REASONS];

describe('denial tables', () => {
  it.each([
    ['binance', BINANCE_DENIALS],
    ['bybit', BYBIT_DENIALS],
    ['okx', OKX_DENIALS],
  ])(
    '%s maps every current and announced reason explicitly (KEY_UNKNOWN via publicReason)',
    (_d, table) => {
      const missing = ALL.filter((r) => r !== 'KEY_UNKNOWN' && !(r in table));
      expect(missing).toEqual([]);
    },
  );

  it.each(DIALECTS)('%s renders KEY_UNKNOWN exactly like SIGNATURE_INVALID', (dialect) => {
    expect(renderDenial(dialect, 'KEY_UNKNOWN', CTX)).toEqual(
      renderDenial(dialect, 'SIGNATURE_INVALID', CTX),
    );
  });

  it.each(DIALECTS)('%s renders a reason unknown to its table as a denial', (dialect) => {
    const rendered = renderDenial(dialect, 'SOMETHING_NEW' as DenialReason, CTX);
    expect(rendered.status).toBeGreaterThanOrEqual(200);
    expect(() => JSON.parse(rendered.body) as unknown).not.toThrow();
  });

  it.each(DIALECTS)('%s sends Retry-After in whole seconds when a delay is known', (dialect) => {
    const rendered = renderDenial(dialect, 'RATE_LIMITED', { ...CTX, retryAfterMs: 1500 });
    expect(rendered.headers['retry-after']).toBe('2');
  });
});

describe('native envelope', () => {
  it.each(REASONS.filter((r) => r !== 'KEY_UNKNOWN'))(
    '%s uses the catalog status and code',
    (reason) => {
      const rendered = renderDenial('native', reason, CTX);
      expect(rendered.status).toBe(REASON_CATALOG[reason].status);
      expect(JSON.parse(rendered.body)).toMatchObject({
        error: { code: reason, requestId: 'req_1' },
      });
    },
  );

  it('answers RATE_LIMITED with 429 before the catalog knows it', () => {
    expect(renderDenial('native', 'RATE_LIMITED', CTX).status).toBe(429);
  });
});

describe('exchange envelopes', () => {
  it('binance: {"code":-1022,"msg":…}', () => {
    expect(JSON.parse(renderDenial('binance', 'SIGNATURE_INVALID', CTX).body)).toEqual({
      code: -1022,
      msg: 'Signature for this request is not valid.',
    });
  });

  it('binance: an IP ban is HTTP 418 with -1003', () => {
    const rendered = renderDenial('binance', 'IP_BANNED', CTX);
    expect([rendered.status, JSON.parse(rendered.body).code]).toEqual([418, -1003]);
  });

  it('bybit: retCode envelope with HTTP 200 and the time', () => {
    const rendered = renderDenial('bybit', 'TIMESTAMP_OUTSIDE_WINDOW', CTX);
    expect(rendered.status).toBe(200);
    expect(JSON.parse(rendered.body)).toMatchObject({
      retCode: 10002,
      result: {},
      retExtInfo: {},
      time: CTX.nowMs,
    });
  });

  it('okx: string code, data array', () => {
    const rendered = renderDenial('okx', 'PASSPHRASE_INVALID', CTX);
    expect(rendered.status).toBe(401);
    expect(JSON.parse(rendered.body)).toMatchObject({ code: '50105', data: [] });
  });
});
