/**
 * The observability parts of the configuration (docs/observability.md, docs/configuration.md):
 * the traffic log, alert webhooks, the governance job, and per environment the anomaly
 * thresholds, the response ladder and the key-governance policy. Validated by the schema first.
 */
import { parseDuration } from '../core/duration.js';
import { DEFAULT_GOVERNANCE_POLICIES, type GovernancePolicy } from '../core/governance/index.js';
import type { Environment, Scope } from '../core/keys/model.js';
import {
  DEFAULT_RESPONSE_CONFIG,
  DEFAULT_RISK_THRESHOLDS,
  type ResponseConfig,
  type ResponseRule,
  type RiskThresholds,
  type SignalKind,
} from '../core/risk/index.js';

type Raw = Record<string, unknown>;
const obj = (value: unknown): Raw =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Raw) : {};
const msOf = (value: unknown): number | undefined =>
  typeof value === 'string' ? parseDuration(value) : undefined;
/** A nullable duration field: absent → fallback; null → null. */
const nullableMs = (value: unknown, fallback: number | null): number | null =>
  value === null ? null : (msOf(value) ?? fallback);

export interface RiskSettings {
  readonly enabled: boolean;
  readonly thresholds: RiskThresholds;
  readonly responses: ResponseConfig;
}

export interface ObservabilityConfig {
  readonly trafficLog: {
    readonly enabled: boolean;
    readonly retentionMs: number;
    readonly flushIntervalMs: number;
    readonly batchSize: number;
    readonly maxBuffered: number;
    readonly maxRows: number;
  };
  readonly alerts: { readonly webhooks: readonly { url: string; secret: string }[] };
  readonly keyGovernance: { readonly enabled: boolean; readonly intervalMs: number };
}

/** Config names of the signals (camelCase) and their kinds. */
const SIGNALS: readonly [keyof RiskThresholds, SignalKind][] = [
  ['newIpPrefix', 'new_ip_prefix'],
  ['failureBurst', 'failure_burst'],
  ['rateSpike', 'rate_spike'],
  ['firstSensitiveAction', 'first_sensitive_action'],
  ['unusualHour', 'unusual_hour'],
  ['keySpray', 'key_spray'],
];

/** Duration-valued threshold fields: config name → RiskThresholds field. */
const DURATION_FIELDS: Readonly<Record<string, string>> = {
  cooldown: 'cooldownMs',
  forgetAfter: 'forgetAfterMs',
  window: 'windowMs',
  interval: 'intervalMs',
};

/** Top-level observability settings with their defaults. */
export function observabilityConfigOf(merged: Raw): ObservabilityConfig {
  const traffic = obj(merged.trafficLog);
  const alerts = obj(merged.alerts);
  const governance = obj(merged.keyGovernance);
  const webhooks = Array.isArray(alerts.webhooks) ? (alerts.webhooks as Raw[]) : [];
  return Object.freeze({
    trafficLog: Object.freeze({
      enabled: traffic.enabled !== false,
      retentionMs: msOf(traffic.retention) ?? 7 * 86_400_000,
      flushIntervalMs: msOf(traffic.flushInterval) ?? 1000,
      batchSize: (traffic.batchSize as number | undefined) ?? 500,
      maxBuffered: (traffic.maxBuffered as number | undefined) ?? 50_000,
      maxRows: (traffic.maxRows as number | undefined) ?? 10_000_000,
    }),
    alerts: Object.freeze({
      webhooks: Object.freeze(
        webhooks.map((w) => Object.freeze({ url: String(w.url), secret: String(w.secret) })),
      ),
    }),
    keyGovernance: Object.freeze({
      enabled: governance.enabled !== false,
      intervalMs: msOf(governance.interval) ?? 3_600_000,
    }),
  });
}

/** One environment's anomaly thresholds and response ladder. */
export function riskSettingsOf(raw: unknown): RiskSettings {
  const r = obj(raw);
  const signals = obj(r.signals);
  const responses = obj(r.responses);
  const thresholds: Record<string, unknown> = {};
  const ladder: Record<string, ResponseRule> = {};
  for (const [name, kind] of SIGNALS) {
    const given = obj(signals[name]);
    const converted: Raw = {};
    for (const [field, value] of Object.entries(given)) {
      const target = DURATION_FIELDS[field];
      converted[target ?? field] = target === undefined ? value : msOf(value);
    }
    thresholds[name] = Object.freeze({ ...DEFAULT_RISK_THRESHOLDS[name], ...converted });
    const rule = responses[name];
    if (rule === undefined) {
      ladder[kind] = DEFAULT_RESPONSE_CONFIG[kind];
      continue;
    }
    const o = obj(rule);
    ladder[kind] = Object.freeze({
      step: o.step as ResponseRule['step'],
      ...(typeof o.throttleFactor === 'number' ? { throttleFactor: o.throttleFactor } : {}),
      ...(o.tradeMode !== undefined ? { tradeMode: o.tradeMode as 'cancel_only' } : {}),
      ...('duration' in o ? { durationMs: nullableMs(o.duration, null) } : {}),
    });
  }
  return Object.freeze({
    enabled: r.enabled !== false,
    thresholds: Object.freeze(thresholds) as unknown as RiskThresholds,
    responses: Object.freeze(ladder),
  });
}

/** One environment's key-governance policy over its defaults. */
export function governancePolicyOf(raw: unknown, environment: Environment): GovernancePolicy {
  const g = obj(raw);
  const d = DEFAULT_GOVERNANCE_POLICIES[environment];
  return Object.freeze({
    maxKeyAgeMs: nullableMs(g.maxKeyAge, d.maxKeyAgeMs),
    warnBeforeMs: msOf(g.warnBefore) ?? d.warnBeforeMs,
    onMaxAge: (g.onMaxAge as GovernancePolicy['onMaxAge'] | undefined) ?? d.onMaxAge,
    unrestrictedScopeTtlMs: nullableMs(g.unrestrictedScopeTtl, d.unrestrictedScopeTtlMs),
    unrestrictedLosesScopes: Object.freeze(
      (g.unrestrictedLosesScopes as Scope[] | undefined) ?? [...d.unrestrictedLosesScopes],
    ),
    unrestrictedMayWithdraw:
      typeof g.unrestrictedMayWithdraw === 'boolean'
        ? g.unrestrictedMayWithdraw
        : d.unrestrictedMayWithdraw,
    dormantAfterMs: nullableMs(g.dormantAfter, d.dormantAfterMs),
  });
}
