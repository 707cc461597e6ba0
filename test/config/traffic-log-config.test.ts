/** `trafficLog`: the row bound's default, and a bound below 1,000 refused with the field named. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { observabilityOptionsOf } from '../../src/app/observability.js';

describe('traffic log configuration', () => {
  it('keeps at most 10,000,000 records by default, checked every minute', () => {
    const config = loadConfig({}, {});
    expect(config.trafficLog.maxRows).toBe(10_000_000);
    expect(observabilityOptionsOf(config).trafficLog).toMatchObject({
      maxRows: 10_000_000,
      trimIntervalMs: 60_000,
      retentionMs: 7 * 86_400_000,
    });
  });

  it('reads maxRows, and refuses one below 1,000', () => {
    expect(loadConfig({ trafficLog: { maxRows: 5_000 } }, {}).trafficLog.maxRows).toBe(5_000);
    expect(() => loadConfig({ trafficLog: { maxRows: 999 } }, {})).toThrow(/trafficLog\/maxRows/);
  });
});
