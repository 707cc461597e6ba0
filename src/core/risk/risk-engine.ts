/**
 * The anomaly engine: feeds each data-plane decision to the per-key, per-account and
 * per-IP-prefix detectors and returns the signals raised. Runs off the request path; memory is
 * bounded by LRUs (`RiskMemoryLimits`), so a flood of new keys or prefixes evicts the least
 * recently seen state instead of growing.
 */
import type { Environment } from '../keys/model.js';
import { createBoundedLru, type BoundedLru } from './bounded-lru.js';
import {
  createHourState,
  createRateState,
  createWindowCounter,
  observeFailingKey,
  observeFailure,
  observeHour,
  observePrefix,
  observeRate,
  type FailingKeys,
  type HourState,
  type Measurement,
  type PrefixMemory,
  type RateState,
} from './detectors.js';
import type { RiskEngineConfig, RiskThresholds, SignalKind } from './risk-config.js';
import type { RiskEvent, Signal, SignalSubject } from './signal.js';
import type { WindowCounter } from './window-counter.js';

interface KeyState {
  readonly prefixes: PrefixMemory;
  readonly failures: WindowCounter;
  readonly rate: RateState;
  readonly sensitiveSeen: Set<string>;
  readonly hours: HourState;
}

interface AccountState {
  readonly rate: RateState;
  readonly sensitiveSeen: Set<string>;
}

interface PrefixState {
  readonly failures: WindowCounter;
  readonly failingKeys: FailingKeys;
}

export interface RiskEngine {
  /** Reads one decision; returns the signals it raised (usually none). */
  observe(event: RiskEvent): Signal[];
  /** Entries held, for the memory-bound tests and a gauge. */
  stats(): { keys: number; accounts: number; prefixes: number; cooldowns: number };
}

/** Creates an engine with the given (resolved) configuration; see `resolveRiskConfig`. */
export function createRiskEngine(config: RiskEngineConfig): RiskEngine {
  const keys = createBoundedLru<KeyState>(config.memory.maxKeys);
  const accounts = createBoundedLru<AccountState>(config.memory.maxAccounts);
  const prefixes = createBoundedLru<PrefixState>(config.memory.maxPrefixes);
  const cooldowns = createBoundedLru<{ lastMs: number }>(config.memory.maxCooldowns);

  function observe(event: RiskEvent): Signal[] {
    const t = config.environments[event.environment];
    const signals: Signal[] = [];
    const raise = (kind: SignalKind, subject: SignalSubject, m: Measurement | undefined): void => {
      if (m === undefined) return;
      const rule = signalRule(t, kind);
      if (!cooledDown(cooldowns, kind, event, subject, rule.cooldownMs)) return;
      signals.push(toSignal(event, kind, subject, m, rule.mode === 'shadow'));
    };
    const on = (kind: SignalKind): boolean => signalRule(t, kind).mode !== 'off';

    observePrefixSide(event, t, on, raise);
    // An unknown key id is an attacker's guess: it must not create (and evict real) key state.
    if (event.keyId !== undefined && event.reason !== 'KEY_UNKNOWN') {
      observeKeySide(event, event.keyId, t, on, raise);
    }
    if (event.accountId !== undefined) observeAccountSide(event, event.accountId, t, on, raise);
    return signals;
  }

  type Raise = (kind: SignalKind, subject: SignalSubject, m: Measurement | undefined) => void;
  type On = (kind: SignalKind) => boolean;

  function observePrefixSide(event: RiskEvent, t: RiskThresholds, on: On, raise: Raise): void {
    if (event.outcome !== 'deny' || isIgnoredFailure(event, t)) return;
    if (!on('failure_burst') && !on('key_spray')) return;
    const state = prefixes.getOrCreate(scoped(event.environment, event.ipPrefix), () => ({
      failures: createWindowCounter(t.failureBurst.windowMs),
      failingKeys: new Map(),
    }));
    const subject: SignalSubject = { type: 'ip_prefix', id: event.ipPrefix };
    if (on('failure_burst')) {
      raise(
        'failure_burst',
        subject,
        observeFailure(state.failures, event.nowMs, t.failureBurst.perPrefix),
      );
    }
    if (on('key_spray') && event.keyId !== undefined) {
      raise(
        'key_spray',
        subject,
        observeFailingKey(state.failingKeys, event.keyId, event.nowMs, t.keySpray),
      );
    }
  }

  function observeKeySide(
    event: RiskEvent,
    keyId: string,
    t: RiskThresholds,
    on: On,
    raise: Raise,
  ): void {
    const state = keys.getOrCreate(scoped(event.environment, keyId), () => ({
      prefixes: new Map(),
      failures: createWindowCounter(t.failureBurst.windowMs),
      rate: createRateState(),
      sensitiveSeen: new Set(),
      hours: createHourState(),
    }));
    const subject: SignalSubject = { type: 'key', id: keyId };
    if (on('rate_spike'))
      raise('rate_spike', subject, observeRate(state.rate, event.nowMs, t.rateSpike));
    if (event.outcome === 'deny') {
      if (on('failure_burst') && !isIgnoredFailure(event, t)) {
        raise(
          'failure_burst',
          subject,
          observeFailure(state.failures, event.nowMs, t.failureBurst.perKey),
        );
      }
      return;
    }
    // Only allowed requests teach the engine what is normal for the key.
    if (on('new_ip_prefix')) {
      raise(
        'new_ip_prefix',
        subject,
        observePrefix(state.prefixes, event.ipPrefix, event.nowMs, t.newIpPrefix),
      );
    }
    if (on('first_sensitive_action')) {
      raise('first_sensitive_action', subject, firstUse(state.sensitiveSeen, event.action, t));
    }
    if (on('unusual_hour'))
      raise('unusual_hour', subject, observeHour(state.hours, event.nowMs, t.unusualHour));
  }

  function observeAccountSide(
    event: RiskEvent,
    accountId: string,
    t: RiskThresholds,
    on: On,
    raise: Raise,
  ): void {
    if (!on('rate_spike') && !on('first_sensitive_action')) return;
    const state = accounts.getOrCreate(scoped(event.environment, accountId), () => ({
      rate: createRateState(),
      sensitiveSeen: new Set(),
    }));
    const subject: SignalSubject = { type: 'account', id: accountId };
    if (on('rate_spike'))
      raise('rate_spike', subject, observeRate(state.rate, event.nowMs, t.rateSpike));
    if (event.outcome === 'allow' && on('first_sensitive_action')) {
      raise('first_sensitive_action', subject, firstUse(state.sensitiveSeen, event.action, t));
    }
  }

  return {
    observe,
    stats: () => ({
      keys: keys.size,
      accounts: accounts.size,
      prefixes: prefixes.size,
      cooldowns: cooldowns.size,
    }),
  };
}

/** A signal kind's mode and cooldown under the thresholds in force. */
export function signalRule(
  t: RiskThresholds,
  kind: SignalKind,
): { mode: string; cooldownMs: number } {
  switch (kind) {
    case 'new_ip_prefix':
      return t.newIpPrefix;
    case 'failure_burst':
      return t.failureBurst;
    case 'rate_spike':
      return t.rateSpike;
    case 'first_sensitive_action':
      return t.firstSensitiveAction;
    case 'unusual_hour':
      return t.unusualHour;
    case 'key_spray':
      return t.keySpray;
  }
}

/** Whether a denial's reason is one the failure signals do not count (it has its own mechanism). */
export function isIgnoredFailure(event: RiskEvent, t: RiskThresholds): boolean {
  return event.reason !== undefined && t.failureBurst.ignoredReasons.includes(event.reason);
}

/** The set is bounded by the configured action list: only listed actions are remembered. */
function firstUse(seen: Set<string>, action: string, t: RiskThresholds): Measurement | undefined {
  if (!t.firstSensitiveAction.actions.includes(action) || seen.has(action)) return;
  seen.add(action);
  return { observed: 1, threshold: 1 };
}

const scoped = (environment: Environment, id: string): string => `${environment}\u0000${id}`;

/**
 * Whether the signal may be raised now: not raised for the same subject within `cooldownMs`
 * (then the raise is recorded in `cooldowns`).
 */
export function cooledDown(
  cooldowns: BoundedLru<{ lastMs: number }>,
  kind: SignalKind,
  event: RiskEvent,
  subject: SignalSubject,
  cooldownMs: number,
): boolean {
  if (cooldownMs <= 0) return true;
  const slot = cooldowns.getOrCreate(
    `${kind}\u0000${event.environment}\u0000${subject.type}\u0000${subject.id}`,
    () => ({ lastMs: -Infinity }),
  );
  if (event.nowMs - slot.lastMs < cooldownMs) return false;
  slot.lastMs = event.nowMs;
  return true;
}

/** The signal raised for `subject` by `event`. */
export function toSignal(
  event: RiskEvent,
  kind: SignalKind,
  subject: SignalSubject,
  m: Measurement,
  shadow: boolean,
): Signal {
  return {
    kind,
    environment: event.environment,
    subject,
    ...(event.keyId !== undefined && event.reason !== 'KEY_UNKNOWN' ? { keyId: event.keyId } : {}),
    ...(event.accountId !== undefined ? { accountId: event.accountId } : {}),
    ipPrefix: event.ipPrefix,
    action: event.action,
    atMs: event.nowMs,
    shadow,
    observed: m.observed,
    threshold: m.threshold,
  };
}
