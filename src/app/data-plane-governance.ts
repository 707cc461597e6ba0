/**
 * The data plane's side of governance (docs/policies.md): held requests become approvals of kind
 * `request` that store the exact request; on quorum the approval service calls back here, the
 * request is re-checked (key state, scope, policies, withdrawal limits, spend allowances) and
 * sent upstream once.
 *
 * The initiator of a held data-plane request is the account, written `label:account:<accountId>`
 * — the person id an admin token labelled `account:<accountId>` maps to (personOf), so that a
 * person who holds such a token for the account that asked cannot approve its own request.
 */
import type { Logger } from 'pino';
import { requestDigest } from '../core/approvals/index.js';
import type { JsonValue } from '../core/audit/canonical-json.js';
import type { Clock } from '../core/clock.js';
import { answerPlaced } from '../core/dialects/answer-outcome.js';
import type { ApiKey, Environment } from '../core/keys/model.js';
import type { RiskLookup } from '../core/pipeline.js';
import type { PolicyStep, PolicyStepResult } from '../core/policy/policy-step.js';
import { riskAllows } from '../core/risk/key-risk.js';
import type { RouteMatch, RouteSpec, RouteTable } from '../core/routes/route-table.js';
import type { ApprovalRecord } from '../ports.js';
import { approvalJson, type ApprovalService } from '../services/approval-service.js';
import type { KeyService } from '../services/key-service.js';
import type { WithdrawalService } from '../services/withdrawal-service.js';
import type { AllowanceService } from '../services/allowance-service.js';
import { holdAllowance } from './hold-allowance.js';
import type {
  DataPlaneGovernance,
  ReserveOutcome,
} from '../server/data-plane/data-plane-governance.js';
import { upstreamHeaders } from '../server/data-plane/forward-headers.js';
import { outcomeUnknown, type Upstream } from '../server/data-plane/upstream.js';

type JsonObject = { readonly [name: string]: JsonValue };

/** The approval kind of a held data-plane request. */
export const REQUEST_APPROVAL_KIND = 'request';
/** The route action of the requester's signed poll, answered by the gateway itself. */
export const APPROVAL_POLL_ACTION = 'approval.read';
/** Added to every environment's route table (scope `read`). */
export const APPROVAL_POLL_ROUTE: RouteSpec = Object.freeze({
  method: 'GET',
  path: '/api/v1/approvals/:id',
  action: APPROVAL_POLL_ACTION,
  scope: 'read',
  weight: 1,
  dialect: 'native',
});

const WITHDRAWAL_ACTION = 'withdrawal.create';

/** What `reserve` is given: the allowed request's key, route and extracted parameters. */
interface ReserveInput {
  readonly key: ApiKey;
  readonly route: RouteMatch;
  readonly policy: Extract<PolicyStepResult, { outcome: 'allow' }> | undefined;
  readonly requestId: string;
}

/** Upstream answers kept with the approval are cut here (they are shown, not replayed). */
const MAX_RESULT_BYTES = 64 * 1024;

/** The request as stored with its approval: everything needed to send it again, no credential. */
interface StoredRequest {
  readonly environment: string;
  readonly method: string;
  readonly path: string;
  readonly query: string | null;
  readonly headers: { readonly [name: string]: string };
  readonly bodyBase64: string;
  readonly keyId: string;
  readonly accountId: string;
  readonly action: string;
  readonly params: JsonObject;
  readonly clientIp: string;
}

interface Plane {
  readonly upstream: Upstream;
  readonly upstreamToken: string | undefined;
  readonly routes: RouteTable;
  readonly policies: PolicyStep | undefined;
  /** Anomaly responses in force: a key stepped down or disabled since the hold is refused. */
  readonly risk?: RiskLookup | undefined;
}

export function createDataPlaneGovernance(deps: {
  approvals: ApprovalService;
  withdrawals: WithdrawalService;
  /** Spend allowances of keys; absent, only the withdrawal rules reserve. */
  allowances?: AllowanceService | undefined;
  keys: KeyService;
  clock: Clock;
  logger: Logger;
}) {
  const { approvals, withdrawals, allowances, keys, clock, logger } = deps;
  const planes = new Map<string, Plane>();

  const digestOf = (s: StoredRequest): string =>
    requestDigest({
      method: s.method,
      path: s.path,
      query: s.query ?? '',
      body: Buffer.from(s.bodyBase64, 'base64'),
      keyId: s.keyId,
      accountId: s.accountId,
      action: s.action,
      params: s.params,
    });

  /**
   * The key's spend allowances first (no audit entry, cheap), then the account's withdrawal
   * rules; a refusal of the second gives the first back. Settling settles both.
   */
  async function reserve(input: ReserveInput): Promise<ReserveOutcome> {
    const held =
      allowances === undefined
        ? ({ kind: 'none' } as const)
        : await holdAllowance(allowances, logger, input);
    if (held.kind === 'refused') return held;
    let reserved: ReserveOutcome;
    try {
      reserved = await reserveWithdrawal(input);
    } catch (error) {
      if (held.kind === 'reserved') await held.settle('release');
      throw error;
    }
    if (held.kind === 'none') return reserved;
    if (reserved.kind === 'none') return held;
    if (reserved.kind === 'refused') {
      await held.settle('release');
      return reserved;
    }
    return {
      kind: 'reserved',
      async settle(outcome) {
        await Promise.all([held.settle(outcome), reserved.settle(outcome)]);
      },
    };
  }

  async function reserveWithdrawal(input: ReserveInput): Promise<ReserveOutcome> {
    if (input.route.route.action !== WITHDRAWAL_ACTION) return { kind: 'none' };
    const accountId = input.key.accountId;
    const params = input.policy?.params ?? {};
    const amount = input.policy?.decimals.amount;
    if (params.asset === undefined || params.address === undefined || amount === undefined) {
      // Without parameters nothing can be counted: refuse when the account has rules.
      const settings = await withdrawals.getSettings(accountId);
      return settings ? { kind: 'refused', reason: 'BAD_REQUEST' } : { kind: 'none' };
    }
    const reserved = await withdrawals.reserve({
      accountId,
      keyId: input.key.id,
      asset: params.asset,
      network: params.network ?? '',
      address: params.address,
      amount,
      requestId: input.requestId,
    });
    if (reserved.kind === 'none') return { kind: 'none' };
    if (reserved.kind === 'refused') {
      const reason = reserved.result.reason;
      return {
        kind: 'refused',
        reason:
          reason === 'ADDRESS_NOT_ALLOWED' ||
          reason === 'ADDRESS_COOLING_DOWN' ||
          reason === 'AMOUNT_LIMIT_EXCEEDED'
            ? reason
            : reason === 'AMOUNT_INVALID' || reason === 'RESERVATION_EXISTS'
              ? 'BAD_REQUEST'
              : 'AMOUNT_LIMIT_EXCEEDED',
      };
    }
    return {
      kind: 'reserved',
      async settle(outcome) {
        if (outcome === 'keep') return;
        try {
          await withdrawals.settle(accountId, reserved.reservationId, outcome, {
            actor: input.key.id,
            requestId: input.requestId,
          });
        } catch (error) {
          // An unsettled reservation stays counted until its ttl: the safe side.
          logger.error({ err: error, reservationId: reserved.reservationId }, 'settle failed');
        }
      },
    };
  }

  /** Re-checks and sends a stored request once; the answer is kept with the approval. */
  async function execute(
    record: ApprovalRecord,
    requestId: string,
  ): Promise<{ ok: boolean; result: JsonObject; detail: string }> {
    const s = record.subject as unknown as StoredRequest;
    const refused = (reason: string) => ({ ok: false, result: { error: reason }, detail: reason });
    const plane = planes.get(s.environment);
    if (!plane) return refused('ENVIRONMENT_UNAVAILABLE');
    let key;
    try {
      key = await keys.getKey(s.keyId);
    } catch {
      return refused('KEY_UNKNOWN');
    }
    if (key.state !== 'active')
      return refused(key.state === 'revoked' ? 'KEY_REVOKED' : 'KEY_EXPIRED');
    if (key.environment !== s.environment) return refused('ENV_MISMATCH');
    const route = plane.routes.match(s.method, s.path);
    if (!route || route.route.action !== s.action) return refused('ROUTE_UNKNOWN');
    if (route.route.scope !== null && !key.scopes.includes(route.route.scope)) {
      return refused('SCOPE_MISSING');
    }
    const nowMs = clock.now();
    const risk = plane.risk?.stateOf(key.id, nowMs);
    if (risk !== undefined && plane.risk !== undefined) {
      if (risk.disabled) return refused('KEY_DISABLED');
      if (!riskAllows(risk, route.route.scope, route.route.action, plane.risk.cancelActions))
        return refused('KEY_STEPPED_DOWN');
    }
    const body = Buffer.from(s.bodyBase64, 'base64');
    // Policies as they are now: a rule added since the hold can still stop it.
    const policy = plane.policies?.check({
      key,
      route: route.route,
      pathParams: route.params,
      method: s.method,
      path: s.path,
      clientIp: s.clientIp,
      nowMs,
      query: s.query,
      body,
      riskLevel: risk?.level,
    });
    if (policy?.outcome === 'deny') return refused(policy.reason);
    const reservation = await reserve({ key, route, policy, requestId });
    if (reservation.kind === 'refused') return refused(reservation.reason);
    const identity: Record<string, string> = {
      'x-request-id': requestId,
      'x-portcullis-account': key.accountId,
      'x-portcullis-key': key.id,
      'x-portcullis-scopes': key.scopes.join(','),
      'x-portcullis-approval': record.approval.id,
    };
    if (plane.upstreamToken !== undefined) {
      identity['x-portcullis-upstream-token'] = plane.upstreamToken;
    }
    const result = await plane.upstream.forward({
      method: s.method,
      path: s.query === null ? s.path : `${s.path}?${s.query}`,
      headers: upstreamHeaders(s.headers, identity),
      body: body.length > 0 ? body : null,
    });
    if (!result.ok) {
      if (reservation.kind === 'reserved') {
        await reservation.settle(outcomeUnknown(result.reason) ? 'keep' : 'release');
      }
      return refused(result.reason);
    }
    const answer = await readCapped(result.body);
    // A 2xx whose body is the dialect's rejection (Bybit, OKX) placed nothing (the proxy path
    // decides the same way); a body cut at the cap does not parse and stays counted.
    const success = answerPlaced(route.route.dialect, result.status, answer);
    if (reservation.kind === 'reserved') await reservation.settle(success ? 'commit' : 'release');
    const contentType = result.headers['content-type'];
    return {
      ok: success,
      result: {
        status: result.status,
        contentType: typeof contentType === 'string' ? contentType : null,
        body: answer.toString('utf8'),
      },
      detail: `upstream ${result.status}`,
    };
  }

  approvals.register(REQUEST_APPROVAL_KIND, {
    digest: (subject) => digestOf(subject as unknown as StoredRequest),
    execute: (record, ctx) => execute(record, ctx.requestId),
  });

  return {
    /** Withdrawal reservations alone, for consumers that never hold or forward (check, embedded). */
    reserve,
    /** The hooks one environment's data plane calls. */
    forPlane(environment: Environment, plane: Plane): DataPlaneGovernance {
      planes.set(environment, plane);
      return {
        pollAction: APPROVAL_POLL_ACTION,
        reserve,
        async hold(held, ctx) {
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(upstreamHeaders(ctx.headers, {}))) {
            headers[name] = Array.isArray(value) ? value.join(', ') : value;
          }
          const stored: StoredRequest = {
            environment,
            method: ctx.method,
            path: ctx.path,
            query: held.forwardQuery,
            headers,
            bodyBase64: held.forwardBody.toString('base64'),
            keyId: held.key.id,
            accountId: held.key.accountId,
            action: held.route.route.action,
            params: { ...held.policy.params },
            clientIp: ctx.clientIp,
          };
          const digest = digestOf(stored);
          const approval = await approvals.hold(
            {
              kind: REQUEST_APPROVAL_KIND,
              subject: { ...stored, digest },
              digest,
              initiator: `label:account:${held.key.accountId}`,
              quorum: held.approval.quorum,
              policy: { policyId: held.approval.policyId, version: held.approval.version },
            },
            { actor: held.key.id, requestId: ctx.requestId },
          );
          return { id: approval.id, expiresAtMs: approval.expiresAt };
        },
        async poll(approvalId, accountId) {
          let record: ApprovalRecord;
          try {
            record = await approvals.get(approvalId);
          } catch {
            return undefined;
          }
          const subject = record.subject as unknown as Partial<StoredRequest>;
          // Another account's approval is answered exactly like one that does not exist.
          if (record.approval.kind !== REQUEST_APPROVAL_KIND || subject.accountId !== accountId) {
            return undefined;
          }
          const json = approvalJson(record);
          return {
            id: json.id ?? null,
            state: json.state ?? null,
            quorum: json.quorum ?? null,
            approvals: record.approval.votes.filter((v) => v.vote === 'approve').length,
            expiresAt: json.expiresAt ?? null,
            requestDigest: json.requestDigest ?? null,
            result: record.result,
          };
        },
      };
    },
  };
}

export type DataPlaneGovernanceRuntime = ReturnType<typeof createDataPlaneGovernance>;

/** The answer's first MAX_RESULT_BYTES bytes (the rest is read and dropped). */
async function readCapped(body: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    if (size < MAX_RESULT_BYTES) chunks.push(buffer);
    size += buffer.length;
  }
  return Buffer.concat(chunks).subarray(0, MAX_RESULT_BYTES);
}
