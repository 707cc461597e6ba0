import type { Scope } from '../keys/model.js';
import type { Dialect } from '../signing/types.js';

/** One route of the configuration: method + path pattern → action, scope and weight. */
export interface RouteSpec {
  readonly method: string;
  /** Literal segments and `:name` parameters, e.g. `/api/v1/orders/:id`. */
  readonly path: string;
  readonly action: string;
  /** The scope a key needs; null for public routes (server time, health). */
  readonly scope: Scope | null;
  /** Rate-limit weight. */
  readonly weight: number;
  /** The dialect whose wire format answers unauthenticated denials on this route. */
  readonly dialect: Dialect;
  /**
   * Parameters policies and withdrawal rules see, each a CEL expression over `query`,
   * `pathParams` and `body` (docs/policies.md §2.1), e.g. `{ symbol: 'body.symbol' }`.
   */
  readonly params?: Readonly<Record<string, string>>;
}

export interface RouteMatch {
  readonly route: RouteSpec;
  readonly params: Readonly<Record<string, string>>;
}

export interface RouteTable {
  match(method: string, path: string): RouteMatch | undefined;
  readonly routes: readonly RouteSpec[];
}

const NO_PARAMS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * Compiles a route table: literal routes are one Map lookup; parameterised routes are matched
 * segment by segment. Paths are compared exactly as received (no decoding, no normalising of
 * `//`, `.` or case), so what is matched is what is forwarded.
 */
export function compileRouteTable(routes: readonly RouteSpec[]): RouteTable {
  const literal = new Map<string, RouteMatch>();
  const patterns: { method: string; segments: string[]; route: RouteSpec }[] = [];
  for (const route of routes) {
    if (route.path.includes('/:')) {
      patterns.push({ method: route.method, segments: route.path.split('/'), route });
    } else {
      literal.set(`${route.method} ${route.path}`, { route, params: NO_PARAMS });
    }
  }
  return {
    routes,
    match(method, path) {
      const exact = literal.get(`${method} ${path}`);
      if (exact) return exact;
      if (patterns.length === 0) return undefined;
      const segments = path.split('/');
      for (const pattern of patterns) {
        if (pattern.method !== method || pattern.segments.length !== segments.length) continue;
        const params: Record<string, string> = {};
        let ok = true;
        for (let i = 0; i < segments.length; i++) {
          const expected = pattern.segments[i] as string;
          const actual = segments[i] as string;
          if (expected.startsWith(':')) {
            // `.` and `..` are dot segments (RFC 3986 §5.2.4): an upstream that removes them
            // would route `/orders/..` somewhere else than the route authorized here.
            if (actual === '.' || actual === '..' || !/^[A-Za-z0-9_.~-]+$/.test(actual)) {
              ok = false;
              break;
            }
            params[expected.slice(1)] = actual;
          } else if (expected !== actual) {
            ok = false;
            break;
          }
        }
        if (ok) return { route: pattern.route, params };
      }
      return undefined;
    },
  };
}
