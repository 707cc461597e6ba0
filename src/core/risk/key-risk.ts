/**
 * A key's risk level and restrictions, derived from the responses currently in force. The
 * policy context reads the level (`normal` | `elevated` | `high` | `locked`), so a venue can
 * write its own rules on it; the pipeline reads the restrictions.
 */
import type { Scope } from '../keys/model.js';
import type { ResponseAction, TradeStepDown } from './response-ladder.js';

export const RISK_LEVELS = ['normal', 'elevated', 'high', 'locked'] as const;
export type RiskLevel = (typeof RISK_LEVELS)[number];

/** A response as stored by the integrator: when it started, ends, or was lifted. */
export interface ActiveResponse {
  readonly action: ResponseAction;
  readonly startedAtMs: number;
  /** null = until lifted. */
  readonly expiresAtMs: number | null;
  /** Set when an operator reverses it. */
  readonly liftedAtMs?: number | null;
}

export interface KeyRiskState {
  readonly level: RiskLevel;
  readonly disabled: boolean;
  readonly withdraw: 'allowed' | 'suspended';
  readonly trade: 'full' | TradeStepDown;
  /** The smallest throttle factor in force on the key (1 = none). */
  readonly throttleFactor: number;
}

const TRADE_ORDER: Readonly<Record<KeyRiskState['trade'], number>> = {
  full: 0,
  cancel_only: 1,
  read_only: 2,
};

/** The risk state of `keyId` at `nowMs` given the responses on record (any subjects). */
export function keyRiskState(
  keyId: string,
  responses: readonly ActiveResponse[],
  nowMs: number,
): KeyRiskState {
  let rank = 0;
  let withdraw: KeyRiskState['withdraw'] = 'allowed';
  let trade: KeyRiskState['trade'] = 'full';
  let throttleFactor = 1;
  for (const r of responses) {
    if (!isInForce(r, nowMs) || !concernsKey(r.action, keyId)) continue;
    const a = r.action;
    switch (a.step) {
      case 'observe':
        break;
      case 'alert':
      case 'ban_prefix':
        rank = Math.max(rank, 1);
        break;
      case 'throttle':
        rank = Math.max(rank, 1);
        throttleFactor = Math.min(throttleFactor, a.throttleFactor);
        break;
      case 'step_down':
        rank = Math.max(rank, 2);
        withdraw = 'suspended';
        if (TRADE_ORDER[a.trade] > TRADE_ORDER[trade]) trade = a.trade;
        break;
      case 'disable_key':
        rank = 3;
        break;
    }
  }
  const level = RISK_LEVELS[rank] ?? 'locked';
  return { level, disabled: rank === 3, withdraw, trade, throttleFactor };
}

/** Shorthand for the policy context. */
export function keyRiskLevel(
  keyId: string,
  responses: readonly ActiveResponse[],
  nowMs: number,
): RiskLevel {
  return keyRiskState(keyId, responses, nowMs).level;
}

/**
 * Whether a stepped-down key may still call a route: `withdraw`/`transfer` are suspended;
 * `trade` keeps only the cancel actions in cancel-only mode (never strand open positions) and
 * nothing in read-only mode; a disabled key may call nothing.
 */
export function riskAllows(
  state: KeyRiskState,
  scope: Scope | null,
  action: string,
  cancelActions: readonly string[],
): boolean {
  if (state.disabled) return false;
  switch (scope) {
    case null:
    case 'read':
      return true;
    case 'withdraw':
    case 'transfer':
      return state.withdraw === 'allowed';
    case 'trade':
      if (state.trade === 'full') return true;
      return state.trade === 'cancel_only' && cancelActions.includes(action);
  }
}

function isInForce(r: ActiveResponse, nowMs: number): boolean {
  if (r.liftedAtMs !== undefined && r.liftedAtMs !== null && r.liftedAtMs <= nowMs) return false;
  if (r.startedAtMs > nowMs) return false;
  return r.expiresAtMs === null || nowMs < r.expiresAtMs;
}

function concernsKey(a: ResponseAction, keyId: string): boolean {
  switch (a.step) {
    case 'step_down':
    case 'disable_key':
      return a.keyId === keyId;
    case 'throttle':
      return a.target.type === 'key' ? a.target.id === keyId : a.signal.keyId === keyId;
    case 'observe':
    case 'alert':
    case 'ban_prefix':
      return a.signal.keyId === keyId;
  }
}
