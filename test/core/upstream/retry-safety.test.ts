import { describe, expect, it } from 'vitest';
import {
  isRetrySafe,
  mayTryNextTarget,
  type AttemptFailure,
  type RetryCandidate,
} from '../../../src/core/upstream/retry-safety.js';

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));
const request = (overrides: Partial<RetryCandidate>): RetryCandidate => ({
  method: 'POST',
  dialect: 'native',
  query: null,
  headers: {},
  body: Buffer.alloc(0),
  ...overrides,
});

describe('isRetrySafe', () => {
  it.each([
    ['GET', 'native'],
    ['HEAD', 'native'],
    ['GET', 'binance'],
    ['get', 'okx'],
  ] as const)('%s (%s) is safe without any key', (method, dialect) => {
    expect(isRetrySafe(request({ method, dialect }))).toBe(true);
  });

  it.each(['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])(
    '%s without an idempotency key is not safe, in every dialect',
    (method) => {
      for (const dialect of ['native', 'binance', 'bybit', 'okx'] as const) {
        expect(isRetrySafe(request({ method, dialect }))).toBe(false);
      }
    },
  );

  const cases: [string, Partial<RetryCandidate>, boolean][] = [
    ['native Idempotency-Key header', { headers: { 'idempotency-key': 'ord-1' } }, true],
    ['native empty Idempotency-Key', { headers: { 'idempotency-key': '' } }, false],
    ['native repeated Idempotency-Key', { headers: { 'idempotency-key': ['a', 'b'] } }, false],
    ['native key with a space', { headers: { 'idempotency-key': 'a b' } }, false],
    ['native key of 256 characters', { headers: { 'idempotency-key': 'k'.repeat(256) } }, false],
    ['native clientOrderId in the JSON body', { body: json({ clientOrderId: 'c-1' }) }, true],
    ['native clOrdId is not its key', { body: json({ clOrdId: 'x' }) }, false],
    [
      'binance newClientOrderId in the query',
      { dialect: 'binance', query: 'symbol=BTCUSDT&newClientOrderId=abc-1&timestamp=1' },
      true,
    ],
    [
      'binance newClientOrderId in the form body',
      { dialect: 'binance', body: Buffer.from('symbol=BTCUSDT&newClientOrderId=abc-1') },
      true,
    ],
    [
      'binance newClientOrderId given twice',
      { dialect: 'binance', query: 'newClientOrderId=a&newClientOrderId=b' },
      false,
    ],
    ['binance empty newClientOrderId', { dialect: 'binance', query: 'newClientOrderId=' }, false],
    [
      'binance Idempotency-Key header is not its key',
      { dialect: 'binance', headers: { 'idempotency-key': 'k' } },
      false,
    ],
    [
      'bybit orderLinkId',
      { dialect: 'bybit', body: json({ symbol: 'BTCUSDT', orderLinkId: 'l1' }) },
      true,
    ],
    ['bybit numeric orderLinkId', { dialect: 'bybit', body: json({ orderLinkId: 7 }) }, false],
    [
      'bybit batch with an orderLinkId on every item',
      { dialect: 'bybit', body: json({ request: [{ orderLinkId: 'a' }, { orderLinkId: 'b' }] }) },
      true,
    ],
    [
      'bybit batch with one item lacking it',
      { dialect: 'bybit', body: json({ request: [{ orderLinkId: 'a' }, { symbol: 'x' }] }) },
      false,
    ],
    ['bybit body that is not JSON', { dialect: 'bybit', body: Buffer.from('{orderLinkId') }, false],
    ['okx clOrdId', { dialect: 'okx', body: json({ instId: 'BTC-USDT', clOrdId: 'c1' }) }, true],
    [
      'okx batch, all with clOrdId',
      { dialect: 'okx', body: json([{ clOrdId: 'a' }, { clOrdId: 'b' }]) },
      true,
    ],
    ['okx batch, one without', { dialect: 'okx', body: json([{ clOrdId: 'a' }, {}]) }, false],
    ['okx empty batch', { dialect: 'okx', body: json([]) }, false],
    ['okx orderLinkId is not its key', { dialect: 'okx', body: json({ orderLinkId: 'a' }) }, false],
  ];
  it.each(cases)('%s → %s', (_name, overrides, safe) => {
    expect(isRetrySafe(request(overrides))).toBe(safe);
  });
});

describe('mayTryNextTarget', () => {
  const rows: [AttemptFailure, boolean, boolean][] = [
    ['not_sent', false, true],
    ['not_sent', true, true],
    ['maybe_sent', false, false],
    ['maybe_sent', true, true],
    ['timeout', false, false],
    ['timeout', true, true],
    ['server_error', false, false],
    ['server_error', true, true],
  ];
  it.each(rows)('after %s, retry-safe %s → %s', (failure, safe, expected) => {
    expect(mayTryNextTarget(failure, safe)).toBe(expected);
  });
});
