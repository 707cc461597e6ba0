/**
 * The graduated response ladder: observe → alert → throttle → step down → disable key → ban IP
 * prefix. Which signal climbs to which step is configuration, per environment. Every step from
 * `alert` up raises an alert; every step is meant to be audited and reversible by an operator
 * (the integrator stores it as an active response with an expiry or until lifted).
 */
import type { Environment } from '../keys/model.js';
import type { SignalKind } from './risk-config.js';
import type { Signal } from './signal.js';

export const RESPONSE_STEPS = [
  'observe',
  'alert',
  'throttle',
  'step_down',
  'disable_key',
  'ban_prefix',
] as const;
export type ResponseStep = (typeof RESPONSE_STEPS)[number];

export type TradeStepDown = 'cancel_only' | 'read_only';

/** What one signal kind leads to. Durations: null = until an operator lifts it. */
export interface ResponseRule {
  readonly step: ResponseStep;
  /** `throttle`: the fraction of the normal rate budget left, in (0, 1]. */
  readonly throttleFactor?: number;
  /** `step_down`: what `trade` becomes (withdraw and transfer are always suspended). */
  readonly tradeMode?: TradeStepDown;
  /** `alert` (how long the key stays elevated), `throttle`, `step_down`, `ban_prefix`. */
  readonly durationMs?: number | null;
}

export type ResponseConfig = Readonly<Record<SignalKind, ResponseRule>>;
export type ResponsePolicy = Readonly<Record<Environment, ResponseConfig>>;

const MINUTE_MS = 60_000;
/** Defaults when a rule names no duration. */
const DEFAULT_RESPONSE_MS = 15 * MINUTE_MS;
const DEFAULT_ALERT_MS = 24 * 60 * MINUTE_MS;

export const DEFAULT_RESPONSE_CONFIG: ResponseConfig = {
  new_ip_prefix: { step: 'alert' },
  failure_burst: { step: 'throttle', throttleFactor: 0.25, durationMs: 15 * MINUTE_MS },
  rate_spike: { step: 'throttle', throttleFactor: 0.5, durationMs: 15 * MINUTE_MS },
  first_sensitive_action: { step: 'alert' },
  unusual_hour: { step: 'alert' },
  key_spray: { step: 'ban_prefix', durationMs: 60 * MINUTE_MS },
};

export const DEFAULT_RESPONSE_POLICY: ResponsePolicy = {
  sandbox: DEFAULT_RESPONSE_CONFIG,
  production: DEFAULT_RESPONSE_CONFIG,
};

export type ResponseTarget =
  | { readonly type: 'key'; readonly id: string }
  | { readonly type: 'ip_prefix'; readonly id: string };

interface ActionBase {
  readonly signal: Signal;
  /** True from `alert` up: the integrator stores an alert and delivers it to webhooks. */
  readonly alert: boolean;
}

export type ResponseAction =
  | (ActionBase & { readonly step: 'observe' })
  | (ActionBase & {
      readonly step: 'alert';
      /** How long the key stays `elevated` unless an operator resolves the alert sooner. */
      readonly durationMs: number | null;
    })
  | (ActionBase & {
      readonly step: 'throttle';
      readonly target: ResponseTarget;
      readonly throttleFactor: number;
      readonly durationMs: number | null;
    })
  | (ActionBase & {
      readonly step: 'step_down';
      readonly keyId: string;
      readonly withdraw: 'suspended';
      readonly trade: TradeStepDown;
      readonly durationMs: number | null;
    })
  | (ActionBase & { readonly step: 'disable_key'; readonly keyId: string })
  | (ActionBase & {
      readonly step: 'ban_prefix';
      readonly ipPrefix: string;
      readonly durationMs: number | null;
    });

/**
 * The response to one signal. A shadow signal is only observed. A key-level step for a signal
 * without a key (a prefix-wide burst) becomes a throttle of the prefix: never a wider blast
 * radius than the evidence.
 */
export function decideResponse(signal: Signal, policy: ResponsePolicy): ResponseAction {
  if (signal.shadow) return { step: 'observe', signal, alert: false };
  const rule = policy[signal.environment][signal.kind];
  const defaultMs = rule.step === 'alert' ? DEFAULT_ALERT_MS : DEFAULT_RESPONSE_MS;
  const durationMs = rule.durationMs === undefined ? defaultMs : rule.durationMs;
  const base = { signal, alert: true };
  switch (rule.step) {
    case 'observe':
      return { step: 'observe', signal, alert: false };
    case 'alert':
      return { ...base, step: 'alert', durationMs };
    case 'throttle':
      return throttle(signal, rule, durationMs);
    case 'step_down':
      if (signal.keyId === undefined) return throttle(signal, rule, durationMs);
      return {
        ...base,
        step: 'step_down',
        keyId: signal.keyId,
        withdraw: 'suspended',
        trade: rule.tradeMode ?? 'cancel_only',
        durationMs,
      };
    case 'disable_key':
      if (signal.keyId === undefined) return throttle(signal, rule, durationMs);
      return { ...base, step: 'disable_key', keyId: signal.keyId };
    case 'ban_prefix':
      return { ...base, step: 'ban_prefix', ipPrefix: signal.ipPrefix, durationMs };
  }
}

function throttle(signal: Signal, rule: ResponseRule, durationMs: number | null): ResponseAction {
  const target: ResponseTarget =
    signal.keyId !== undefined && signal.subject.type !== 'ip_prefix'
      ? { type: 'key', id: signal.keyId }
      : { type: 'ip_prefix', id: signal.ipPrefix };
  const factor = rule.throttleFactor ?? 0.5;
  return {
    step: 'throttle',
    signal,
    alert: true,
    target,
    throttleFactor: Math.min(1, Math.max(0.01, factor)),
    durationMs,
  };
}

/** When an action taken at `nowMs` ends by itself; null = until lifted. */
export function responseExpiresAtMs(action: ResponseAction, nowMs: number): number | null {
  switch (action.step) {
    case 'observe':
      return nowMs;
    case 'disable_key':
      return null;
    case 'alert':
    case 'throttle':
    case 'step_down':
    case 'ban_prefix':
      return action.durationMs === null ? null : nowMs + action.durationMs;
  }
}
