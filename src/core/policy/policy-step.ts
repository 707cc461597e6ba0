/**
 * The policy step of the pipeline (step 5, after authentication, IP allowlist and scope): extract
 * the route's parameters from the verified request, build the policy context once, and decide
 * against the current rule snapshot. Pure; the snapshot getter returns whatever was swapped in
 * last, so a change applies to the next request without a lock.
 */
import type { ApiKey, Environment } from '../keys/model.js';
import type { RouteSpec } from '../routes/route-table.js';
import type { ParameterExtractor } from './compile-extractors.js';
import { decideRequest, type RequestVerdict, type RuleSnapshot } from './decide-request.js';
import type { ShadowResult } from './evaluate-policies.js';
import type { ParamName, PolicyParams, RiskLevel } from './model.js';
import { buildPolicyContext } from './policy-context.js';

export interface PolicyStepInput {
  readonly key: ApiKey;
  readonly route: RouteSpec;
  readonly pathParams: Readonly<Record<string, string>>;
  readonly method: string;
  readonly path: string;
  readonly clientIp: string;
  readonly nowMs: number;
  /** The query and body as they will be forwarded (what the signature covered). */
  readonly query: string | null;
  readonly body: Buffer;
  /** The key's risk level (responses in force, docs/observability.md); `normal` when absent. */
  readonly riskLevel?: RiskLevel | undefined;
}

export type PolicyStepResult =
  | {
      readonly outcome: 'allow';
      readonly params: PolicyParams;
      readonly decimals: Readonly<Partial<Record<ParamName, string>>>;
      readonly approval?: {
        readonly policyId: string;
        readonly version: number;
        readonly quorum: number;
      };
      readonly shadow: readonly ShadowResult[];
    }
  | {
      readonly outcome: 'deny';
      readonly reason: 'POLICY_DENIED' | 'BAD_REQUEST';
      readonly decidedBy?: { readonly policyId: string; readonly version: number };
      /** The policy engine's own reason (FORBID_MATCHED, EVALUATION_ERROR, NO_PERMIT, …). */
      readonly policyReason?: string;
    };

export interface PolicyStep {
  check(input: PolicyStepInput): PolicyStepResult;
}

const NO_PARAMS: PolicyParams = Object.freeze({});
const NO_DECIMALS: Readonly<Partial<Record<ParamName, string>>> = Object.freeze({});
const NO_SHADOW: readonly ShadowResult[] = Object.freeze([]);

/** Builds the step over a snapshot getter and the routes' compiled extractors. */
export function createPolicyStep(deps: {
  readonly environment: Environment;
  readonly snapshot: () => RuleSnapshot;
  readonly extractors: ReadonlyMap<RouteSpec, ParameterExtractor>;
}): PolicyStep {
  return {
    check(input) {
      const snapshot = deps.snapshot();
      const extractor = deps.extractors.get(input.route);
      let params = NO_PARAMS;
      let decimals = NO_DECIMALS;
      if (extractor !== undefined) {
        const extracted = extractor.extract({
          query: parseQuery(input.query),
          pathParams: input.pathParams,
          body: parseBody(input.body),
        });
        if (!extracted.ok) return { outcome: 'deny', reason: 'BAD_REQUEST' };
        params = extracted.params;
        decimals = extracted.decimals;
      }
      // No rule can apply to this action (none loaded, or the index lists none): allowed, as
      // decideRequest would answer (no policy applies in either set), without building a context.
      if (snapshot.ok && nothingApplies(snapshot, input.route.action, deps.environment)) {
        return { outcome: 'allow', params, decimals, shadow: NO_SHADOW };
      }
      const context = buildPolicyContext({
        key: {
          id: input.key.id,
          scopes: input.key.scopes,
          createdAt: input.key.createdAt,
          label: input.key.label,
          riskLevel: input.riskLevel ?? 'normal',
        },
        accountId: input.key.accountId,
        action: input.route.action,
        params,
        request: {
          ip: input.clientIp,
          environment: deps.environment,
          method: input.method,
          path: input.path,
        },
        nowMs: input.nowMs,
      });
      return toResult(decideRequest(snapshot, context, false), params, decimals);
    },
  };
}

function toResult(
  verdict: RequestVerdict,
  params: PolicyParams,
  decimals: Readonly<Partial<Record<ParamName, string>>>,
): PolicyStepResult {
  if (verdict.outcome === 'deny') {
    return verdict.decidedBy === undefined
      ? { outcome: 'deny', reason: 'POLICY_DENIED', policyReason: verdict.reason }
      : {
          outcome: 'deny',
          reason: 'POLICY_DENIED',
          decidedBy: verdict.decidedBy,
          policyReason: verdict.reason,
        };
  }
  const shadow =
    verdict.policy.shadow.length === 0 && verdict.approvalRules.shadow.length === 0
      ? NO_SHADOW
      : [...verdict.policy.shadow, ...verdict.approvalRules.shadow];
  return verdict.approval === undefined
    ? { outcome: 'allow', params, decimals, shadow }
    : { outcome: 'allow', params, decimals, approval: verdict.approval, shadow };
}

function nothingApplies(
  snapshot: Extract<RuleSnapshot, { ok: true }>,
  action: string,
  environment: Environment,
): boolean {
  return (
    snapshot.size === 0 ||
    (snapshot.enforce.candidates(action, environment).length === 0 &&
      snapshot.approvals.candidates(action, environment).length === 0)
  );
}

const NO_QUERY: Readonly<Record<string, string>> = Object.freeze({});

function parseQuery(query: string | null): Readonly<Record<string, string>> {
  if (query === null || query === '') return NO_QUERY;
  const out: Record<string, string> = {};
  for (const [name, value] of new URLSearchParams(query)) out[name] = value;
  return out;
}

/** JSON bodies are parsed; form bodies (Binance style) become a flat map; anything else null. */
function parseBody(body: Buffer): unknown {
  if (body.length === 0) return null;
  const first = body[0];
  if (first === 0x7b || first === 0x5b) {
    try {
      return JSON.parse(body.toString('utf8')) as unknown;
    } catch {
      return null;
    }
  }
  return parseQuery(body.toString('utf8'));
}
