/**
 * The pool form of `environments.<env>.upstream` (docs/configuration.md): several targets,
 * primaries and backups, with active health checks and passive ejection. The single-URL form
 * (`upstream: http://…` or `builtin`) stays as it was: one target, no checks, no ejection.
 */
import { parseDuration } from '../core/duration.js';
import type { EjectionPolicy, TargetSpec } from '../core/upstream/target-pool.js';

export interface UpstreamHealthCheckConfig {
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
}

export interface UpstreamPoolConfig {
  readonly targets: readonly TargetSpec[];
  /** Active checks; null when not configured (passive ejection only). */
  readonly healthCheck: UpstreamHealthCheckConfig | null;
  readonly ejection: EjectionPolicy;
}

const duration = { type: 'string', pattern: '^\\d{1,9}(ms|s|m|h|d)$' } as const;
const threshold = { type: 'integer', minimum: 1, maximum: 100 } as const;

/** JSON Schema of the pool form. */
export const UPSTREAM_POOL_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    targets: {
      type: 'array',
      minItems: 1,
      maxItems: 16,
      items: {
        type: 'object',
        additionalProperties: false,
        properties: {
          url: { type: 'string', pattern: '^https?://[^\\s/]+' },
          role: { enum: ['primary', 'backup'] },
        },
        required: ['url'],
      },
    },
    healthCheck: {
      type: 'object',
      additionalProperties: false,
      properties: {
        path: { type: 'string', pattern: '^/[\\x21-\\x7e]*$', maxLength: 512 },
        interval: duration,
        timeout: duration,
        unhealthyThreshold: threshold,
        healthyThreshold: threshold,
      },
      required: ['path'],
    },
    ejection: {
      type: 'object',
      additionalProperties: false,
      properties: {
        consecutiveFailures: { type: 'integer', minimum: 1, maximum: 1000 },
        cooldown: duration,
      },
    },
  },
  required: ['targets'],
} as const;

type Raw = Record<string, unknown>;
const obj = (value: unknown): Raw =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Raw) : {};
const ms = (value: unknown, fallback: string): number =>
  parseDuration(typeof value === 'string' ? value : fallback) ?? 0;

const DEFAULTS = {
  interval: '5s',
  timeout: '1s',
  cooldown: '10s',
  consecutiveFailures: 3,
  unhealthyThreshold: 2,
  healthyThreshold: 1,
} as const;

/** The origin of a URL (`http://host:port`), or undefined when it does not parse. */
function originOf(url: string): string | undefined {
  try {
    const parsed = new URL(url);
    return parsed.pathname === '/' && parsed.search === '' ? parsed.origin : undefined;
  } catch {
    return undefined;
  }
}

/** Checks the schema cannot express: a primary exists, URLs are bare origins and unique. */
export function upstreamPoolProblems(value: unknown, where: string): string[] {
  const raw = obj(value);
  if (!Array.isArray(raw.targets)) return [];
  const problems: string[] = [];
  const seen = new Set<string>();
  let primaries = 0;
  (raw.targets as unknown[]).forEach((target, index) => {
    const t = obj(target);
    if (t.role === undefined || t.role === 'primary') primaries += 1;
    if (typeof t.url !== 'string') return;
    const origin = originOf(t.url);
    if (origin === undefined) {
      problems.push(`${where}/targets/${index}/url: must be an http(s) origin without a path`);
      return;
    }
    if (seen.has(origin)) problems.push(`${where}/targets/${index}/url: duplicate target`);
    seen.add(origin);
  });
  if (primaries === 0) problems.push(`${where}/targets: at least one target must be primary`);
  const health = obj(raw.healthCheck);
  if (
    typeof health.timeout === 'string' &&
    ms(health.timeout, DEFAULTS.timeout) > ms(health.interval, DEFAULTS.interval)
  ) {
    problems.push(`${where}/healthCheck/timeout: must not exceed the interval`);
  }
  if (typeof health.interval === 'string' && ms(health.interval, DEFAULTS.interval) < 100) {
    problems.push(`${where}/healthCheck/interval: must be at least 100ms`);
  }
  return problems;
}

/** The pool form with defaults applied; null for the single-URL form. */
export function upstreamPoolOf(value: unknown): UpstreamPoolConfig | null {
  if (typeof value === 'string' || value === undefined) return null;
  const raw = obj(value);
  const targets = (Array.isArray(raw.targets) ? raw.targets : []).map((target) => {
    const t = obj(target);
    return Object.freeze({
      url: originOf(String(t.url)) ?? String(t.url),
      role: t.role === 'backup' ? ('backup' as const) : ('primary' as const),
    });
  });
  const health = raw.healthCheck === undefined ? null : obj(raw.healthCheck);
  const intervalMs = ms(health?.interval, DEFAULTS.interval);
  const ejection = obj(raw.ejection);
  return Object.freeze({
    targets: Object.freeze(targets),
    healthCheck:
      health === null
        ? null
        : Object.freeze({
            path: String(health.path),
            intervalMs,
            // An unset timeout never outlasts the interval.
            timeoutMs:
              typeof health.timeout === 'string'
                ? ms(health.timeout, DEFAULTS.timeout)
                : Math.min(ms(DEFAULTS.timeout, DEFAULTS.timeout), intervalMs),
            unhealthyThreshold:
              (health.unhealthyThreshold as number | undefined) ?? DEFAULTS.unhealthyThreshold,
            healthyThreshold:
              (health.healthyThreshold as number | undefined) ?? DEFAULTS.healthyThreshold,
          }),
    ejection: Object.freeze({
      consecutiveFailures:
        (ejection.consecutiveFailures as number | undefined) ?? DEFAULTS.consecutiveFailures,
      cooldownMs: ms(ejection.cooldown, DEFAULTS.cooldown),
    }),
  });
}

/** The URL shown for the environment: `builtin`, the single URL, or the first primary. */
export function upstreamLabelOf(value: unknown): string {
  if (typeof value === 'string') return value;
  const pool = upstreamPoolOf(value);
  return pool?.targets.find((t) => t.role === 'primary')?.url ?? 'builtin';
}
