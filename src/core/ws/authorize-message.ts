/**
 * Per-message authorization of a WebSocket session (docs/websocket.md §3): the same rules as the
 * REST pipeline after verification — key state, environment, IP allowlist, scope, anomaly
 * responses, policies, rate limits — applied to every message, from the key cache (a Map hit).
 * Pure apart from the limiter take; the clock comes in with the message.
 */
import type { ApiKey, Environment, Scope } from '../keys/model.js';
import { keyState } from '../keys/model.js';
import { ipBucket } from '../limits/ip-bucket.js';
import { guardPrefix, refuseRateLimited, type PipelineLimits } from '../limits/limit-step.js';
import type { LimitResult } from '../limits/types.js';
import type { CachedKey, KeyLookup, RiskLookup } from '../pipeline.js';
import type { PolicyStep, PolicyStepResult } from '../policy/policy-step.js';
import type { ReasonCode } from '../reasons.js';
import { riskAllows } from '../risk/key-risk.js';
import type { RouteMatch, RouteTable } from '../routes/route-table.js';
import type { WsActionCheck } from './ws-actions.js';

/** What a session was granted at login or by its token. */
export interface WsGrant {
  readonly keyId: string;
  /** A token's narrowed scopes; null when the session may use whatever the key has now. */
  readonly scopes: readonly Scope[] | null;
  readonly clientIp: string;
  /** The access token's `jti` when the session opened with one: revoking it ends the session. */
  readonly tokenId?: string;
}

export interface WsAuthorizeDeps {
  readonly environment: Environment;
  readonly keys: KeyLookup;
  readonly routes: RouteTable;
  readonly policies?: PolicyStep;
  readonly risk?: RiskLookup;
  readonly limits?: PipelineLimits;
}

/** Why a session must end: the key itself is no longer good for this connection. */
export const FATAL_REASONS: ReadonlySet<ReasonCode> = new Set<ReasonCode>([
  'KEY_UNKNOWN',
  'KEY_REVOKED',
  'KEY_EXPIRED',
  'ENV_MISMATCH',
  'IP_NOT_ALLOWED',
  'KEY_DISABLED',
]);

export type WsKeyCheck =
  | { readonly ok: true; readonly key: ApiKey; readonly scopes: readonly Scope[] }
  | { readonly ok: false; readonly reason: ReasonCode };

/**
 * An order of a key with a notional spend allowance: the session holds its notional before
 * forwarding and settles the hold with the upstream's answer to the message (docs/policies.md
 * §4.1), as the REST data plane does with the HTTP answer.
 */
export interface WsSpend {
  readonly route: RouteMatch;
  /** The policy step's extraction (symbol, quantity, price), which the hold counts. */
  readonly policy: Extract<PolicyStepResult, { outcome: 'allow' }> | undefined;
}

export type WsVerdict =
  | {
      readonly outcome: 'allow';
      readonly key: ApiKey;
      readonly routes: readonly RouteMatch[];
      readonly limits?: LimitResult;
      /** Spends to hold before forwarding (orders of a key with a notional allowance). */
      readonly spends?: readonly WsSpend[];
    }
  | { readonly outcome: 'deny'; readonly reason: ReasonCode; readonly retryAfterMs?: number };

/**
 * Whether the session's key is still good at `nowMs`, and the scopes it may use now (the token's
 * grant intersected with the key's current scopes). Sync on a cache hit.
 */
export function checkSessionKey(
  deps: WsAuthorizeDeps,
  grant: WsGrant,
  nowMs: number,
): WsKeyCheck | Promise<WsKeyCheck> {
  const found = deps.keys.get(grant.keyId);
  if (found instanceof Promise)
    return found.then(
      (cached) => judgeKey(deps, grant, cached, nowMs),
      (): WsKeyCheck => ({ ok: false, reason: 'KEY_UNKNOWN' }),
    );
  return judgeKey(deps, grant, found, nowMs);
}

function judgeKey(
  deps: WsAuthorizeDeps,
  grant: WsGrant,
  cached: CachedKey | undefined,
  nowMs: number,
): WsKeyCheck {
  if (cached === undefined) return { ok: false, reason: 'KEY_UNKNOWN' };
  const { key } = cached;
  const state = keyState(key, nowMs);
  if (state === 'revoked') return { ok: false, reason: 'KEY_REVOKED' };
  if (state === 'expired') return { ok: false, reason: 'KEY_EXPIRED' };
  if (key.environment !== deps.environment) return { ok: false, reason: 'ENV_MISMATCH' };
  if (!cached.allowlist(grant.clientIp)) return { ok: false, reason: 'IP_NOT_ALLOWED' };
  if (deps.risk?.stateOf(key.id, nowMs)?.disabled === true)
    return { ok: false, reason: 'KEY_DISABLED' };
  const scopes =
    grant.scopes === null ? key.scopes : key.scopes.filter((s) => grant.scopes?.includes(s));
  return { ok: true, key, scopes };
}

/**
 * Authorizes one message, already mapped to its REST-equivalent checks, for the session's key:
 * every check must pass; then one rate-limit take per check, as REST would charge.
 */
export function authorizeWsMessage(
  deps: WsAuthorizeDeps,
  grant: WsGrant,
  checks: readonly WsActionCheck[],
  nowMs: number,
): WsVerdict | Promise<WsVerdict> {
  const keyCheck = checkSessionKey(deps, grant, nowMs);
  if (keyCheck instanceof Promise)
    return keyCheck.then((k) => authorizeChecks(deps, grant, checks, k, nowMs));
  return authorizeChecks(deps, grant, checks, keyCheck, nowMs);
}

function authorizeChecks(
  deps: WsAuthorizeDeps,
  grant: WsGrant,
  checks: readonly WsActionCheck[],
  keyCheck: WsKeyCheck,
  nowMs: number,
): WsVerdict | Promise<WsVerdict> {
  if (!keyCheck.ok) return { outcome: 'deny', reason: keyCheck.reason };
  const { key, scopes } = keyCheck;
  const routes: RouteMatch[] = [];
  const spends: WsSpend[] = [];
  for (const check of checks) {
    const route = deps.routes.match(check.method, check.path);
    if (route === undefined) return { outcome: 'deny', reason: 'ROUTE_UNKNOWN' };
    const scope = route.route.scope;
    if (scope !== null && !scopes.includes(scope))
      return { outcome: 'deny', reason: 'SCOPE_MISSING' };
    const risk = deps.risk?.stateOf(key.id, nowMs);
    if (risk !== undefined && deps.risk !== undefined) {
      if (!riskAllows(risk, scope, route.route.action, deps.risk.cancelActions))
        return { outcome: 'deny', reason: 'KEY_STEPPED_DOWN' };
    }
    const policy = deps.policies?.check({
      key,
      route: route.route,
      pathParams: route.params,
      method: check.method,
      path: check.path,
      clientIp: grant.clientIp,
      nowMs,
      query: null,
      // Evaluated only when a policy step exists (optional call short-circuits its arguments).
      body: check.body(),
    });
    if (policy?.outcome === 'deny') return { outcome: 'deny', reason: policy.reason };
    // Holding a message for approval has no answer a socket client could poll: refuse it.
    if (policy?.outcome === 'allow' && policy.approval !== undefined)
      return { outcome: 'deny', reason: 'APPROVAL_REQUIRED' };
    // An order of a key with a notional spend allowance is held by the session before it is
    // forwarded, and settled with the upstream's answer to it.
    if (key.allowanceKinds?.includes('notional') === true && route.route.action === 'order.place')
      spends.push({ route, policy: policy?.outcome === 'allow' ? policy : undefined });
    routes.push(route);
  }
  const verdict =
    deps.limits === undefined || routes.length === 0
      ? ({ outcome: 'allow', key, routes } as const)
      : charge(deps.limits, grant, key, routes, nowMs);
  if (spends.length === 0) return verdict;
  const withSpends = (v: WsVerdict): WsVerdict => (v.outcome === 'allow' ? { ...v, spends } : v);
  return verdict instanceof Promise ? verdict.then(withSpends) : withSpends(verdict);
}

function charge(
  limits: PipelineLimits,
  grant: WsGrant,
  key: ApiKey,
  routes: readonly RouteMatch[],
  nowMs: number,
): WsVerdict | Promise<WsVerdict> {
  const prefix = ipBucket(grant.clientIp) ?? grant.clientIp;
  const first = routes[0];
  const banned = guardPrefix(limits, prefix, nowMs, 'native', first);
  if (banned !== undefined)
    return { outcome: 'deny', reason: banned.reason, retryAfterMs: banned.retryAfterMs ?? 1000 };
  const checksOf = (r: RouteMatch) =>
    limits.rules.checksFor(key.id, key.accountId, prefix, r.route.weight, r.route.action);
  // One route (an order, a cancel) is the common case: its cached check list as it is.
  const checks =
    routes.length === 1 && first !== undefined ? checksOf(first) : routes.flatMap(checksOf);
  if (checks.length === 0) return { outcome: 'allow', key, routes };
  const settle = (result: LimitResult): WsVerdict => {
    if (result.allowed) return { outcome: 'allow', key, routes, limits: result };
    if (result.unavailable)
      return {
        outcome: 'deny',
        reason: 'RATE_LIMIT_UNAVAILABLE',
        retryAfterMs: result.retryAfterMs,
      };
    const refused = refuseRateLimited(
      limits,
      prefix,
      nowMs,
      'native',
      { keyId: key.id },
      result.retryAfterMs,
      result,
    );
    return { outcome: 'deny', reason: refused.reason, retryAfterMs: refused.retryAfterMs ?? 1000 };
  };
  const taken = limits.limiter.take(checks, nowMs);
  return taken instanceof Promise
    ? taken.then(settle, (): WsVerdict => ({
        outcome: 'deny',
        reason: 'RATE_LIMIT_UNAVAILABLE',
        retryAfterMs: 1000,
      }))
    : settle(taken);
}
