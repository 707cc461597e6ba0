/** JSON Schema of the configuration file; every field is documented in docs/configuration.md. */
import { OAUTH_SCHEMA } from './oauth-config.js';
import { UPSTREAM_POOL_SCHEMA } from './upstream-config.js';
import { WEBSOCKET_SCHEMA } from './websocket-config.js';

const duration = { type: 'string', pattern: '^\\d{1,9}(ms|s|m|h|d)$' } as const;
const listener = {
  type: 'object',
  additionalProperties: false,
  properties: {
    host: { type: 'string', minLength: 1 },
    port: { type: 'integer', minimum: 0, maximum: 65535 },
  },
} as const;

const route = {
  type: 'object',
  additionalProperties: false,
  properties: {
    method: { enum: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] },
    path: { type: 'string', pattern: '^/[A-Za-z0-9_.~:/-]*$', maxLength: 512 },
    action: { type: 'string', pattern: '^[a-z][a-z0-9_.-]{0,63}$' },
    scope: { enum: ['read', 'trade', 'withdraw', 'transfer', null] },
    weight: { type: 'integer', minimum: 0, maximum: 100000 },
    dialect: { enum: ['native', 'binance', 'bybit', 'okx'] },
    params: {
      type: 'object',
      additionalProperties: { type: 'string', minLength: 1, maxLength: 1024 },
      maxProperties: 16,
    },
  },
  required: ['method', 'path', 'action', 'scope'],
} as const;

const windowLimit = {
  type: 'object',
  additionalProperties: false,
  properties: {
    window: duration,
    limit: { type: 'integer', minimum: 1, maximum: 1000000000 },
  },
  required: ['window', 'limit'],
} as const;
const windowList = { type: 'array', items: windowLimit, maxItems: 8 } as const;

const limits = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean' },
    perKey: windowList,
    perAccount: windowList,
    perIp: windowList,
    orders: windowList,
    authFailures: windowList,
    bans: {
      type: 'object',
      additionalProperties: false,
      properties: {
        refusalThreshold: { type: 'integer', minimum: 1, maximum: 1000000 },
        refusalWindow: duration,
        firstBan: duration,
        maxBan: duration,
        offenceMemory: duration,
      },
    },
    accountOverrides: {
      type: 'object',
      propertyNames: { pattern: '^acc_[A-Za-z0-9_]{1,64}$' },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        minProperties: 1,
        patternProperties: { '^(perKey|perAccount|orders)$': windowList },
      },
      maxProperties: 10000,
    },
  },
} as const;

const signalMode = { enum: ['off', 'shadow', 'enforce'] } as const;
const count = { type: 'integer', minimum: 1, maximum: 1000000000 } as const;
/** One anomaly signal's overrides (docs/observability.md has the defaults). */
const signal = (extra: Record<string, unknown>) =>
  ({
    type: 'object',
    additionalProperties: false,
    properties: { mode: signalMode, cooldown: duration, ...extra },
  }) as const;
const responseRule = {
  type: 'object',
  additionalProperties: false,
  properties: {
    step: { enum: ['observe', 'alert', 'throttle', 'step_down', 'disable_key', 'ban_prefix'] },
    throttleFactor: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
    tradeMode: { enum: ['cancel_only', 'read_only'] },
    duration: { oneOf: [duration, { type: 'null' }] },
  },
  required: ['step'],
} as const;
const SIGNAL_NAMES = [
  'newIpPrefix',
  'failureBurst',
  'rateSpike',
  'firstSensitiveAction',
  'unusualHour',
  'keySpray',
] as const;
const risk = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean' },
    signals: {
      type: 'object',
      additionalProperties: false,
      properties: {
        newIpPrefix: signal({ maxPrefixesPerKey: count, forgetAfter: duration }),
        failureBurst: signal({
          window: duration,
          perKey: count,
          perPrefix: count,
          ignoredReasons: { type: 'array', items: { type: 'string' }, maxItems: 64 },
        }),
        rateSpike: signal({
          interval: duration,
          lambda: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
          warmupIntervals: count,
          zThreshold: { type: 'number', exclusiveMinimum: 0 },
          minRequestsPerInterval: count,
        }),
        firstSensitiveAction: signal({
          actions: { type: 'array', items: { type: 'string' }, maxItems: 64 },
        }),
        unusualHour: signal({
          minActiveHours: count,
          minShare: { type: 'number', minimum: 0, maximum: 1 },
        }),
        keySpray: signal({ window: duration, distinctKeys: count }),
      },
    },
    responses: {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(SIGNAL_NAMES.map((name) => [name, responseRule])),
    },
  },
} as const;
const nullableDuration = { oneOf: [duration, { type: 'null' }] } as const;
const keyGovernance = {
  type: 'object',
  additionalProperties: false,
  properties: {
    maxKeyAge: nullableDuration,
    warnBefore: duration,
    onMaxAge: { enum: ['step_down', 'expire'] },
    unrestrictedScopeTtl: nullableDuration,
    unrestrictedLosesScopes: {
      type: 'array',
      items: { enum: ['read', 'trade', 'withdraw', 'transfer'] },
      uniqueItems: true,
    },
    unrestrictedMayWithdraw: { type: 'boolean' },
    dormantAfter: nullableDuration,
  },
} as const;

const environment = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean' },
    listen: listener,
    upstream: { oneOf: [{ type: 'string', minLength: 1 }, UPSTREAM_POOL_SCHEMA] },
    upstreamTimeout: duration,
    window: {
      type: 'object',
      additionalProperties: false,
      properties: { past: duration, future: duration },
    },
    dialects: {
      type: 'array',
      items: { enum: ['native', 'binance', 'bybit', 'okx'] },
      uniqueItems: true,
    },
    routes: { type: 'array', items: route, maxItems: 10000 },
    limits,
    risk,
    keyGovernance,
  },
} as const;

export const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    dataDir: { type: 'string', minLength: 1 },
    store: { type: 'string', pattern: '^(sqlite:|postgres://|postgresql://)' },
    redis: { type: ['string', 'null'], pattern: '^rediss?://' },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    admin: {
      type: 'object',
      additionalProperties: false,
      properties: {
        listen: listener,
        bodyLimitBytes: { type: 'integer', minimum: 1024, maximum: 10485760 },
        metricsPublic: { type: 'boolean' },
        readinessTimeout: duration,
      },
    },
    dataPlane: {
      type: 'object',
      additionalProperties: false,
      properties: {
        bodyLimitBytes: { type: 'integer', minimum: 1024, maximum: 10485760 },
        trustedProxies: { type: 'array', items: { type: 'string' } },
        keyCacheSize: { type: 'integer', minimum: 1, maximum: 10000000 },
        replayCacheSize: { type: 'integer', minimum: 1000, maximum: 100000000 },
        headersTimeout: duration,
        requestTimeout: duration,
        websocket: WEBSOCKET_SCHEMA,
      },
    },
    check: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        listen: listener,
        trustedProxies: { type: 'array', items: { type: 'string' } },
      },
    },
    embedded: {
      type: 'object',
      additionalProperties: false,
      properties: { keyRevalidateInterval: duration },
    },
    cluster: {
      type: 'object',
      additionalProperties: false,
      properties: {
        revalidateInterval: duration,
        maxStaleness: duration,
        keyPrefix: { type: 'string', pattern: '^[A-Za-z0-9:_.-]{1,64}$' },
        replay: { enum: ['redis', 'memory'] },
      },
    },
    rateLimits: {
      type: 'object',
      additionalProperties: false,
      properties: {
        backend: { enum: ['memory', 'redis'] },
        onRedisDown: { enum: ['fail-closed', 'local-fallback'] },
        nodeCount: { type: 'integer', minimum: 1, maximum: 1000 },
        keyPrefix: { type: 'string', pattern: '^[A-Za-z0-9:_.-]{1,64}$' },
      },
    },
    environments: {
      type: 'object',
      additionalProperties: false,
      properties: { production: environment, sandbox: environment },
    },
    trafficLog: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        retention: duration,
        flushInterval: duration,
        batchSize: { type: 'integer', minimum: 1, maximum: 100000 },
        maxBuffered: { type: 'integer', minimum: 1, maximum: 10000000 },
        maxRows: { type: 'integer', minimum: 1000, maximum: 10000000000 },
      },
    },
    alerts: {
      type: 'object',
      additionalProperties: false,
      properties: {
        webhooks: {
          type: 'array',
          maxItems: 16,
          items: {
            type: 'object',
            additionalProperties: false,
            properties: {
              url: { type: 'string', pattern: '^https?://' },
              secret: { type: 'string', minLength: 16 },
            },
            required: ['url', 'secret'],
          },
        },
      },
    },
    keyGovernance: {
      type: 'object',
      additionalProperties: false,
      properties: { enabled: { type: 'boolean' }, interval: duration },
    },
    oauth: OAUTH_SCHEMA,
  },
} as const;
