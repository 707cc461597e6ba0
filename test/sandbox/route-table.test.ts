import { beforeAll, describe, expect, it } from 'vitest';
import { buildSandboxExchange } from '../../src/sandbox/build-sandbox-exchange.js';
import { SANDBOX_ROUTES, dialectOfPath, type SandboxAction } from '../../src/sandbox/routes.js';

const SCOPE_OF_ACTION: Record<SandboxAction, string | null> = {
  'account.read': 'read',
  'balance.read': 'read',
  'order.list': 'read',
  'order.place': 'trade',
  'order.cancel': 'trade',
  'withdrawal.create': 'withdraw',
  'time.read': null,
  'health.read': null,
};

describe('sandbox route table', () => {
  const app = buildSandboxExchange();
  // Dialect plugins register their routes when the app boots.
  beforeAll(() => app.ready());

  it.each(SANDBOX_ROUTES)('registers $method $path', (route) => {
    expect(app.hasRoute({ method: route.method, url: route.path })).toBe(true);
  });

  it.each(SANDBOX_ROUTES)('gives $action on $path the scope of its action', (route) => {
    expect(route.scope).toBe(SCOPE_OF_ACTION[route.action]);
  });

  it.each(SANDBOX_ROUTES)('places $path in the $dialect dialect by its prefix', (route) => {
    expect(dialectOfPath(route.path)).toBe(route.dialect);
  });

  it('lists each method and path once', () => {
    const keys = SANDBOX_ROUTES.map((route) => `${route.method} ${route.path}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('gives the same action the same weight in every dialect', () => {
    const weights = new Map<SandboxAction, Set<number>>();
    for (const route of SANDBOX_ROUTES) {
      weights.set(route.action, (weights.get(route.action) ?? new Set()).add(route.weight));
    }
    for (const [action, set] of weights) expect([action, set.size]).toEqual([action, 1]);
  });

  it('uses Binance-like weights for account, order and open orders', () => {
    const weightOf = (path: string, method = 'GET') =>
      SANDBOX_ROUTES.find((route) => route.path === path && route.method === method)?.weight;
    expect(weightOf('/api/v3/account')).toBe(20);
    expect(weightOf('/api/v3/order', 'POST')).toBe(1);
    expect(weightOf('/api/v3/openOrders')).toBe(6);
  });
});
