import { describe, expect, it } from 'vitest';
import { exhaustedForMs } from '../../src/client/rate-limit-pacer.js';
import {
  isIdempotentRequest,
  parseRetryAfterMs,
  planRetry,
  provesNotSent,
  type RetryState,
} from '../../src/client/retry-policy.js';
import { connectionError } from './fake-fetch.js';

const NOW_MS = Date.UTC(2026, 0, 1, 0, 0, 0);

describe('parseRetryAfterMs (RFC 9110 §10.2.3)', () => {
  it.each([
    ['7', 7_000],
    [' 0 ', 0],
    ['Thu, 01 Jan 2026 00:00:09 GMT', 9_000],
    ['Wed, 31 Dec 2025 23:59:00 GMT', 0],
  ])('reads %j as %i ms', (value, expected) => {
    expect(parseRetryAfterMs(value, NOW_MS)).toBe(expected);
  });

  it.each([undefined, '', '-1', '1.5', 'soon'])('ignores %j', (value) => {
    expect(parseRetryAfterMs(value, NOW_MS)).toBeUndefined();
  });
});

describe('isIdempotentRequest', () => {
  it.each([
    ['GET', undefined, {}, true],
    ['HEAD', undefined, {}, true],
    ['DELETE', undefined, {}, true],
    ['POST', { symbol: 'BTCUSDT' }, {}, false],
    ['POST', { clientOrderId: 'c-1' }, {}, true],
    ['POST', { clientOrderId: '' }, {}, false],
    ['POST', { a: 1 }, { 'Idempotency-Key': 'k' }, true],
    ['PUT', { clientOrderId: 'c-1' }, {}, false],
    ['PATCH', undefined, {}, false],
  ] as const)('%s %j %j → %s', (method, body, headers, expected) => {
    expect(isIdempotentRequest(method, body, headers)).toBe(expected);
  });
});

describe('provesNotSent', () => {
  it.each(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT'])(
    '%s proves the request was not sent',
    (code) => {
      expect(provesNotSent(connectionError(code))).toBe(true);
    },
  );

  it.each(['ECONNRESET', 'UND_ERR_SOCKET', 'EPIPE'])('%s does not', (code) => {
    expect(provesNotSent(connectionError(code))).toBe(false);
  });

  it('needs every address of an AggregateError refused', () => {
    const refused = Object.assign(new Error('x'), { code: 'ECONNREFUSED' });
    const reset = Object.assign(new Error('y'), { code: 'ECONNRESET' });
    expect(provesNotSent(new AggregateError([refused, refused]))).toBe(true);
    expect(provesNotSent(new AggregateError([refused, reset]))).toBe(false);
  });
});

describe('exhaustedForMs (RateLimit field)', () => {
  it.each([
    ['"key";r=0;t=3', 3_000],
    ['"a";r=0;t=3, "b";r=0;t=10', 10_000],
    ['"a";r=5;t=3', undefined],
    ['not a list ;;', undefined],
    [undefined, undefined],
  ])('%j → %j', (field, expected) => {
    expect(exhaustedForMs(field)).toBe(expected);
  });
});

describe('planRetry', () => {
  const state: RetryState = {
    idempotent: true,
    retriesLeft: 3,
    retriesMade: 0,
    urlCount: 2,
    nextUrlUntried: true,
    resynced: false,
    baseDelayMs: 100,
    maxDelayMs: 30_000,
  };
  const response = (status: number, code?: string, retryAfterMs?: number) =>
    ({ kind: 'response', status, code, retryAfterMs }) as const;

  it('stays on the same URL for 429', () => {
    expect(planRetry(response(429, 'RATE_LIMITED', 1_000), state)).toEqual({
      action: 'retry',
      moveToNextUrl: false,
      delayMs: 1_000,
    });
  });

  it('moves at once to an untried URL on 503 without Retry-After', () => {
    expect(planRetry(response(503), state)).toEqual({
      action: 'retry',
      moveToNextUrl: true,
      delayMs: 0,
    });
  });

  it('re-syncs only once', () => {
    const outcome = response(401, 'TIMESTAMP_OUTSIDE_WINDOW');
    expect(planRetry(outcome, state)).toEqual({ action: 'resync' });
    expect(planRetry(outcome, { ...state, resynced: true })).toEqual({ action: 'done' });
  });

  it('stops when no retry is left', () => {
    expect(planRetry(response(429), { ...state, retriesLeft: 0 })).toEqual({ action: 'done' });
  });

  it('never retries a timeout of a non-idempotent request', () => {
    const outcome = { kind: 'failure', notSent: false, timedOut: true } as const;
    expect(planRetry(outcome, { ...state, idempotent: false })).toEqual({ action: 'done' });
  });
});
