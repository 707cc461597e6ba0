import { parseList } from 'structured-headers';
import { describe, expect, it } from 'vitest';
import {
  binanceHeaders,
  binanceInterval,
  bybitHeaders,
  rateLimitHeaders,
} from '../../../src/core/limits/headers.js';
import type { LimitResult } from '../../../src/core/limits/types.js';

const allowed: LimitResult = {
  allowed: true,
  retryAfterMs: 0,
  results: [
    { name: 'key-1s', bucketKey: 'k', limit: 10, windowMs: 1_000, remaining: 7, resetMs: 400 },
    {
      name: 'acct-1m',
      bucketKey: 'a',
      limit: 1200,
      windowMs: 60_000,
      remaining: 1150,
      resetMs: 59_001,
    },
  ],
};
const refused: LimitResult = {
  ...allowed,
  allowed: false,
  retryAfterMs: 1_001,
  violated: 'key-1s',
};

describe('rateLimitHeaders', () => {
  it('writes one RateLimit-Policy item per rule', () => {
    expect(rateLimitHeaders(allowed)['RateLimit-Policy']).toBe(
      '"key-1s";q=10;w=1, "acct-1m";q=1200;w=60',
    );
  });

  it('writes remaining and reset seconds, rounded up, in RateLimit', () => {
    expect(rateLimitHeaders(allowed).RateLimit).toBe('"key-1s";r=7;t=1, "acct-1m";r=1150;t=60');
  });

  it('produces valid structured-field lists', () => {
    const headers = rateLimitHeaders(allowed);
    expect(parseList(headers['RateLimit-Policy']!)).toHaveLength(2);
    expect(parseList(headers.RateLimit!)).toHaveLength(2);
  });

  it('adds Retry-After in whole seconds rounded up only on refusals', () => {
    expect(rateLimitHeaders(allowed)['Retry-After']).toBeUndefined();
    expect(rateLimitHeaders(refused)['Retry-After']).toBe('2');
  });

  it('answers Retry-After without rate fields when the limiter is unavailable', () => {
    const headers = rateLimitHeaders({
      allowed: false,
      results: [],
      retryAfterMs: 1_000,
      unavailable: true,
    });
    expect(headers).toEqual({ 'Retry-After': '1' });
  });
});

describe('exchange dialect headers', () => {
  it.each([
    [1_000, '1S'],
    [10_000, '10S'],
    [60_000, '1M'],
    [3_600_000, '1H'],
    [86_400_000, '1D'],
    [1_500, undefined],
  ])('labels a %i ms window as %s', (windowMs, label) => {
    expect(binanceInterval(windowMs)).toBe(label);
  });

  it('reports Binance used weight and order count by rule', () => {
    const headers = binanceHeaders(allowed, { usedWeight: ['acct-1m'], orderCount: ['key-1s'] });
    expect(headers).toEqual({ 'X-MBX-USED-WEIGHT-1M': '50', 'X-MBX-ORDER-COUNT-1S': '3' });
  });

  it('reports Bybit limit status for one rule', () => {
    expect(bybitHeaders(allowed, 'key-1s', 1_700_000_000_000)).toEqual({
      'X-Bapi-Limit-Status': '7',
      'X-Bapi-Limit': '10',
      'X-Bapi-Limit-Reset-Timestamp': '1700000000400',
    });
  });
});
