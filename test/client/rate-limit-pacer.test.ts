import { describe, expect, it } from 'vitest';
import { createRateLimitPacer } from '../../src/client/rate-limit-pacer.js';

const NOW_MS = 1_700_000_000_000;

function observe(status: number, headers: Record<string, string>) {
  const pacer = createRateLimitPacer();
  pacer.observe({ status, headers, nowMs: NOW_MS, serverNowMs: NOW_MS });
  return pacer;
}

describe('createRateLimitPacer', () => {
  it('holds requests for Retry-After after a 418 (IP banned)', () => {
    const pacer = observe(418, { 'retry-after': '120' });
    expect(pacer.delayBeforeNextMs(NOW_MS)).toBe(120_000);
    expect(pacer.delayBeforeNextMs(NOW_MS + 119_999)).toBe(1);
    expect(pacer.delayBeforeNextMs(NOW_MS + 120_000)).toBe(0);
  });

  it('reads an HTTP-date Retry-After on a 418 against the server clock', () => {
    const until = new Date(NOW_MS + 60_000).toUTCString();
    const pacer = observe(418, { 'retry-after': until });
    expect(pacer.delayBeforeNextMs(NOW_MS)).toBe(60_000);
  });

  it('holds requests for Retry-After after a 429', () => {
    expect(observe(429, { 'retry-after': '2' }).delayBeforeNextMs(NOW_MS)).toBe(2_000);
  });

  it('does not hold requests after a 418 without Retry-After', () => {
    expect(observe(418, {}).delayBeforeNextMs(NOW_MS)).toBe(0);
  });

  it('ignores Retry-After on other statuses', () => {
    expect(observe(400, { 'retry-after': '30' }).delayBeforeNextMs(NOW_MS)).toBe(0);
  });

  it('holds requests until an exhausted RateLimit quota resets', () => {
    const pacer = observe(200, { ratelimit: '"key-1m";r=0;t=7, "acct-1m";r=10;t=60' });
    expect(pacer.delayBeforeNextMs(NOW_MS)).toBe(7_000);
  });
});
