/** Risk events for the anomaly tests. */
import type { RiskEvent } from '../../src/core/risk/index.js';

/** 2026-11-02 09:00 UTC. */
export const RISK_T0 = Date.UTC(2026, 10, 2, 9, 0, 0);

/** A denied order (bad signature) by pk_live_a from 203.0.113.0/24, with `patch` applied. */
export const denial = (patch: Partial<RiskEvent> = {}): RiskEvent => ({
  nowMs: RISK_T0,
  environment: 'production',
  keyId: 'pk_live_a',
  accountId: 'acc_a',
  ipPrefix: '203.0.113.0/24',
  action: 'order.place',
  outcome: 'deny',
  reason: 'SIGNATURE_INVALID',
  ...patch,
});

/** An allowed order by pk_live_a (account acc_a) from 203.0.113.0/24, with `patch` applied. */
export const allowedEvent = (patch: Partial<RiskEvent> = {}): RiskEvent => {
  const { reason: _denied, ...event } = denial({ outcome: 'allow', ...patch });
  return event;
};
