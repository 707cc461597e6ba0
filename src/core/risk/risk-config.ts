/**
 * Thresholds of the anomaly signals, one set per environment (sandbox traffic must never train
 * or trip production baselines). Every default is documented in docs/observability.md.
 */
import type { Environment } from '../keys/model.js';

export const SIGNAL_KINDS = [
  'new_ip_prefix',
  'failure_burst',
  'rate_spike',
  'first_sensitive_action',
  'unusual_hour',
  'key_spray',
] as const;
export type SignalKind = (typeof SIGNAL_KINDS)[number];

/** `off`: not computed; `shadow`: computed and reported, never acted on; `enforce`: acted on. */
export type SignalMode = 'off' | 'shadow' | 'enforce';

interface SignalBase {
  readonly mode: SignalMode;
  /** The same signal for the same subject is not repeated within this time. */
  readonly cooldownMs: number;
}

export interface RiskThresholds {
  readonly newIpPrefix: SignalBase & {
    /** Prefixes remembered per key; beyond it the least recently seen is forgotten. */
    readonly maxPrefixesPerKey: number;
    /** A prefix not seen for this long is forgotten (decay). */
    readonly forgetAfterMs: number;
  };
  readonly failureBurst: SignalBase & {
    readonly windowMs: number;
    /** Denials of one key inside the window that raise the signal. */
    readonly perKey: number;
    /** Denials from one IP prefix inside the window that raise the signal. */
    readonly perPrefix: number;
    /** Denial reasons that do not count (they have their own mechanisms). */
    readonly ignoredReasons: readonly string[];
  };
  readonly rateSpike: SignalBase & {
    /** Length of one counting interval. */
    readonly intervalMs: number;
    /** EWMA weight of the newest interval (NIST/SEMATECH e-Handbook §6.3.2.4: 0.05–0.3). */
    readonly lambda: number;
    /** Active intervals observed before the baseline is trusted. */
    readonly warmupIntervals: number;
    /** z-score above which the current interval is anomalous. */
    readonly zThreshold: number;
    /** …and the interval must also hold at least this many requests (no alert on 1 → 3). */
    readonly minRequestsPerInterval: number;
  };
  readonly firstSensitiveAction: SignalBase & {
    /** Route action names whose first use by a key or an account raises the signal. */
    readonly actions: readonly string[];
  };
  readonly unusualHour: SignalBase & {
    /** Distinct active clock hours a key needs before its usual hours are trusted. */
    readonly minActiveHours: number;
    /** An hour of day holding less than this share of the key's active hours is unusual. */
    readonly minShare: number;
  };
  readonly keySpray: SignalBase & {
    readonly windowMs: number;
    /** Distinct failing key ids from one IP prefix inside the window that raise the signal. */
    readonly distinctKeys: number;
  };
}

/** Bounds on memory: each map is an LRU, so the engine never holds more than these entries. */
export interface RiskMemoryLimits {
  readonly maxKeys: number;
  readonly maxAccounts: number;
  readonly maxPrefixes: number;
  /** Cooldown entries (signal kind × subject). */
  readonly maxCooldowns: number;
}

export interface RiskEngineConfig {
  readonly environments: Readonly<Record<Environment, RiskThresholds>>;
  readonly memory: RiskMemoryLimits;
}

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

export const DEFAULT_RISK_THRESHOLDS: RiskThresholds = {
  newIpPrefix: {
    mode: 'enforce',
    cooldownMs: 0,
    maxPrefixesPerKey: 16,
    forgetAfterMs: 30 * DAY_MS,
  },
  failureBurst: {
    mode: 'enforce',
    cooldownMs: 5 * MINUTE_MS,
    windowMs: MINUTE_MS,
    perKey: 20,
    perPrefix: 50,
    ignoredReasons: ['RATE_LIMITED', 'IP_BANNED', 'ROUTE_UNKNOWN'],
  },
  rateSpike: {
    mode: 'enforce',
    cooldownMs: 15 * MINUTE_MS,
    intervalMs: MINUTE_MS,
    lambda: 0.1,
    warmupIntervals: 30,
    zThreshold: 6,
    minRequestsPerInterval: 120,
  },
  firstSensitiveAction: {
    mode: 'enforce',
    cooldownMs: 0,
    actions: ['withdrawal.create', 'transfer.create'],
  },
  unusualHour: {
    mode: 'shadow',
    cooldownMs: 60 * MINUTE_MS,
    minActiveHours: 72,
    minShare: 0.01,
  },
  keySpray: {
    mode: 'enforce',
    cooldownMs: 5 * MINUTE_MS,
    windowMs: MINUTE_MS,
    distinctKeys: 5,
  },
};

export const DEFAULT_RISK_MEMORY: RiskMemoryLimits = {
  maxKeys: 10_000,
  maxAccounts: 10_000,
  maxPrefixes: 10_000,
  maxCooldowns: 20_000,
};

export const DEFAULT_RISK_CONFIG: RiskEngineConfig = {
  environments: { sandbox: DEFAULT_RISK_THRESHOLDS, production: DEFAULT_RISK_THRESHOLDS },
  memory: DEFAULT_RISK_MEMORY,
};

type Overrides<T> = { readonly [K in keyof T]?: Partial<T[K]> };

export interface RiskConfigOverrides {
  readonly environments?: { readonly [E in Environment]?: Overrides<RiskThresholds> };
  readonly memory?: Partial<RiskMemoryLimits>;
}

/** Defaults with per-environment, per-signal overrides applied; the result is frozen. */
export function resolveRiskConfig(overrides: RiskConfigOverrides = {}): RiskEngineConfig {
  const forEnvironment = (environment: Environment): RiskThresholds => {
    const o = overrides.environments?.[environment] ?? {};
    const d = DEFAULT_RISK_THRESHOLDS;
    return Object.freeze({
      newIpPrefix: Object.freeze({ ...d.newIpPrefix, ...o.newIpPrefix }),
      failureBurst: Object.freeze({ ...d.failureBurst, ...o.failureBurst }),
      rateSpike: Object.freeze({ ...d.rateSpike, ...o.rateSpike }),
      firstSensitiveAction: Object.freeze({
        ...d.firstSensitiveAction,
        ...o.firstSensitiveAction,
      }),
      unusualHour: Object.freeze({ ...d.unusualHour, ...o.unusualHour }),
      keySpray: Object.freeze({ ...d.keySpray, ...o.keySpray }),
    });
  };
  return Object.freeze({
    environments: Object.freeze({
      sandbox: forEnvironment('sandbox'),
      production: forEnvironment('production'),
    }),
    memory: Object.freeze({ ...DEFAULT_RISK_MEMORY, ...overrides.memory }),
  });
}
