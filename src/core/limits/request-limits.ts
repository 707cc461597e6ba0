/**
 * Which limits a data-plane request is charged against, and how its answer headers look in
 * each dialect. Pure: the pipeline builds the check set here and hands it to the RateLimiter
 * port, which applies it atomically.
 *
 * Subjects (docs/rate-limits.md): `key:<keyId>`, `acct:<accountId>` (rotating or adding keys
 * does not reset the budget), `ip:<ipBucket>` (IPv4, IPv6 /64), `ord:<accountId>` for order
 * counts, `fail:<ipBucket>` for failed verifications.
 */
import type { Dialect } from '../signing/types.js';
import { binanceHeaders, binanceInterval, bybitHeaders, rateLimitHeaders } from './headers.js';
import { vetChecks } from './decide-limits.js';
import type { LimitCheck, LimitResult, LimitRule } from './types.js';

/** One configured window: at most `limit` in any `windowMs`. */
export interface WindowLimit {
  readonly windowMs: number;
  readonly limit: number;
}

/** The rule lists of one subject kind, as configured for an environment. */
export interface LimitLists {
  readonly perKey: readonly WindowLimit[];
  readonly perAccount: readonly WindowLimit[];
  readonly perIp: readonly WindowLimit[];
  /** Orders per account, counted on `orderActions` only (one per order, whatever its weight). */
  readonly orders: readonly WindowLimit[];
  /** Failed verifications per IP prefix. */
  readonly authFailures: readonly WindowLimit[];
}

/** Per-account replacements of the account, key and order lists (market makers get more). */
export type AccountOverride = Partial<Pick<LimitLists, 'perKey' | 'perAccount' | 'orders'>>;

export interface RequestLimitsSpec extends LimitLists {
  readonly accountOverrides: Readonly<Record<string, AccountOverride>>;
  /** Route actions that count as orders; default `order.place`. */
  readonly orderActions?: readonly string[];
}

/**
 * Factors in (0, 1] applied to the per-key and per-IP limits of a throttled subject. The
 * throttled rules keep their names and bucket keys: the same admissions are counted against a
 * smaller limit, so the budget shrinks at once and recovers as soon as the response ends.
 */
export interface LimitThrottle {
  readonly key: number;
  readonly ip: number;
}

/** The throttled limit: never below 1, so a throttled client is slowed, not locked out. */
export function throttledLimit(limit: number, factor: number): number {
  return factor >= 1 ? limit : Math.max(1, Math.floor(limit * factor));
}

/** Rules compiled once per account (or the defaults). */
interface AccountRules {
  readonly perKey: readonly LimitRule[];
  readonly perAccount: readonly LimitRule[];
  readonly orders: readonly LimitRule[];
}

export interface RequestLimits {
  /**
   * The checks of an authorized request; `order` when its action is an order action. The array
   * is frozen and may be shared with earlier calls (it is cached per key). `throttle` scales the
   * key's (and the IP prefix's) limits while a risk response is in force (docs/observability.md).
   */
  checksFor(
    keyId: string,
    accountId: string,
    ipPrefix: string,
    weight: number,
    action: string,
    throttle?: LimitThrottle,
  ): readonly LimitCheck[];
  /** The single-unit checks that charge one failed verification to an IP prefix (cached). */
  failureChecks(ipPrefix: string): readonly LimitCheck[];
  /** Answer headers for a result in the dialect's own wire format. */
  headersFor(dialect: Dialect, result: LimitResult, nowMs: number): Record<string, string>;
}

/** `key-1m`, `orders-10s`: the kind and Binance's interval label of the window, lower case. */
export function ruleName(kind: string, windowMs: number): string {
  const interval = binanceInterval(windowMs);
  return `${kind}-${interval === undefined ? `${windowMs}ms` : interval.toLowerCase()}`;
}

function compile(kind: string, list: readonly WindowLimit[]): readonly LimitRule[] {
  return Object.freeze(
    list.map((w) =>
      Object.freeze({ name: ruleName(kind, w.windowMs), windowMs: w.windowMs, limit: w.limit }),
    ),
  );
}

/** Compiles the configuration once; every request afterwards reuses the same rule objects. */
export function createRequestLimits(spec: RequestLimitsSpec): RequestLimits {
  const defaults: AccountRules = {
    perKey: compile('key', spec.perKey),
    perAccount: compile('acct', spec.perAccount),
    orders: compile('orders', spec.orders),
  };
  const perIp = compile('ip', spec.perIp);
  const authFailures = compile('auth-fail', spec.authFailures);
  const overrides = new Map<string, AccountRules>();
  for (const [accountId, o] of Object.entries(spec.accountOverrides)) {
    overrides.set(accountId, {
      perKey: o.perKey ? compile('key', o.perKey) : defaults.perKey,
      perAccount: o.perAccount ? compile('acct', o.perAccount) : defaults.perAccount,
      orders: o.orders ? compile('orders', o.orders) : defaults.orders,
    });
  }
  const orderActions = new Set(spec.orderActions ?? ['order.place']);
  const binanceRules = {
    // Binance's X-MBX-USED-WEIGHT is the IP's weight; the key's stands in when no IP rule exists.
    usedWeight: (perIp.length > 0 ? perIp : defaults.perKey).map((r) => r.name),
    orderCount: defaults.orders.map((r) => r.name),
  };
  // Bybit reports one rule per answer: the tightest per-key (else per-account) rule.
  const bybitRule = (defaults.perKey[0] ?? defaults.perAccount[0] ?? perIp[0])?.name;

  // Per-request work is a few Map lookups: the prefixed bucket keys are built once per subject
  // (a fresh `key:${id}` string would be flattened and hashed again by every Map lookup in the
  // limiter), and each key remembers its last check set, which a client calling the same route
  // from the same address reuses as is. Bounded: a cache that reaches MAX_CACHED is cleared.
  const keyBuckets = new Map<string, string>();
  const accountBuckets = new Map<string, AccountBuckets>();
  const ipBuckets = new Map<string, string>();
  const failures = new Map<string, readonly LimitCheck[]>();
  const lastSets = new Map<string, CheckSet>();

  function build(
    keyId: string,
    accountId: string,
    ipPrefix: string,
    weight: number,
    order: boolean,
    throttle: LimitThrottle,
  ): readonly LimitCheck[] {
    const rules = overrides.get(accountId) ?? defaults;
    const account = cached(accountBuckets, accountId, () => ({
      acct: `acct:${accountId}`,
      ord: `ord:${accountId}`,
    }));
    const checks: LimitCheck[] = [];
    if (weight > 0) {
      push(
        checks,
        cached(keyBuckets, keyId, () => `key:${keyId}`),
        scaled(rules.perKey, throttle.key),
        weight,
      );
      push(checks, account.acct, rules.perAccount, weight);
      push(
        checks,
        cached(ipBuckets, ipPrefix, () => `ip:${ipPrefix}`),
        scaled(perIp, throttle.ip),
        weight,
      );
    }
    if (order) push(checks, account.ord, rules.orders, 1);
    return vetChecks(Object.freeze(checks));
  }

  return {
    checksFor(keyId, accountId, ipPrefix, weight, action, throttle = UNTHROTTLED) {
      const order = orderActions.has(action);
      const last = lastSets.get(keyId);
      if (
        last !== undefined &&
        last.accountId === accountId &&
        last.ipPrefix === ipPrefix &&
        last.weight === weight &&
        last.order === order &&
        last.throttle.key === throttle.key &&
        last.throttle.ip === throttle.ip
      ) {
        return last.checks;
      }
      const checks = build(keyId, accountId, ipPrefix, weight, order, throttle);
      if (lastSets.size >= MAX_CACHED && last === undefined) lastSets.clear();
      lastSets.set(keyId, { accountId, ipPrefix, weight, order, throttle, checks });
      return checks;
    },
    failureChecks(ipPrefix) {
      return cached(failures, ipPrefix, () => {
        const checks: LimitCheck[] = [];
        push(checks, `fail:${ipPrefix}`, authFailures, 1);
        return vetChecks(Object.freeze(checks));
      });
    },
    headersFor(dialect, result, nowMs) {
      switch (dialect) {
        case 'binance':
          return binanceHeaders(result, binanceRules);
        case 'bybit': {
          const headers = bybitRule === undefined ? {} : bybitHeaders(result, bybitRule, nowMs);
          return result.allowed ? headers : { ...headers, ...retryAfter(result) };
        }
        case 'native':
        case 'okx':
          return rateLimitHeaders(result);
      }
    },
  };
}

const UNTHROTTLED: LimitThrottle = Object.freeze({ key: 1, ip: 1 });

/** The rules with their limits scaled; the same frozen list when the factor is 1. */
function scaled(rules: readonly LimitRule[], factor: number): readonly LimitRule[] {
  if (factor >= 1) return rules;
  return rules.map((r) =>
    Object.freeze({ name: r.name, windowMs: r.windowMs, limit: throttledLimit(r.limit, factor) }),
  );
}

/** Entries per cache before it is cleared (a clear only costs rebuilding what is in use). */
const MAX_CACHED = 100_000;

interface AccountBuckets {
  readonly acct: string;
  readonly ord: string;
}

/** The check set a key used last, with what it was built from. */
interface CheckSet {
  readonly accountId: string;
  readonly ipPrefix: string;
  readonly weight: number;
  readonly order: boolean;
  readonly throttle: LimitThrottle;
  readonly checks: readonly LimitCheck[];
}

function cached<V>(cache: Map<string, V>, key: string, make: () => V): V {
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  if (cache.size >= MAX_CACHED) cache.clear();
  const value = make();
  cache.set(key, value);
  return value;
}

/**
 * One frozen check object per (rule, bucket, cost), shared by every check set that charges it:
 * the account's, the IP's and the order checks are the same objects in all the keys' sets, so
 * the limiter finds them in cache instead of reading a cold copy per key and request. Keyed by
 * the rule object (a throttled rule is a new object and is collected with its sets).
 */
const interned = new WeakMap<LimitRule, Map<string, LimitCheck>>();

function internCheck(bucketKey: string, rule: LimitRule, cost: number): LimitCheck {
  let byBucket = interned.get(rule);
  if (byBucket === undefined) interned.set(rule, (byBucket = new Map<string, LimitCheck>()));
  const id = `${cost} ${bucketKey}`;
  const hit = byBucket.get(id);
  if (hit !== undefined) return hit;
  if (byBucket.size >= MAX_CACHED) byBucket.clear();
  const check: LimitCheck = Object.freeze({ bucketKey, rule, cost });
  byBucket.set(id, check);
  return check;
}

function push(checks: LimitCheck[], bucketKey: string, rules: readonly LimitRule[], cost: number) {
  for (const rule of rules) checks.push(internCheck(bucketKey, rule, cost));
}

function retryAfter(result: LimitResult): Record<string, string> {
  return { 'Retry-After': String(Math.max(1, Math.ceil(result.retryAfterMs / 1000))) };
}
