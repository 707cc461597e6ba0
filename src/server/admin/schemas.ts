/** JSON Schemas of the admin API; they validate requests and feed /openapi.json. */

/** The pattern every duration field carries; a mismatch is answered as INVALID_DURATION. */
export const DURATION_PATTERN = '^\\d{1,9}(ms|s|m|h|d)$';

const durationString = {
  type: 'string',
  pattern: DURATION_PATTERN,
  description: 'e.g. 0s, 90s, 15m, 1h, 90d',
} as const;
const isoTime = { type: 'string', format: 'date-time' } as const;
const nullableIso = { type: ['string', 'null'], format: 'date-time' } as const;
const stringList = (maxItems: number) =>
  ({ type: 'array', items: { type: 'string', maxLength: 128 }, maxItems }) as const;

export const errorSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        requestId: { type: 'string' },
        details: { type: 'array', items: { type: 'string' } },
      },
      required: ['code', 'message', 'requestId'],
    },
  },
  required: ['error'],
} as const;

export const accountSchema = {
  type: 'object',
  properties: { id: { type: 'string' }, name: { type: 'string' }, createdAt: isoTime },
  required: ['id', 'name', 'createdAt'],
} as const;

export const keySchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    accountId: { type: 'string' },
    label: { type: 'string' },
    environment: { enum: ['sandbox', 'production'] },
    scheme: { enum: ['hmac', 'ed25519'] },
    scopes: { type: 'array', items: { type: 'string' } },
    ipAllowlist: { type: 'array', items: { type: 'string' } },
    hasPassphrase: { type: 'boolean' },
    status: { enum: ['active', 'revoked'] },
    state: { enum: ['active', 'revoked', 'expired'] },
    createdAt: isoTime,
    expiresAt: nullableIso,
    revokedAt: nullableIso,
    lastUsedAt: nullableIso,
    lastUsedIp: { type: ['string', 'null'] },
    epoch: { type: 'integer' },
    secretVersion: { type: 'integer' },
  },
  required: [
    'id',
    'accountId',
    'environment',
    'scheme',
    'scopes',
    'ipAllowlist',
    'status',
    'state',
    'createdAt',
  ],
} as const;

export const createAccountBody = {
  type: 'object',
  additionalProperties: false,
  properties: { name: { type: 'string', minLength: 1, maxLength: 128 } },
  required: ['name'],
} as const;

export const createKeyBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    accountId: { type: 'string', minLength: 1, maxLength: 64 },
    environment: { enum: ['sandbox', 'production'] },
    scheme: { enum: ['hmac', 'ed25519'], default: 'hmac' },
    scopes: { type: 'array', items: { type: 'string', maxLength: 32 }, minItems: 1, maxItems: 16 },
    ipAllowlist: stringList(100),
    label: { type: 'string', maxLength: 128 },
    publicKey: { type: 'string', maxLength: 4096 },
    passphrase: { type: 'string', minLength: 4, maxLength: 128 },
    expiresIn: durationString,
    expiresAt: isoTime,
  },
  required: ['accountId', 'environment', 'scopes'],
} as const;

export const updateKeyBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    scopes: { type: 'array', items: { type: 'string', maxLength: 32 }, minItems: 1, maxItems: 16 },
    ipAllowlist: stringList(100),
    label: { type: 'string', maxLength: 128 },
    expiresIn: durationString,
    expiresAt: nullableIso,
  },
} as const;

export const rotateKeyBody = {
  type: 'object',
  additionalProperties: false,
  properties: { grace: durationString },
} as const;

export const emptyBody = { type: 'object', additionalProperties: false, properties: {} } as const;

export const keyIdParams = {
  type: 'object',
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
  required: ['id'],
} as const;

export const listKeysQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    accountId: { type: 'string', maxLength: 64 },
    environment: { enum: ['sandbox', 'production'] },
    after: { type: 'string', maxLength: 64 },
    limit: { type: 'string', pattern: '^[1-9][0-9]{0,3}$' },
  },
} as const;

export const listAccountsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    after: { type: 'string', maxLength: 64 },
    limit: { type: 'string', pattern: '^[1-9][0-9]{0,3}$' },
  },
} as const;

export const listAuditQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    afterSeq: { type: 'string', pattern: '^[0-9]{1,15}$' },
    action: { type: 'string', maxLength: 64 },
    target: { type: 'string', maxLength: 64 },
    limit: { type: 'string', pattern: '^[1-9][0-9]{0,3}$' },
  },
} as const;

export const createTokenBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    role: { type: 'string', maxLength: 16 },
    label: { type: 'string', maxLength: 128 },
    expiresIn: durationString,
  },
  required: ['role'],
} as const;

export const auditEntrySchema = {
  type: 'object',
  properties: {
    seq: { type: 'integer' },
    ts: isoTime,
    actor: { type: 'string' },
    action: { type: 'string' },
    target: { type: 'string' },
    requestId: { type: 'string' },
    data: { type: 'object', additionalProperties: true },
    prevHash: { type: 'string' },
    hash: { type: 'string' },
  },
} as const;
