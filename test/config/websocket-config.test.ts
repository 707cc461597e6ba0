/** `dataPlane.websocket`: defaults, and the bounds every duration is held to. */
import { describe, expect, it } from 'vitest';
import { websocketConfigOf } from '../../src/config/websocket-config.js';

describe('websocket configuration', () => {
  it('has the documented defaults', () => {
    expect(websocketConfigOf({})).toMatchObject({
      enabled: true,
      path: '/ws',
      recheckIntervalMs: 250,
      holdAnswerTimeoutMs: 30_000,
    });
  });

  it('reads holdAnswerTimeout, held to 100 ms – 10 min', () => {
    const of = (holdAnswerTimeout: string) =>
      websocketConfigOf({ websocket: { holdAnswerTimeout } }).holdAnswerTimeoutMs;
    expect(of('5s')).toBe(5_000);
    expect(of('1ms')).toBe(100);
    expect(of('2h')).toBe(600_000);
  });

  it('never lets the key re-check interval exceed 1 s', () => {
    expect(websocketConfigOf({ websocket: { recheckInterval: '1m' } }).recheckIntervalMs).toBe(
      1000,
    );
  });
});
