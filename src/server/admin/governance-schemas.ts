/** JSON Schemas of the policy, approval and withdrawal-rule endpoints. */
import { DURATION_PATTERN } from './schemas.js';

const names = (maxItems: number) =>
  ({ type: 'array', items: { type: 'string', minLength: 1, maxLength: 128 }, maxItems }) as const;

const target = {
  type: 'object',
  additionalProperties: false,
  properties: {
    actions: names(256),
    environments: { type: 'array', items: { enum: ['sandbox', 'production'] }, maxItems: 2 },
    accounts: names(256),
    keys: names(256),
  },
} as const;

/** Create (with `id`) or replace (PUT, without) a policy. */
export function policyBody(withId: boolean) {
  return {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...(withId ? { id: { type: 'string', minLength: 1, maxLength: 128 } } : {}),
      effect: { enum: ['permit', 'forbid', 'require-approval'] },
      target,
      condition: { type: 'string', minLength: 1, maxLength: 4096 },
      mode: { enum: ['enforce', 'shadow'] },
      description: { type: 'string', maxLength: 512 },
      quorum: { type: 'integer', minimum: 1, maximum: 20 },
    },
    required: withId ? ['id', 'effect', 'condition'] : ['effect', 'condition'],
  } as const;
}

export const policyIdParams = {
  type: 'object',
  properties: { id: { type: 'string', minLength: 1, maxLength: 128 } },
  required: ['id'],
} as const;

export const simulateBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    action: { type: 'string', minLength: 1, maxLength: 64 },
    accountId: { type: 'string', maxLength: 64 },
    environment: { enum: ['sandbox', 'production'] },
    key: {
      type: 'object',
      additionalProperties: false,
      properties: {
        id: { type: 'string', maxLength: 64 },
        scopes: names(16),
        ageDays: { type: 'number', minimum: 0 },
        label: { type: 'string', maxLength: 128 },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        riskLevel: { enum: ['normal', 'elevated', 'high', 'locked'] },
      },
    },
    params: {
      type: 'object',
      additionalProperties: { anyOf: [{ type: 'string' }, { type: 'number' }] },
    },
    request: {
      type: 'object',
      additionalProperties: false,
      properties: {
        ip: { type: 'string', maxLength: 64 },
        method: { type: 'string', maxLength: 16 },
        path: { type: 'string', maxLength: 512 },
      },
    },
    time: { type: 'string', format: 'date-time' },
  },
  required: ['action'],
} as const;

export const approvalIdParams = {
  type: 'object',
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
  required: ['id'],
} as const;

export const listApprovalsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    state: {
      enum: ['pending', 'approved', 'rejected', 'expired', 'executing', 'executed', 'failed'],
    },
    limit: { type: 'string', pattern: '^[1-9][0-9]{0,3}$' },
  },
} as const;

export const voteBody = {
  type: 'object',
  additionalProperties: false,
  properties: { digest: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
} as const;

const decimal = { type: 'string', pattern: '^(0|[1-9][0-9]{0,29})(\\.[0-9]{1,18})?$' } as const;
const limits = {
  type: 'object',
  additionalProperties: false,
  properties: { perTransaction: decimal, perHour: decimal, perDay: decimal },
} as const;

export const withdrawalRulesBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    addressBookRequired: { type: 'boolean' },
    coolDown: { type: 'string', pattern: DURATION_PATTERN },
    accountLimits: limits,
    keyLimits: limits,
    addressApprovalQuorum: { type: 'integer', minimum: 0, maximum: 20 },
  },
} as const;

export const addressBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    asset: { type: 'string', minLength: 1, maxLength: 16 },
    network: { type: 'string', maxLength: 32 },
    address: { type: 'string', minLength: 1, maxLength: 128 },
    memo: { type: 'string', maxLength: 128 },
  },
  required: ['asset', 'address'],
} as const;
