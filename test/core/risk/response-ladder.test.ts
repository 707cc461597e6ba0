import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RESPONSE_CONFIG,
  decideResponse,
  keyRiskLevel,
  keyRiskState,
  responseExpiresAtMs,
  riskAllows,
  type ActiveResponse,
  type ResponseAction,
  type ResponsePolicy,
  type ResponseRule,
  type Signal,
} from '../../../src/core/risk/index.js';

const T0 = 1_700_000_000_000;

const signal: Signal = {
  kind: 'rate_spike',
  environment: 'production',
  subject: { type: 'key', id: 'pk_live_a' },
  keyId: 'pk_live_a',
  accountId: 'acc_1',
  ipPrefix: '203.0.113.0/24',
  action: 'order.place',
  atMs: T0,
  shadow: false,
  observed: 9,
  threshold: 6,
};

function policyWith(rule: ResponseRule): ResponsePolicy {
  const config = { ...DEFAULT_RESPONSE_CONFIG, rate_spike: rule, key_spray: rule };
  return { sandbox: DEFAULT_RESPONSE_CONFIG, production: config };
}

function active(action: ResponseAction, expiresAtMs: number | null = null): ActiveResponse {
  return { action, startedAtMs: T0, expiresAtMs };
}

describe('decideResponse', () => {
  it.each([
    [{ step: 'observe' }, 'observe', false],
    [{ step: 'alert' }, 'alert', true],
    [{ step: 'throttle', throttleFactor: 0.25 }, 'throttle', true],
    [{ step: 'step_down', tradeMode: 'read_only' }, 'step_down', true],
    [{ step: 'disable_key' }, 'disable_key', true],
    [{ step: 'ban_prefix', durationMs: 60_000 }, 'ban_prefix', true],
  ] as const)('maps rule %o to step %s (alert %s)', (rule, step, alert) => {
    const action = decideResponse(signal, policyWith(rule));
    expect([action.step, action.alert]).toEqual([step, alert]);
  });

  it('only observes a shadow signal whatever the rule', () => {
    const action = decideResponse({ ...signal, shadow: true }, policyWith({ step: 'disable_key' }));
    expect(action.step).toBe('observe');
  });

  it('uses the rule of the signal environment', () => {
    const action = decideResponse(
      { ...signal, environment: 'sandbox' },
      policyWith({ step: 'disable_key' }),
    );
    expect(action.step).toBe(DEFAULT_RESPONSE_CONFIG.rate_spike.step);
  });

  it('suspends withdraw and makes trade cancel-only by default when stepping down', () => {
    expect(decideResponse(signal, policyWith({ step: 'step_down' }))).toMatchObject({
      step: 'step_down',
      keyId: 'pk_live_a',
      withdraw: 'suspended',
      trade: 'cancel_only',
    });
  });

  it('throttles the prefix instead when a key-level step has no key', () => {
    const prefixSignal: Signal = {
      kind: 'key_spray',
      environment: 'production',
      subject: { type: 'ip_prefix', id: '203.0.113.0/24' },
      ipPrefix: '203.0.113.0/24',
      action: 'order.place',
      atMs: T0,
      shadow: false,
      observed: 5,
      threshold: 5,
    };
    expect(decideResponse(prefixSignal, policyWith({ step: 'disable_key' }))).toMatchObject({
      step: 'throttle',
      target: { type: 'ip_prefix', id: '203.0.113.0/24' },
    });
  });

  it('bans the signal prefix for the configured duration', () => {
    const action = decideResponse(signal, policyWith({ step: 'ban_prefix', durationMs: 60_000 }));
    expect(action).toMatchObject({ ipPrefix: '203.0.113.0/24', durationMs: 60_000 });
    expect(responseExpiresAtMs(action, T0)).toBe(T0 + 60_000);
  });

  it('never lets a disable expire by itself', () => {
    const action = decideResponse(signal, policyWith({ step: 'disable_key' }));
    expect(responseExpiresAtMs(action, T0)).toBeNull();
  });
});

describe('key risk level', () => {
  const decide = (rule: ResponseRule) => decideResponse(signal, policyWith(rule));

  it('is normal with no responses in force', () => {
    expect(keyRiskLevel('pk_live_a', [], T0)).toBe('normal');
  });

  it.each([
    [{ step: 'observe' }, 'normal'],
    [{ step: 'alert' }, 'elevated'],
    [{ step: 'throttle' }, 'elevated'],
    [{ step: 'step_down' }, 'high'],
    [{ step: 'disable_key' }, 'locked'],
  ] as const)('after %o is %s', (rule, level) => {
    expect(keyRiskLevel('pk_live_a', [active(decide(rule))], T0 + 1)).toBe(level);
  });

  it('takes the highest of several responses', () => {
    const responses = [active(decide({ step: 'alert' })), active(decide({ step: 'step_down' }))];
    expect(keyRiskLevel('pk_live_a', responses, T0 + 1)).toBe('high');
  });

  it('returns to normal when the response expires', () => {
    const responses = [active(decide({ step: 'step_down' }), T0 + 60_000)];
    expect(keyRiskLevel('pk_live_a', responses, T0 + 60_000)).toBe('normal');
  });

  it('returns to normal when an operator lifts the response', () => {
    const lifted = { ...active(decide({ step: 'disable_key' })), liftedAtMs: T0 + 5 };
    expect(keyRiskLevel('pk_live_a', [lifted], T0 + 5)).toBe('normal');
  });

  it('ignores responses about other keys', () => {
    expect(keyRiskLevel('pk_live_b', [active(decide({ step: 'disable_key' }))], T0 + 1)).toBe(
      'normal',
    );
  });
});

describe('riskAllows', () => {
  const cancel = ['order.cancel'];
  const stateAfter = (rule: ResponseRule) =>
    keyRiskState('pk_live_a', [active(decideResponse(signal, policyWith(rule)))], T0 + 1);

  it.each([
    ['read', 'account.read', true],
    ['trade', 'order.place', false],
    ['trade', 'order.cancel', true],
    ['withdraw', 'withdrawal.create', false],
    ['transfer', 'transfer.create', false],
  ] as const)('a cancel-only key: scope %s, action %s → %s', (scope, action, allowed) => {
    expect(riskAllows(stateAfter({ step: 'step_down' }), scope, action, cancel)).toBe(allowed);
  });

  it('a read-only key cannot cancel either', () => {
    const state = stateAfter({ step: 'step_down', tradeMode: 'read_only' });
    expect(riskAllows(state, 'trade', 'order.cancel', cancel)).toBe(false);
  });

  it('a disabled key can call nothing, not even reads', () => {
    expect(riskAllows(stateAfter({ step: 'disable_key' }), 'read', 'account.read', cancel)).toBe(
      false,
    );
  });

  it('a throttled key keeps its scopes and reports the factor', () => {
    const state = stateAfter({ step: 'throttle', throttleFactor: 0.25 });
    expect([
      state.throttleFactor,
      riskAllows(state, 'withdraw', 'withdrawal.create', cancel),
    ]).toEqual([0.25, true]);
  });
});
