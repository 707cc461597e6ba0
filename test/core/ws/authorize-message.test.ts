/**
 * Per-message authorization of a session (src/core/ws/authorize-message.ts): the permission
 * matrix of key state, environment, IP, scope (token-narrowed), anomaly responses, policies and
 * rate limits, each asserted by its reason code; and that messages map onto the route table.
 */
import { describe, expect, it } from 'vitest';
import { createMemoryBanStore } from '../../../src/adapters/memory/ban-store.js';
import { createMemoryRateLimiter } from '../../../src/adapters/memory/rate-limiter.js';
import type { ApiKey } from '../../../src/core/keys/model.js';
import { createFailureBlocks } from '../../../src/core/limits/failure-blocks.js';
import { createRequestLimits } from '../../../src/core/limits/request-limits.js';
import type { RiskLookup } from '../../../src/core/pipeline.js';
import type { PolicyStep } from '../../../src/core/policy/policy-step.js';
import type { KeyRiskState } from '../../../src/core/risk/key-risk.js';
import { compileRouteTable } from '../../../src/core/routes/route-table.js';
import {
  authorizeWsMessage,
  FATAL_REASONS,
  type WsAuthorizeDeps,
  type WsGrant,
} from '../../../src/core/ws/authorize-message.js';
import { mapWsRequest, type WsRequest } from '../../../src/core/ws/ws-actions.js';
import { SANDBOX_ROUTES } from '../../../src/sandbox/routes.js';
import { apiKey, hmacKey, mapLookup, NOW_MS } from '../pipeline-fixtures.js';

const PLACE: WsRequest = {
  id: 1,
  method: 'order.place',
  params: { symbol: 'BTCUSDT', side: 'buy', type: 'limit', quantity: '1', price: '2' },
};
const CANCEL: WsRequest = { id: 2, method: 'order.cancel', params: { orderId: 'ord_7' } };
const SUBSCRIBE: WsRequest = { id: 3, method: 'subscribe', params: { streams: ['orders'] } };

function checksOf(request: WsRequest) {
  const mapping = mapWsRequest(request);
  if (!mapping.ok) throw new Error(mapping.reason);
  return mapping.checks;
}

function deps(key: ApiKey, extra: Partial<WsAuthorizeDeps> = {}): WsAuthorizeDeps {
  return {
    environment: 'sandbox',
    keys: mapLookup([hmacKey(key)]),
    routes: compileRouteTable(SANDBOX_ROUTES),
    ...extra,
  };
}

const grant = (key: ApiKey, overrides: Partial<WsGrant> = {}): WsGrant => ({
  keyId: key.id,
  scopes: null,
  clientIp: '192.0.2.1',
  ...overrides,
});

async function reasonOf(d: WsAuthorizeDeps, g: WsGrant, request: WsRequest): Promise<string> {
  const verdict = await authorizeWsMessage(d, g, checksOf(request), NOW_MS);
  return verdict.outcome === 'allow' ? 'allow' : verdict.reason;
}

const riskOf = (state: Partial<KeyRiskState>): RiskLookup => ({
  stateOf: () => ({
    level: 'elevated',
    disabled: false,
    withdraw: 'allowed',
    trade: 'full',
    throttleFactor: 1,
    ...state,
  }),
  prefixBanned: () => false,
  cancelActions: ['order.cancel'],
});

describe('the permission matrix', () => {
  const base = apiKey();
  it.each([
    ['an active read,trade key places an order', base, {}, {}, PLACE, 'allow'],
    ['a revoked key', apiKey({ status: 'revoked' }), {}, {}, PLACE, 'KEY_REVOKED'],
    ['an expired key', apiKey({ expiresAt: NOW_MS - 1 }), {}, {}, PLACE, 'KEY_EXPIRED'],
    ['a production key', apiKey({ environment: 'production' }), {}, {}, PLACE, 'ENV_MISMATCH'],
    [
      'an address outside the allowlist',
      apiKey({ ipAllowlist: ['203.0.113.0/24'] }),
      {},
      {},
      PLACE,
      'IP_NOT_ALLOWED',
    ],
    [
      'a read-only key places an order',
      apiKey({ scopes: ['read'] }),
      {},
      {},
      PLACE,
      'SCOPE_MISSING',
    ],
    ['a read-only key subscribes', apiKey({ scopes: ['read'] }), {}, {}, SUBSCRIBE, 'allow'],
    [
      'a trade-only key subscribes',
      apiKey({ scopes: ['trade'] }),
      {},
      {},
      SUBSCRIBE,
      'SCOPE_MISSING',
    ],
    [
      'a token narrowed to read places an order',
      base,
      { scopes: ['read'] },
      {},
      PLACE,
      'SCOPE_MISSING',
    ],
    [
      'a token wider than the key (key now read-only)',
      apiKey({ scopes: ['read'] }),
      { scopes: ['read', 'trade'] },
      {},
      PLACE,
      'SCOPE_MISSING',
    ],
    ['a disabled key', base, {}, { risk: riskOf({ disabled: true }) }, SUBSCRIBE, 'KEY_DISABLED'],
    [
      'a cancel-only key places',
      base,
      {},
      { risk: riskOf({ trade: 'cancel_only' }) },
      PLACE,
      'KEY_STEPPED_DOWN',
    ],
    [
      'a cancel-only key cancels',
      base,
      {},
      { risk: riskOf({ trade: 'cancel_only' }) },
      CANCEL,
      'allow',
    ],
  ] as const)('%s → %s', async (_what, key, g, extra, request, expected) => {
    expect(await reasonOf(deps(key, extra), grant(key, g), request)).toBe(expected);
  });

  it('the same answer when the key is a cache miss (async lookup)', async () => {
    const key = apiKey({ status: 'revoked' });
    const d = { ...deps(key), keys: mapLookup([hmacKey(key)], true) };
    expect(await reasonOf(d, grant(key), PLACE)).toBe('KEY_REVOKED');
  });

  it('an unknown key is KEY_UNKNOWN', async () => {
    const key = apiKey();
    const d = { ...deps(key), keys: mapLookup([]) };
    expect(await reasonOf(d, grant(key), PLACE)).toBe('KEY_UNKNOWN');
  });

  it('fatal reasons are exactly the ones that end a session', () => {
    expect([...FATAL_REASONS].sort()).toEqual(
      [
        'ENV_MISMATCH',
        'IP_NOT_ALLOWED',
        'KEY_DISABLED',
        'KEY_EXPIRED',
        'KEY_REVOKED',
        'KEY_UNKNOWN',
      ].sort(),
    );
  });
});

describe('policies', () => {
  const key = apiKey();
  const seen: { body: string; action: string }[] = [];
  const policy = (outcome: 'deny' | 'approval'): PolicyStep => ({
    check(input) {
      seen.push({ body: input.body.toString(), action: input.route.action });
      return outcome === 'deny'
        ? { outcome: 'deny', reason: 'POLICY_DENIED' }
        : {
            outcome: 'allow',
            params: {},
            decimals: {},
            shadow: [],
            approval: { policyId: 'pol_1', version: 1, quorum: 2 },
          };
    },
  });

  it('a forbid rule refuses the order with POLICY_DENIED, seeing the order as the body', async () => {
    expect(await reasonOf(deps(key, { policies: policy('deny') }), grant(key), PLACE)).toBe(
      'POLICY_DENIED',
    );
    expect(seen.at(-1)).toEqual({ body: JSON.stringify(PLACE.params), action: 'order.place' });
  });

  it('a require-approval rule refuses the message with APPROVAL_REQUIRED (no hold over a socket)', async () => {
    expect(await reasonOf(deps(key, { policies: policy('approval') }), grant(key), PLACE)).toBe(
      'APPROVAL_REQUIRED',
    );
  });
});

describe('spend allowances', () => {
  it('an order of a key with a notional allowance is allowed with its spend to hold', async () => {
    const key = apiKey({ allowanceKinds: ['notional'] });
    const verdict = await authorizeWsMessage(deps(key), grant(key), checksOf(PLACE), NOW_MS);
    expect(verdict.outcome).toBe('allow');
    const spends = verdict.outcome === 'allow' ? (verdict.spends ?? []) : [];
    expect(spends.map((s) => s.route.route.action)).toEqual(['order.place']);
    // A cancel spends nothing.
    const cancel = await authorizeWsMessage(deps(key), grant(key), checksOf(CANCEL), NOW_MS);
    expect(cancel.outcome === 'allow' ? cancel.spends : 'denied').toBeUndefined();
  });

  it('a withdrawal allowance leaves socket orders alone: nothing to hold', async () => {
    const key = apiKey({ allowanceKinds: ['withdrawal'] });
    const verdict = await authorizeWsMessage(deps(key), grant(key), checksOf(PLACE), NOW_MS);
    expect(verdict.outcome === 'allow' ? verdict.spends : 'denied').toBeUndefined();
  });
});

describe('rate limits', () => {
  it('messages are charged like REST requests: the order limit refuses with RATE_LIMITED', async () => {
    const key = apiKey();
    const limits = {
      rules: createRequestLimits({
        perKey: [{ windowMs: 60_000, limit: 1000 }],
        perAccount: [],
        perIp: [],
        orders: [{ windowMs: 10_000, limit: 3 }],
        authFailures: [],
        accountOverrides: {},
      }),
      limiter: createMemoryRateLimiter(),
      bans: createMemoryBanStore({
        policy: {
          refusalThreshold: 1000,
          refusalWindowMs: 60_000,
          firstBanMs: 60_000,
          maxBanMs: 60_000,
          offenceMemoryMs: 60_000,
        },
      }),
      failureBlocks: createFailureBlocks(),
    };
    const d = deps(key, { limits });
    const answers = [];
    for (let i = 0; i < 5; i++) {
      const verdict = await authorizeWsMessage(d, grant(key), checksOf(PLACE), NOW_MS + i);
      answers.push(verdict.outcome === 'allow' ? 'allow' : verdict.reason);
    }
    expect(answers).toEqual(['allow', 'allow', 'allow', 'RATE_LIMITED', 'RATE_LIMITED']);
    // Reads are not orders: still admitted.
    expect(await reasonOf(d, grant(key), SUBSCRIBE)).toBe('allow');
  });
});

describe('message mapping', () => {
  it.each([
    [{ id: 1, method: 'order.cancel', params: { orderId: '../../admin' } }, 'BAD_REQUEST'],
    [{ id: 1, method: 'subscribe', params: { streams: [] } }, 'BAD_REQUEST'],
    [{ id: 1, method: 'subscribe', params: { streams: ['trades'] } }, 'BAD_REQUEST'],
    [{ id: 1, method: 'withdraw', params: {} }, 'ROUTE_UNKNOWN'],
  ] as const)('%j → %s', (request, reason) => {
    expect(mapWsRequest(request)).toEqual({ ok: false, reason });
  });

  it('a subscription to two streams is two reads (orders and balances)', () => {
    const checks = checksOf({
      id: 1,
      method: 'subscribe',
      params: { streams: ['orders', 'balances'] },
    });
    expect(checks.map((c) => `${c.method} ${c.path}`)).toEqual([
      'GET /api/v1/orders',
      'GET /api/v1/balances',
    ]);
  });
});
