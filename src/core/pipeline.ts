import type { ApiKey, Environment } from './keys/model.js';
import { keyState } from './keys/model.js';
import { ipBucket } from './limits/ip-bucket.js';
import {
  chargeAllowed,
  chargeAllowedOnce,
  chargeFailure,
  chargeHeld,
  guardPrefix,
  type PipelineLimits,
} from './limits/limit-step.js';
import type { LimitThrottle } from './limits/request-limits.js';
import type { LimitResult, ReplayMark } from './limits/types.js';
import type { IpMatcher } from './net/compile-allowlist.js';
import type { PolicyStep, PolicyStepResult } from './policy/policy-step.js';
import type { ReasonCode } from './reasons.js';
import { riskAllows, type KeyRiskState } from './risk/key-risk.js';
import { replayKey, type ReplayGuard, type ReplayVerdict } from './replay/replay-guard.js';
import type { RouteMatch, RouteTable } from './routes/route-table.js';
import type {
  Credential,
  Dialect,
  SignedRequest,
  SigningScheme,
  VerifierKey,
  WindowRule,
} from './signing/types.js';
import { checkStrictJson, hasDuplicateQueryParams } from './strict-json.js';

/** A key as the data plane holds it in memory: the model plus ready-to-use verification state. */
export interface CachedKey {
  readonly key: ApiKey;
  /** Secrets (or the public key) that verify at `nowMs`: rotation grace is applied here. */
  verifierAt(nowMs: number): VerifierKey;
  readonly allowlist: IpMatcher;
  /** Checks an OKX-style passphrase; false when the key has none. */
  passphraseMatches(passphrase: string): boolean;
}

/** Finds a key: synchronously on a cache hit, asynchronously on a miss; undefined if unknown. */
export interface KeyLookup {
  get(keyId: string): CachedKey | undefined | Promise<CachedKey | undefined>;
}

export interface PipelineDeps {
  readonly environment: Environment;
  /** The enabled schemes, in detection order. */
  readonly schemes: readonly SigningScheme[];
  readonly routes: RouteTable;
  readonly window: WindowRule;
  readonly keys: KeyLookup;
  readonly replay: ReplayGuard;
  /** Verified against when the key is unknown, so that both paths do the same work. */
  readonly dummyKeys: { readonly hmac: VerifierKey; readonly ed25519: VerifierKey };
  /** Rate limits, failure budget and bans; absent means no limits (embedding, old tests). */
  readonly limits?: PipelineLimits;
  /** Policies and route parameters (docs/policies.md); absent means scopes alone decide. */
  readonly policies?: PolicyStep;
  /** Anomaly responses in force (docs/observability.md); absent means none are consulted. */
  readonly risk?: RiskLookup;
}

/** What the anomaly responses allow: a Map lookup that finds nothing for a normal key. */
export interface RiskLookup {
  /** The key's restrictions in force; undefined when it is at the `normal` level. */
  stateOf(keyId: string, nowMs: number): KeyRiskState | undefined;
  /** Whether the client's IP prefix is banned by a `ban_prefix` response. */
  prefixBanned(clientIp: string, nowMs: number): boolean;
  /**
   * The smallest `throttle` factor in force on the client's IP prefix (a prefix-wide signal),
   * 1 when none; optional for lookups that know no prefix throttles.
   */
  prefixThrottle?(clientIp: string, nowMs: number): number;
  /** Route actions a `cancel_only` key may still call. */
  readonly cancelActions: readonly string[];
}

/** The request as the pipeline sees it: exact bytes plus the derived client address and time. */
export interface PipelineRequest extends SignedRequest {
  readonly clientIp: string;
  readonly nowMs: number;
}

export type Decision =
  | {
      readonly outcome: 'allow';
      readonly dialect: Dialect;
      readonly route: RouteMatch;
      readonly key: ApiKey;
      readonly credential: Credential;
      /** 0 = the current secret; 1+ = an older secret inside its rotation grace. */
      readonly secretIndex: number;
      readonly forwardQuery: string | null;
      readonly forwardBody: Buffer;
      /** The charged limits, for RateLimit / dialect headers on the answer. */
      readonly limits?: LimitResult;
      /** Extracted parameters, shadow results and a required approval, when policies ran. */
      readonly policy?: Extract<PolicyStepResult, { outcome: 'allow' }>;
    }
  | { readonly outcome: 'public'; readonly route: RouteMatch }
  | {
      readonly outcome: 'deny';
      readonly reason: ReasonCode;
      readonly dialect: Dialect;
      readonly keyId?: string;
      readonly route?: RouteMatch;
      /** For RATE_LIMITED, IP_BANNED and RATE_LIMIT_UNAVAILABLE: sent as `Retry-After`. */
      readonly retryAfterMs?: number;
      /** The refused limit set, for RateLimit / dialect headers. */
      readonly limits?: LimitResult;
      /** For POLICY_DENIED: the policy (id and version) that decided, when one did. */
      readonly policy?: { readonly policyId: string; readonly version: number };
      /**
       * For APPROVAL_REQUIRED: the verified request a data plane with an approval service holds
       * (answering 202); a consumer that does not know about holds simply refuses it.
       */
      readonly held?: HeldRequest;
    };

/** A verified request a `require-approval` rule matched, with what executing it later needs. */
export interface HeldRequest {
  readonly key: ApiKey;
  readonly route: RouteMatch;
  readonly forwardQuery: string | null;
  readonly forwardBody: Buffer;
  readonly policy: Extract<PolicyStepResult, { outcome: 'allow' }>;
  readonly approval: {
    readonly policyId: string;
    readonly version: number;
    readonly quorum: number;
  };
}

type Deny = Extract<Decision, { outcome: 'deny' }>;

/**
 * The request pipeline, steps 1–6 of the architecture: identify the scheme, load the key,
 * verify (window, signature, key state, environment, replay), match the route, authorize
 * (IP allowlist, scope), rate-limit. A banned IP prefix, or one whose failure budget is spent,
 * is refused before any verification work. Answers synchronously when the key is cached and the
 * replay guard and limiter are in memory; a Promise otherwise. Never throws on client input.
 */
export function evaluateRequest(
  deps: PipelineDeps,
  request: PipelineRequest,
): Decision | Promise<Decision> {
  const limits = deps.limits;
  if (limits === undefined) return verifyAndAuthorize(deps, request, undefined, undefined);
  // The SAME derived address as the allowlists (socket peer or trusted proxy's X-Forwarded-For).
  const prefix = ipBucket(request.clientIp) ?? request.clientIp;
  // A limiter that can record the replay id with its charge (Redis) gets both in one round trip:
  // verification leaves the id here instead of asking the guard (see settleDeferred).
  const deferred: DeferredReplay | undefined =
    limits.limiter.takeOnce === undefined ? undefined : { mark: undefined };
  const decision = verifyAndAuthorize(deps, request, prefix, deferred);
  const settle = (d: Decision): Decision | Promise<Decision> => {
    const mark = deferred?.mark;
    if (mark !== undefined && deferred !== undefined) {
      deferred.mark = undefined; // `settle` runs again once the id is known to be fresh
      return settleDeferred(deps, limits, prefix, request, d, mark, settle);
    }
    if (d.outcome === 'allow')
      return chargeAllowed(limits, prefix, request.nowMs, d, throttleOf(deps, d.key.id, request));
    if (d.outcome === 'deny' && d.held !== undefined) {
      const held = d.held;
      return chargeHeld(
        limits,
        prefix,
        request.nowMs,
        { ...d, held },
        throttleOf(deps, held.key.id, request),
      );
    }
    if (d.outcome === 'deny' && d.retryAfterMs === undefined)
      return chargeFailure(limits, prefix, request.nowMs, d);
    return d;
  };
  return decision instanceof Promise ? decision.then(settle) : settle(decision);
}

/** Where verification leaves the replay id it did not check itself (one object per request). */
interface DeferredReplay {
  mark: ReplayMark | undefined;
}

/**
 * The end of a request whose replay check was deferred. An allowed request records its id and
 * takes its limits in one step (takeOnce); anything else reached after the signature verified
 * (a denial, a held request) asks the replay guard on its own first, so that a nonce is single
 * use whatever the answer, and a replay is answered NONCE_REPLAYED as on the separate path.
 * `next` finishes a decision the usual way once its id is known to be fresh.
 */
function settleDeferred(
  deps: PipelineDeps,
  limits: PipelineLimits,
  prefix: string,
  request: PipelineRequest,
  d: Decision,
  mark: ReplayMark,
  next: (d: Decision) => Decision | Promise<Decision>,
): Decision | Promise<Decision> {
  if (d.outcome === 'public') return next(d);
  const dialect = d.dialect;
  const keyId = d.outcome === 'allow' ? d.key.id : d.keyId;
  // The same answers as the separate path (afterReplay): a replay, or a guard that cannot say.
  const refused = (v: 'replayed' | 'unavailable'): Decision =>
    deny(v === 'replayed' ? 'NONCE_REPLAYED' : 'REPLAY_CHECK_UNAVAILABLE', dialect, d.route, keyId);
  const separately = (): Decision | Promise<Decision> => {
    const verdict = deps.replay.remember(mark.id, mark.ttlMs);
    const after = (v: ReplayVerdict): Decision | Promise<Decision> =>
      v === 'fresh' ? next(d) : refused(v);
    return verdict instanceof Promise
      ? verdict.then(after, () => refused('unavailable'))
      : after(verdict);
  };
  if (d.outcome !== 'allow') return separately();
  const once = chargeAllowedOnce(
    limits,
    prefix,
    request.nowMs,
    d,
    mark,
    throttleOf(deps, d.key.id, request),
  );
  const after = (o: Awaited<typeof once>): Decision | Promise<Decision> => {
    if (o === undefined) return separately();
    return o === 'replayed' || o === 'unavailable' ? refused(o) : o;
  };
  return once instanceof Promise ? once.then(after) : after(once);
}

/**
 * The `throttle` responses in force on the key and on the client's prefix; undefined (no
 * scaling) for the normal case, which costs a Map lookup that finds nothing.
 */
function throttleOf(
  deps: PipelineDeps,
  keyId: string,
  request: PipelineRequest,
): LimitThrottle | undefined {
  const risk = deps.risk;
  if (risk === undefined) return undefined;
  const key = risk.stateOf(keyId, request.nowMs)?.throttleFactor ?? 1;
  const ip = risk.prefixThrottle?.(request.clientIp, request.nowMs) ?? 1;
  return key >= 1 && ip >= 1 ? undefined : { key, ip };
}

function verifyAndAuthorize(
  deps: PipelineDeps,
  request: PipelineRequest,
  prefix: string | undefined,
  deferred: DeferredReplay | undefined,
): Decision | Promise<Decision> {
  const route = deps.routes.match(request.method, request.path);
  if (prefix !== undefined && deps.limits !== undefined) {
    const refused = guardPrefix(
      deps.limits,
      prefix,
      request.nowMs,
      route?.route.dialect ?? 'native',
      route,
    );
    if (refused) return refused;
  }
  if (deps.risk?.prefixBanned(request.clientIp, request.nowMs) === true)
    return deny('IP_BANNED', route?.route.dialect ?? 'native', route);
  let scheme: SigningScheme | undefined;
  for (const candidate of deps.schemes) {
    if (candidate.detect(request)) {
      scheme = candidate;
      break;
    }
  }
  if (route && route.route.scope === null) {
    return { outcome: 'public', route };
  }
  const routeDialect = route?.route.dialect ?? 'native';
  if (!scheme) return deny('CREDENTIALS_MISSING', routeDialect, route);

  const parsed = scheme.parse(request);
  if (!parsed.ok) return deny(parsed.reason, scheme.dialect, route);
  const credential = parsed.credential;
  if (!scheme.inWindow(credential, request.nowMs, deps.window)) {
    return deny('TIMESTAMP_OUTSIDE_WINDOW', scheme.dialect, route, credential.keyId);
  }
  // Signed requests must mean one thing to every parser downstream (reference §5.3 #2, #8).
  if (!shapeIsUnambiguous(request, credential))
    return deny('BAD_REQUEST', scheme.dialect, route, credential.keyId);

  const found = deps.keys.get(credential.keyId);
  const chosen = scheme;
  if (found instanceof Promise) {
    return found.then(
      (cached) => afterLookup(deps, request, chosen, credential, cached, route, deferred),
      () => deny('KEY_UNKNOWN', chosen.dialect, route, credential.keyId),
    );
  }
  return afterLookup(deps, request, scheme, credential, found, route, deferred);
}

function afterLookup(
  deps: PipelineDeps,
  request: PipelineRequest,
  scheme: SigningScheme,
  credential: Credential,
  cached: CachedKey | undefined,
  route: RouteMatch | undefined,
  deferred: DeferredReplay | undefined,
): Decision | Promise<Decision> {
  const dialect = scheme.dialect;
  const keyId = credential.keyId;
  if (!cached) {
    // Same work as a known key with a bad signature: no key-existence oracle (reference §5.3 #4).
    scheme.verify(
      credential,
      request,
      credential.alg === 'ed25519' ? deps.dummyKeys.ed25519 : deps.dummyKeys.hmac,
    );
    return deny('KEY_UNKNOWN', dialect, route, keyId);
  }
  const secretIndex = scheme.verify(credential, request, cached.verifierAt(request.nowMs));
  if (secretIndex < 0) return deny('SIGNATURE_INVALID', dialect, route, keyId);

  // Key state is told only to callers who proved they hold the key.
  const { key } = cached;
  const state = keyState(key, request.nowMs);
  if (state === 'revoked') return deny('KEY_REVOKED', dialect, route, keyId);
  if (state === 'expired') return deny('KEY_EXPIRED', dialect, route, keyId);
  if (key.environment !== deps.environment) return deny('ENV_MISMATCH', dialect, route, keyId);
  if (dialect === 'okx' && !cached.passphraseMatches(credential.passphrase ?? '')) {
    return deny('PASSPHRASE_INVALID', dialect, route, keyId);
  }

  const ttlMs = Math.max(credential.replayTtlMs, deps.window.pastMs + deps.window.futureMs + 1000);
  if (deferred !== undefined) {
    // Checked when the request is settled (settleDeferred): with the limits if it is allowed.
    deferred.mark = { id: replayKey(keyId, credential.replayId), ttlMs };
    return afterReplay(request, scheme, credential, cached, route, secretIndex, 'fresh', deps);
  }
  const verdict = deps.replay.remember(replayKey(keyId, credential.replayId), ttlMs);
  if (verdict instanceof Promise) {
    return verdict.then(
      (v) => afterReplay(request, scheme, credential, cached, route, secretIndex, v, deps),
      () => deny('REPLAY_CHECK_UNAVAILABLE', dialect, route, keyId),
    );
  }
  return afterReplay(request, scheme, credential, cached, route, secretIndex, verdict, deps);
}

function afterReplay(
  request: PipelineRequest,
  scheme: SigningScheme,
  credential: Credential,
  cached: CachedKey,
  route: RouteMatch | undefined,
  secretIndex: number,
  verdict: ReplayVerdict,
  deps?: PipelineDeps,
): Decision {
  const dialect = scheme.dialect;
  const keyId = credential.keyId;
  if (verdict === 'replayed') return deny('NONCE_REPLAYED', dialect, route, keyId);
  if (verdict === 'unavailable') return deny('REPLAY_CHECK_UNAVAILABLE', dialect, route, keyId);
  if (!route) return deny('ROUTE_UNKNOWN', dialect, undefined, keyId);
  if (!cached.allowlist(request.clientIp)) return deny('IP_NOT_ALLOWED', dialect, route, keyId);
  const scope = route.route.scope;
  if (scope !== null && !cached.key.scopes.includes(scope))
    return deny('SCOPE_MISSING', dialect, route, keyId);
  // A stepped-down or disabled key (anomaly response or governance) is refused on its next request.
  const risk = deps?.risk?.stateOf(keyId, request.nowMs);
  if (risk !== undefined && deps?.risk !== undefined) {
    if (risk.disabled) return deny('KEY_DISABLED', dialect, route, keyId);
    if (!riskAllows(risk, scope, route.route.action, deps.risk.cancelActions))
      return deny('KEY_STEPPED_DOWN', dialect, route, keyId);
  }
  const forwardBody = scheme.forwardBody
    ? scheme.forwardBody(credential, request.body)
    : request.body;
  const policy = deps?.policies?.check({
    key: cached.key,
    route: route.route,
    pathParams: route.params,
    method: request.method,
    path: request.path,
    clientIp: request.clientIp,
    nowMs: request.nowMs,
    query: credential.forwardQuery,
    body: forwardBody,
    riskLevel: risk?.level,
  });
  if (policy !== undefined && policy.outcome === 'deny') {
    const denied = deny(policy.reason, dialect, route, keyId);
    return policy.decidedBy === undefined ? denied : { ...denied, policy: policy.decidedBy };
  }
  // A request a require-approval rule matches is never forwarded from here: it comes out as a
  // denial carrying the verified request, which a data plane with an approval service holds
  // (202 + approval id) and executes once on quorum; anything else refuses it (fail closed).
  if (policy?.outcome === 'allow' && policy.approval !== undefined) {
    const { policyId, version } = policy.approval;
    const held: HeldRequest = {
      key: cached.key,
      route,
      forwardQuery: credential.forwardQuery,
      forwardBody,
      policy,
      approval: policy.approval,
    };
    return {
      ...deny('APPROVAL_REQUIRED', dialect, route, keyId),
      policy: { policyId, version },
      held,
    };
  }
  // Two literals rather than a spread of the first: spreading a decision cost more than the
  // whole policy step it would carry (about 0.8 µs per request here).
  if (policy !== undefined) {
    return {
      outcome: 'allow',
      dialect,
      route,
      key: cached.key,
      credential,
      secretIndex,
      forwardQuery: credential.forwardQuery,
      forwardBody,
      policy,
    };
  }
  return {
    outcome: 'allow',
    dialect,
    route,
    key: cached.key,
    credential,
    secretIndex,
    forwardQuery: credential.forwardQuery,
    forwardBody,
  };
}

function shapeIsUnambiguous(request: SignedRequest, credential: Credential): boolean {
  if (credential.forwardQuery !== null && hasDuplicateQueryParams(credential.forwardQuery))
    return false;
  // Checked by content as well as by label: an engine that parses JSON whatever the
  // Content-Type says (text/plain, none) must not see a duplicate key the gateway never checked.
  if (
    request.body.length > 0 &&
    (isJson(request.headers['content-type']) || looksLikeJson(request.body))
  ) {
    return checkStrictJson(request.body).ok;
  }
  return true;
}

/** Whether the first non-whitespace byte opens a JSON object or array. */
function looksLikeJson(body: Buffer): boolean {
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
    return c === 0x7b || c === 0x5b;
  }
  return false;
}

function isJson(contentType: string | string[] | undefined): boolean {
  const value = Array.isArray(contentType) ? contentType[0] : contentType;
  return value !== undefined && /^application\/(?:[\w.+-]+\+)?json\b/i.test(value);
}

function deny(
  reason: ReasonCode,
  dialect: Dialect,
  route: RouteMatch | undefined,
  keyId?: string,
): Deny {
  return {
    outcome: 'deny',
    reason,
    dialect,
    ...(route ? { route } : {}),
    ...(keyId !== undefined ? { keyId } : {}),
  };
}
