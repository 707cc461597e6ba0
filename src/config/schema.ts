/** JSON Schema of the configuration file; every field is documented in docs/configuration.md. */
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

const environment = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean' },
    listen: listener,
    upstream: { type: 'string', minLength: 1 },
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
  },
} as const;
