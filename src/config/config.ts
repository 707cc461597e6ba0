import Ajv from 'ajv';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { parseDuration } from '../core/duration.js';
import { PortcullisError } from '../core/errors.js';
import type { Environment } from '../core/keys/model.js';
import { DEFAULT_BAN_POLICY, type BanPolicy } from '../core/limits/bans.js';
import { MAX_WINDOW_MS } from '../core/limits/limit-rule.js';
import type { RequestLimitsSpec, WindowLimit } from '../core/limits/request-limits.js';
import { parseCidrList } from '../core/net/cidr.js';
import type { RouteSpec } from '../core/routes/route-table.js';
import { DIALECTS, type Dialect } from '../core/signing/types.js';
import {
  governancePolicyOf,
  observabilityConfigOf,
  riskSettingsOf,
  type ObservabilityConfig,
  type RiskSettings,
} from './observability-config.js';
import type { GovernancePolicy } from '../core/governance/index.js';
import { CONFIG_SCHEMA } from './schema.js';
import { websocketConfigOf, type WebsocketConfig } from './websocket-config.js';
import { oauthConfigOf, type OAuthConfig } from './oauth-config.js';
import {
  upstreamLabelOf,
  upstreamPoolOf,
  upstreamPoolProblems,
  type UpstreamPoolConfig,
} from './upstream-config.js';

export interface ListenerConfig {
  readonly host: string;
  readonly port: number;
}

export interface EnvironmentConfig {
  readonly name: Environment;
  readonly enabled: boolean;
  readonly listen: ListenerConfig;
  /** `builtin` (the built-in sandbox exchange) or an http(s) base URL (a pool's first primary). */
  readonly upstream: string;
  /** The pool form (targets, health checks, ejection); null for the single-URL form. */
  readonly upstreamPool: UpstreamPoolConfig | null;
  readonly upstreamTimeoutMs: number;
  readonly windowPastMs: number;
  readonly windowFutureMs: number;
  readonly dialects: readonly Dialect[];
  /** The route table; null means the built-in sandbox exchange's default table. */
  readonly routes: readonly RouteSpec[] | null;
  readonly limits: LimitsConfig;
  /** Anomaly thresholds and response ladder (docs/observability.md). */
  readonly risk: RiskSettings;
  readonly keyGovernance: GovernancePolicy;
}

/** Rate limits, failure budget and bans of one environment (docs/rate-limits.md). */
export interface LimitsConfig extends RequestLimitsSpec {
  readonly enabled: boolean;
  readonly bans: BanPolicy;
}

/** Where the limit state lives; shared by both environments. */
export interface RateLimitsConfig {
  readonly backend: 'memory' | 'redis';
  readonly onRedisDown: 'fail-closed' | 'local-fallback';
  readonly nodeCount: number;
  readonly keyPrefix: string;
}

/**
 * Defaults that never bother a normal client (Binance-like): 6000 weight a minute per IP,
 * per key and 12000 per account, 50 orders per 10 s and 160,000 a day per account, 100 failed
 * verifications a minute per IP prefix.
 */
export const DEFAULT_LIMITS = {
  perKey: [{ window: '1m', limit: 6000 }],
  perAccount: [{ window: '1m', limit: 12000 }],
  perIp: [{ window: '1m', limit: 6000 }],
  orders: [
    { window: '10s', limit: 50 },
    { window: '1d', limit: 160000 },
  ],
  authFailures: [{ window: '1m', limit: 100 }],
} as const;

export interface Config extends ObservabilityConfig {
  readonly dataDir: string;
  readonly store: string;
  readonly redis: string | null;
  readonly logLevel: string;
  readonly admin: {
    readonly listen: ListenerConfig;
    readonly bodyLimitBytes: number;
    /** Serve /metrics without an admin token (for scrapers; bind the admin listener privately). */
    readonly metricsPublic: boolean;
    /** `GET /readyz` answers STORE_UNAVAILABLE when the store has not answered within this. */
    readonly readinessTimeoutMs: number;
  };
  readonly dataPlane: {
    readonly bodyLimitBytes: number;
    readonly trustedProxies: readonly string[];
    readonly keyCacheSize: number;
    readonly replayCacheSize: number;
    readonly headersTimeoutMs: number;
    readonly requestTimeoutMs: number;
    /** The WebSocket endpoint of each data plane (docs/websocket.md). */
    readonly websocket: WebsocketConfig;
  };
  readonly environments: Readonly<Record<Environment, EnvironmentConfig>>;
  readonly rateLimits: RateLimitsConfig;
  /** The authorization server: access tokens, tickets, signing keys (docs/oauth.md). */
  readonly oauth: OAuthConfig;
  /** Cluster mode (only used when `redis` is set): change events, cache re-validation, replay. */
  readonly cluster: {
    /** Every node re-reads the change feed this often (a lost event is applied within it). */
    readonly revalidateIntervalMs: number;
    /** The cache is not trusted once the feed could not be read for this long (store down). */
    readonly maxStalenessMs: number;
    /** Prefix of the Redis channel (`<prefix>changes`) and replay keys (`<prefix>replay:`). */
    readonly keyPrefix: string;
    /** Where replay protection lives with `redis` set: shared (default) or this node's memory. */
    readonly replay: 'redis' | 'memory';
  };
  /** The authorization check listener for nginx `auth_request` and Envoy `ext_authz` (docs/integrations.md). */
  readonly check: {
    readonly enabled: boolean;
    readonly listen: ListenerConfig;
    /** Proxies (nginx, Envoy) whose `X-Forwarded-For` is believed on the check listener. */
    readonly trustedProxies: readonly string[];
  };
  /** The embedded plugins (`portcullis/fastify`, `portcullis/express`). */
  readonly embedded: {
    /** A cached key is re-read from the store after this long (changes made by other processes). */
    readonly keyRevalidateIntervalMs: number;
  };
}

type Raw = Record<string, unknown>;

const obj = (value: unknown): Raw =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Raw) : {};
const ms = (value: unknown, fallback: string): number =>
  parseDuration(typeof value === 'string' ? value : fallback) ?? 0;

/** Environment variables that override the file; each maps to one configuration path. */
export const ENV_OVERRIDES: readonly {
  variable: string;
  path: readonly string[];
  type: 'string' | 'integer';
}[] = [
  { variable: 'PORTCULLIS_DATA_DIR', path: ['dataDir'], type: 'string' },
  { variable: 'PORTCULLIS_STORE', path: ['store'], type: 'string' },
  { variable: 'PORTCULLIS_REDIS_URL', path: ['redis'], type: 'string' },
  { variable: 'PORTCULLIS_LOG_LEVEL', path: ['logLevel'], type: 'string' },
  { variable: 'PORTCULLIS_ADMIN_HOST', path: ['admin', 'listen', 'host'], type: 'string' },
  { variable: 'PORTCULLIS_ADMIN_PORT', path: ['admin', 'listen', 'port'], type: 'integer' },
  {
    variable: 'PORTCULLIS_PRODUCTION_HOST',
    path: ['environments', 'production', 'listen', 'host'],
    type: 'string',
  },
  {
    variable: 'PORTCULLIS_PRODUCTION_PORT',
    path: ['environments', 'production', 'listen', 'port'],
    type: 'integer',
  },
  {
    variable: 'PORTCULLIS_PRODUCTION_UPSTREAM',
    path: ['environments', 'production', 'upstream'],
    type: 'string',
  },
  {
    variable: 'PORTCULLIS_SANDBOX_HOST',
    path: ['environments', 'sandbox', 'listen', 'host'],
    type: 'string',
  },
  {
    variable: 'PORTCULLIS_SANDBOX_PORT',
    path: ['environments', 'sandbox', 'listen', 'port'],
    type: 'integer',
  },
  {
    variable: 'PORTCULLIS_SANDBOX_UPSTREAM',
    path: ['environments', 'sandbox', 'upstream'],
    type: 'string',
  },
];

function applyOverrides(raw: Raw, env: Readonly<Record<string, string | undefined>>): Raw {
  const copy = structuredClone(raw);
  for (const override of ENV_OVERRIDES) {
    const value = env[override.variable];
    if (value === undefined || value === '') continue;
    let node = copy;
    for (const part of override.path.slice(0, -1)) {
      node[part] = obj(node[part]);
      node = node[part] as Raw;
    }
    const last = override.path[override.path.length - 1] as string;
    node[last] = override.type === 'integer' && /^\d+$/.test(value) ? Number(value) : value;
  }
  return copy;
}

/** Reads a JSON or YAML file (by content: YAML is a superset of JSON). */
export function readConfigFile(path: string): Raw {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new PortcullisError('CONFIG_INVALID', `Cannot read the configuration file ${path}.`);
  }
  try {
    return obj(parseYaml(text, { uniqueKeys: true }));
  } catch (error) {
    throw new PortcullisError('CONFIG_INVALID', `${path}: ${(error as Error).message}`);
  }
}

/**
 * Validates the raw configuration (every problem reported at once), applies environment
 * overrides and defaults, and returns a frozen Config. Defaults make `npm start` work with
 * no file at all.
 */
export function loadConfig(
  raw: Raw = {},
  env: Readonly<Record<string, string | undefined>> = process.env,
  baseDir: string = process.cwd(),
): Config {
  const merged = applyOverrides(raw, env);
  const ajv = new Ajv.default({ allErrors: true, strict: true, allowUnionTypes: true });
  const validate = ajv.compile(CONFIG_SCHEMA);
  const problems: string[] = [];
  if (!validate(merged)) {
    for (const error of validate.errors ?? []) {
      const where = error.instancePath || '(root)';
      const extra =
        error.keyword === 'additionalProperties'
          ? ` '${String((error.params as { additionalProperty?: string }).additionalProperty)}'`
          : '';
      problems.push(`${where}: ${error.message ?? 'invalid'}${extra}`);
    }
  }
  const dataPlane = obj(merged.dataPlane);
  const trusted = Array.isArray(dataPlane.trustedProxies)
    ? (dataPlane.trustedProxies as string[])
    : [];
  const parsedProxies = parseCidrList(trusted.filter((t) => typeof t === 'string'));
  if (!parsedProxies.ok)
    problems.push(...parsedProxies.errors.map((e) => `/dataPlane/trustedProxies: ${e}`));
  const check = obj(merged.check);
  const checkProxies = parseCidrList(
    (Array.isArray(check.trustedProxies) ? (check.trustedProxies as unknown[]) : []).filter(
      (t): t is string => typeof t === 'string',
    ),
  );
  if (!checkProxies.ok)
    problems.push(...checkProxies.errors.map((e) => `/check/trustedProxies: ${e}`));
  const envs = obj(merged.environments);
  for (const name of ['production', 'sandbox'] as const) {
    const upstream = obj(envs[name]).upstream;
    if (
      typeof upstream === 'string' &&
      upstream !== 'builtin' &&
      !/^https?:\/\/[^\s/]+/.test(upstream)
    ) {
      problems.push(`/environments/${name}/upstream: must be "builtin" or an http(s) URL`);
    }
    if (typeof upstream === 'object')
      problems.push(...upstreamPoolProblems(upstream, `/environments/${name}/upstream`));
  }
  for (const name of ['production', 'sandbox'] as const) {
    const routes = obj(envs[name]).routes;
    if (!Array.isArray(routes)) continue;
    const seen = new Set<string>();
    routes.forEach((route, index) => {
      const r = obj(route);
      const key = `${String(r.method)} ${String(r.path)}`;
      if (seen.has(key))
        problems.push(`/environments/${name}/routes/${index}: duplicate route ${key}`);
      seen.add(key);
    });
  }
  for (const name of ['production', 'sandbox'] as const) {
    problems.push(...limitProblems(obj(envs[name]), `/environments/${name}`));
  }
  const revalidate = obj(merged.cluster).revalidateInterval;
  const revalidateMs = typeof revalidate === 'string' ? parseDuration(revalidate) : undefined;
  if (revalidateMs !== undefined && (revalidateMs < 50 || revalidateMs > 60_000))
    problems.push('/cluster/revalidateInterval: must be between 50ms and 1m');
  const staleness = obj(merged.cluster).maxStaleness;
  const stalenessMs = typeof staleness === 'string' ? parseDuration(staleness) : undefined;
  if (stalenessMs !== undefined && stalenessMs < 2 * (revalidateMs ?? 1000))
    problems.push('/cluster/maxStaleness: must be at least twice cluster.revalidateInterval');
  if (obj(merged.rateLimits).backend === 'redis' && typeof merged.redis !== 'string') {
    problems.push('/rateLimits/backend: redis needs the top-level `redis` URL');
  }
  if (problems.length > 0) {
    throw new PortcullisError(
      'CONFIG_INVALID',
      `Invalid configuration:\n  ${problems.join('\n  ')}`,
      problems,
    );
  }

  const dataDir = resolve(baseDir, typeof merged.dataDir === 'string' ? merged.dataDir : 'data');
  const admin = obj(merged.admin);
  const adminListen = obj(admin.listen);
  const environment = (name: Environment, defaultPort: number): EnvironmentConfig => {
    const e = obj(envs[name]);
    const listen = obj(e.listen);
    const window = obj(e.window);
    return Object.freeze({
      name,
      enabled: e.enabled !== false,
      listen: {
        host: (listen.host as string | undefined) ?? '127.0.0.1',
        port: (listen.port as number | undefined) ?? defaultPort,
      },
      upstream: e.upstream === undefined ? 'builtin' : upstreamLabelOf(e.upstream),
      upstreamPool: upstreamPoolOf(e.upstream),
      upstreamTimeoutMs: ms(e.upstreamTimeout, '10s'),
      windowPastMs: ms(window.past, '5s'),
      windowFutureMs: ms(window.future, '1s'),
      dialects: Object.freeze([...((e.dialects as Dialect[] | undefined) ?? DIALECTS)]),
      routes: Array.isArray(e.routes)
        ? Object.freeze(
            (e.routes as (Omit<RouteSpec, 'weight' | 'dialect'> & Partial<RouteSpec>)[]).map((r) =>
              Object.freeze({ ...r, weight: r.weight ?? 1, dialect: r.dialect ?? 'native' }),
            ),
          )
        : null,
      limits: limitsOf(obj(e.limits)),
      risk: riskSettingsOf(e.risk),
      keyGovernance: governancePolicyOf(e.keyGovernance, name),
    });
  };
  const rateLimits = obj(merged.rateLimits);
  const store =
    typeof merged.store === 'string' ? merged.store : `sqlite:${resolve(dataDir, 'portcullis.db')}`;
  return Object.freeze({
    dataDir,
    store:
      store.startsWith('sqlite:') && store !== 'sqlite::memory:'
        ? `sqlite:${resolve(baseDir, store.slice(7))}`
        : store,
    redis: typeof merged.redis === 'string' ? merged.redis : null,
    logLevel: typeof merged.logLevel === 'string' ? merged.logLevel : 'info',
    admin: Object.freeze({
      listen: {
        host: (adminListen.host as string | undefined) ?? '127.0.0.1',
        port: (adminListen.port as number | undefined) ?? 8081,
      },
      bodyLimitBytes: (admin.bodyLimitBytes as number | undefined) ?? 65536,
      metricsPublic: admin.metricsPublic === true,
      readinessTimeoutMs: ms(admin.readinessTimeout, '1s'),
    }),
    dataPlane: Object.freeze({
      bodyLimitBytes: (dataPlane.bodyLimitBytes as number | undefined) ?? 65536,
      trustedProxies: Object.freeze(parsedProxies.ok ? parsedProxies.cidrs : []),
      keyCacheSize: (dataPlane.keyCacheSize as number | undefined) ?? 100_000,
      replayCacheSize: (dataPlane.replayCacheSize as number | undefined) ?? 250_000,
      headersTimeoutMs: ms(dataPlane.headersTimeout, '10s'),
      requestTimeoutMs: ms(dataPlane.requestTimeout, '30s'),
      websocket: websocketConfigOf(dataPlane),
    }),
    environments: Object.freeze({
      production: environment('production', 8080),
      sandbox: environment('sandbox', 8090),
    }),
    ...observabilityConfigOf(merged),
    ...oauthConfigOf(merged),
    check: Object.freeze({
      enabled: check.enabled === true,
      listen: {
        host: (obj(check.listen).host as string | undefined) ?? '127.0.0.1',
        port: (obj(check.listen).port as number | undefined) ?? 8082,
      },
      trustedProxies: Object.freeze(
        Array.isArray(check.trustedProxies) && checkProxies.ok
          ? checkProxies.cidrs
          : ['127.0.0.1/32', '::1/128'],
      ),
    }),
    embedded: Object.freeze({
      keyRevalidateIntervalMs: ms(obj(merged.embedded).keyRevalidateInterval, '1s'),
    }),
    cluster: Object.freeze({
      revalidateIntervalMs: ms(obj(merged.cluster).revalidateInterval, '1s'),
      maxStalenessMs: ms(obj(merged.cluster).maxStaleness, '30s'),
      keyPrefix: (obj(merged.cluster).keyPrefix as string | undefined) ?? 'portcullis:',
      replay: (obj(merged.cluster).replay as 'redis' | 'memory' | undefined) ?? 'redis',
    }),
    rateLimits: Object.freeze({
      backend: (rateLimits.backend as 'memory' | 'redis' | undefined) ?? 'memory',
      onRedisDown:
        (rateLimits.onRedisDown as 'fail-closed' | 'local-fallback' | undefined) ??
        'local-fallback',
      nodeCount: (rateLimits.nodeCount as number | undefined) ?? 1,
      keyPrefix: (rateLimits.keyPrefix as string | undefined) ?? 'pc:rl:',
    }),
  });
}

type RawWindow = { window: string; limit: number };

function windowsOf(value: unknown, fallback: readonly RawWindow[]): readonly WindowLimit[] {
  const list = Array.isArray(value) ? (value as RawWindow[]) : fallback;
  return Object.freeze(
    list.map((w) => Object.freeze({ windowMs: ms(w.window, '1m'), limit: w.limit })),
  );
}

function limitsOf(raw: Raw): LimitsConfig {
  const bans = obj(raw.bans);
  const d = DEFAULT_BAN_POLICY;
  const overrides: Record<string, RequestLimitsSpec['accountOverrides'][string]> = {};
  for (const [accountId, value] of Object.entries(obj(raw.accountOverrides))) {
    const o = obj(value);
    overrides[accountId] = Object.freeze({
      ...(o.perKey ? { perKey: windowsOf(o.perKey, []) } : {}),
      ...(o.perAccount ? { perAccount: windowsOf(o.perAccount, []) } : {}),
      ...(o.orders ? { orders: windowsOf(o.orders, []) } : {}),
    });
  }
  const duration = (value: unknown, fallbackMs: number) =>
    typeof value === 'string' ? ms(value, '1m') : fallbackMs;
  return Object.freeze({
    enabled: raw.enabled !== false,
    perKey: windowsOf(raw.perKey, DEFAULT_LIMITS.perKey),
    perAccount: windowsOf(raw.perAccount, DEFAULT_LIMITS.perAccount),
    perIp: windowsOf(raw.perIp, DEFAULT_LIMITS.perIp),
    orders: windowsOf(raw.orders, DEFAULT_LIMITS.orders),
    authFailures: windowsOf(raw.authFailures, DEFAULT_LIMITS.authFailures),
    bans: Object.freeze({
      refusalThreshold: (bans.refusalThreshold as number | undefined) ?? d.refusalThreshold,
      refusalWindowMs: duration(bans.refusalWindow, d.refusalWindowMs),
      firstBanMs: duration(bans.firstBan, d.firstBanMs),
      maxBanMs: duration(bans.maxBan, d.maxBanMs),
      offenceMemoryMs: duration(bans.offenceMemory, d.offenceMemoryMs),
    }),
    accountOverrides: Object.freeze(overrides),
  });
}

/** Checks the schema cannot express: window ranges, duplicate windows, weights above a limit. */
function limitProblems(env: Raw, where: string): string[] {
  const problems: string[] = [];
  const raw = obj(env.limits);
  const weights = Array.isArray(env.routes)
    ? (env.routes as { weight?: unknown }[]).map((r) =>
        typeof r.weight === 'number' ? r.weight : 1,
      )
    : [];
  const maxWeight = Math.max(20, ...weights); // the built-in table's heaviest route weighs 20
  const check = (list: unknown, path: string, weighted: boolean) => {
    if (!Array.isArray(list)) return;
    const seen = new Set<number>();
    (list as RawWindow[]).forEach((w, i) => {
      const windowMs = typeof w.window === 'string' ? parseDuration(w.window) : undefined;
      if (windowMs === undefined) return; // the schema reported it
      if (windowMs < 1 || windowMs > MAX_WINDOW_MS)
        problems.push(`${where}/limits/${path}/${i}/window: must be between 1ms and 7d`);
      if (seen.has(windowMs))
        problems.push(`${where}/limits/${path}/${i}/window: duplicate window`);
      seen.add(windowMs);
      if (weighted && typeof w.limit === 'number' && w.limit < maxWeight)
        problems.push(
          `${where}/limits/${path}/${i}/limit: below the heaviest route weight ${maxWeight}`,
        );
    });
  };
  for (const kind of ['perKey', 'perAccount', 'perIp'] as const) check(raw[kind], kind, true);
  check(raw.orders, 'orders', false);
  check(raw.authFailures, 'authFailures', false);
  for (const [accountId, value] of Object.entries(obj(raw.accountOverrides))) {
    const o = obj(value);
    for (const kind of ['perKey', 'perAccount'] as const)
      check(o[kind], `accountOverrides/${accountId}/${kind}`, true);
    check(o.orders, `accountOverrides/${accountId}/orders`, false);
  }
  return problems;
}
