/**
 * The route table: exact method + path matching (no decoding or normalising, so what is matched
 * is what is forwarded), `:name` parameters of one safe segment, public routes with a null scope.
 */
import { describe, expect, it } from 'vitest';
import { compileRouteTable, type RouteSpec } from '../../../src/core/routes/route-table.js';
import { SANDBOX_ROUTES } from '../../../src/sandbox/routes.js';

const route = (method: string, path: string, action: string, scope: RouteSpec['scope']) =>
  ({ method, path, action, scope, weight: 1, dialect: 'native' }) as const satisfies RouteSpec;

const table = compileRouteTable([
  route('GET', '/api/v1/time', 'time.read', null),
  route('GET', '/api/v1/orders', 'order.list', 'read'),
  route('POST', '/api/v1/orders', 'order.place', 'trade'),
  route('DELETE', '/api/v1/orders/:id', 'order.cancel', 'trade'),
  route('GET', '/api/v1/orders/:id/fills/:fillId', 'fill.read', 'read'),
]);

describe('compileRouteTable', () => {
  it.each([
    ['GET', '/api/v1/time', 'time.read'],
    ['GET', '/api/v1/orders', 'order.list'],
    ['POST', '/api/v1/orders', 'order.place'],
    ['DELETE', '/api/v1/orders/ord_123', 'order.cancel'],
    ['GET', '/api/v1/orders/o1/fills/f.2', 'fill.read'],
  ])('%s %s → %s', (method, path, action) => {
    expect(table.match(method, path)?.route.action).toBe(action);
  });

  it('extracts path parameters', () => {
    expect(table.match('GET', '/api/v1/orders/o-1/fills/f_2')?.params).toEqual({
      id: 'o-1',
      fillId: 'f_2',
    });
    expect(table.match('GET', '/api/v1/orders')?.params).toEqual({});
  });

  it.each([
    ['an unknown path', 'GET', '/api/v1/nowhere'],
    ['a known path with another method', 'PUT', '/api/v1/orders'],
    ['a lower-case method', 'get', '/api/v1/orders'],
    ['a trailing slash', 'GET', '/api/v1/orders/'],
    ['a doubled slash', 'GET', '/api//v1/orders'],
    ['a different case', 'GET', '/API/v1/orders'],
    ['a dot segment', 'GET', '/api/v1/./orders'],
    ['a percent-encoded path', 'GET', '/api/v1/%6frders'],
    ['an empty parameter', 'DELETE', '/api/v1/orders/'],
    ['a parameter with an encoded slash', 'DELETE', '/api/v1/orders/a%2Fb'],
    ['a parameter spanning two segments', 'DELETE', '/api/v1/orders/a/b'],
    ['a parameter that is a dot segment `..`', 'DELETE', '/api/v1/orders/..'],
    ['a parameter that is a dot segment `.`', 'DELETE', '/api/v1/orders/.'],
    ['a dot-segment parameter before a literal', 'GET', '/api/v1/orders/../fills/x'],
  ])('does not match %s', (_name, method, path) => {
    expect(table.match(method, path)).toBeUndefined();
  });

  it('a parameter may contain dots when it is not a dot segment', () => {
    expect(table.match('DELETE', '/api/v1/orders/...')?.params).toEqual({ id: '...' });
    expect(table.match('DELETE', '/api/v1/orders/a.b')?.params).toEqual({ id: 'a.b' });
  });

  it('public routes carry a null scope', () => {
    expect(table.match('GET', '/api/v1/time')?.route.scope).toBeNull();
  });
});

describe('the default sandbox route table', () => {
  const sandbox = compileRouteTable(SANDBOX_ROUTES);

  it.each([
    ['GET', '/api/v1/account', 'read'],
    ['GET', '/api/v1/balances', 'read'],
    ['GET', '/api/v1/orders', 'read'],
    ['POST', '/api/v1/orders', 'trade'],
    ['DELETE', '/api/v1/orders/42', 'trade'],
    ['POST', '/api/v1/withdrawals', 'withdraw'],
    ['GET', '/api/v1/time', null],
  ])('%s %s needs %s', (method, path, scope) => {
    expect(sandbox.match(method, path)?.route.scope).toBe(scope);
  });

  it('has one route per method and path', () => {
    const keys = SANDBOX_ROUTES.map((r) => `${r.method} ${r.path}`);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
