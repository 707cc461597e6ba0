/**
 * Policies as the control plane manages them: versioned records in the store, one compiled
 * snapshot in memory. A change is compiled together with every other current policy BEFORE it is
 * written; the new snapshot replaces the old one only after the store committed, so a bad
 * policy is refused with its position and a good one is never half-applied.
 */
import type { AuditDraft } from '../core/audit/audit-chain.js';
import type { JsonValue } from '../core/audit/canonical-json.js';
import type { Clock } from '../core/clock.js';
import { PortcullisError } from '../core/errors.js';
import type { Environment } from '../core/keys/model.js';
import {
  buildPolicyContext,
  compileRules,
  decideRequest,
  explainVerdict,
  isParamName,
  PARAM_TYPES,
  type PolicyCompileError,
  type PolicyParams,
  type PolicyRule,
  type RiskLevel,
  type RuleSnapshot,
} from '../core/policy/index.js';
import type { ChangeEvents, PolicyRecord, PolicyRuleEffect, PolicyStore } from '../ports.js';
import type { ActorContext } from './key-service.js';

export interface PolicyInput {
  readonly effect: PolicyRuleEffect;
  readonly target?: PolicyRecord['target'];
  readonly condition: string;
  readonly mode?: PolicyRecord['mode'];
  readonly description?: string;
  readonly quorum?: number;
}

/** A request description for `simulate` (and `portcullis policy test`). */
export interface SimulationInput {
  readonly action: string;
  readonly accountId?: string;
  readonly environment?: Environment;
  readonly key?: {
    readonly id?: string;
    readonly scopes?: readonly string[];
    readonly ageDays?: number;
    readonly label?: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly riskLevel?: RiskLevel;
  };
  readonly params?: Readonly<Record<string, string | number>>;
  readonly request?: { readonly ip?: string; readonly method?: string; readonly path?: string };
  /** ISO-8601; the server's clock when absent. */
  readonly time?: string;
}

const DAY_MS = 86_400_000;

/** Creates the service; call `load()` once at start-up before serving traffic. */
export function createPolicyService(deps: {
  store: PolicyStore;
  clock: Clock;
  /** Told of every committed change, so that the other nodes of a cluster reload. */
  events?: ChangeEvents;
}) {
  const { store, clock } = deps;
  let records: PolicyRecord[] = [];
  let snapshot: RuleSnapshot = compileRules([]);
  let queue: Promise<unknown> = Promise.resolve();

  /** Changes run one at a time in this process: each compiles against the set it replaces. */
  function serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = queue.then(fn, fn);
    queue = run.catch(() => undefined);
    return run;
  }

  async function change(
    id: string,
    action: 'policy.create' | 'policy.update' | 'policy.delete',
    compute: (latest: PolicyRecord | undefined) => PolicyRecord,
    ctx: ActorContext,
  ): Promise<PolicyRecord> {
    return serialized(async () => {
      const current = await store.listPolicies();
      const latest = await store.getPolicy(id);
      const next = compute(latest);
      const index = current.findIndex((r) => r.id === id);
      const nextList = current.filter((r) => r.id !== id);
      if (next.active) nextList.splice(index < 0 ? nextList.length : index, 0, next);
      const compiled = compileRules(nextList.map(ruleOf));
      if (!compiled.ok) throw invalid(compiled.errors);
      const draft: AuditDraft = {
        ts: clock.now(),
        actor: ctx.actor,
        action,
        target: id,
        requestId: ctx.requestId,
        data: {
          ...(latest ? { before: recordJson(latest) } : {}),
          after: recordJson(next),
        },
      };
      if (!(await store.writePolicy(next, latest?.version ?? 0, draft))) {
        throw new PortcullisError('CONFLICT', `Policy ${id} changed concurrently; retry.`);
      }
      // Swapped only after the commit: what is enforced is always what is stored.
      records = nextList;
      snapshot = compiled;
      deps.events?.publish({ type: 'policy.changed', policyId: id });
      return next;
    });
  }

  function record(
    id: string,
    input: PolicyInput,
    latest: PolicyRecord | undefined,
    actor: string,
  ): PolicyRecord {
    const now = clock.now();
    return {
      id,
      version: (latest?.version ?? 0) + 1,
      effect: input.effect,
      target: input.target ?? {},
      condition: input.condition,
      mode: input.mode ?? 'enforce',
      description: input.description ?? '',
      quorum: input.effect === 'require-approval' ? (input.quorum ?? 2) : null,
      active: true,
      createdAt: latest?.active ? latest.createdAt : now,
      updatedAt: now,
      updatedBy: actor,
    };
  }

  async function load(): Promise<{ ok: true; size: number } | { ok: false; errors: string[] }> {
    records = await store.listPolicies();
    snapshot = compileRules(records.map(ruleOf));
    return snapshot.ok
      ? { ok: true, size: records.length }
      : { ok: false, errors: details(snapshot.errors) };
  }

  return {
    /** Loads and compiles the stored set; a set that does not compile refuses all traffic. */
    load,

    /** Re-reads the stored set (another node changed it), queued behind this node's changes. */
    reload: () => serialized(load),

    /** The compiled snapshot the data plane evaluates (replaced atomically on every change). */
    snapshot: (): RuleSnapshot => snapshot,

    list: (): readonly PolicyRecord[] => records,

    async get(id: string): Promise<PolicyRecord> {
      const found = await store.getPolicy(id);
      if (!found || !found.active)
        throw new PortcullisError('POLICY_NOT_FOUND', `No policy ${id}.`);
      return found;
    },

    history: (id: string) => store.policyHistory(id),

    create(id: string, input: PolicyInput, ctx: ActorContext): Promise<PolicyRecord> {
      return change(
        id,
        'policy.create',
        (latest) => {
          if (latest?.active) throw new PortcullisError('CONFLICT', `Policy ${id} already exists.`);
          return record(id, input, latest, ctx.actor);
        },
        ctx,
      );
    },

    update(id: string, input: PolicyInput, ctx: ActorContext): Promise<PolicyRecord> {
      return change(
        id,
        'policy.update',
        (latest) => {
          if (!latest?.active) throw new PortcullisError('POLICY_NOT_FOUND', `No policy ${id}.`);
          return record(id, input, latest, ctx.actor);
        },
        ctx,
      );
    },

    remove(id: string, ctx: ActorContext): Promise<PolicyRecord> {
      return change(
        id,
        'policy.delete',
        (latest) => {
          if (!latest?.active) throw new PortcullisError('POLICY_NOT_FOUND', `No policy ${id}.`);
          return {
            ...latest,
            version: latest.version + 1,
            active: false,
            updatedAt: clock.now(),
            updatedBy: ctx.actor,
          };
        },
        ctx,
      );
    },

    /** Decides a described request against the current set and explains the decision. */
    simulate(input: SimulationInput) {
      const nowMs = input.time !== undefined ? Date.parse(input.time) : clock.now();
      if (!Number.isFinite(nowMs)) {
        throw new PortcullisError('VALIDATION_FAILED', 'time must be an ISO-8601 instant.');
      }
      const context = buildPolicyContext({
        key: {
          id: input.key?.id ?? 'pk_test_simulated',
          scopes: input.key?.scopes ?? [],
          createdAt: nowMs - (input.key?.ageDays ?? 0) * DAY_MS,
          ...(input.key?.label !== undefined ? { label: input.key.label } : {}),
          ...(input.key?.labels !== undefined ? { labels: input.key.labels } : {}),
          ...(input.key?.riskLevel !== undefined ? { riskLevel: input.key.riskLevel } : {}),
        },
        accountId: input.accountId ?? 'acc_simulated',
        action: input.action,
        params: simulationParams(input.params ?? {}),
        request: {
          ip: input.request?.ip ?? '127.0.0.1',
          environment: input.environment ?? 'production',
          method: input.request?.method ?? 'POST',
          path: input.request?.path ?? '/',
        },
        nowMs,
      });
      const verdict = decideRequest(snapshot, context);
      const { explanation, shadow } = explainVerdict(verdict);
      const decision =
        verdict.outcome === 'deny' ? 'deny' : verdict.approval ? 'approval-required' : 'allow';
      return {
        decision,
        reason: verdict.outcome === 'deny' ? verdict.reason : (verdict.policy.reason as string),
        decidedBy:
          verdict.outcome === 'deny'
            ? (verdict.decidedBy ?? null)
            : verdict.approval
              ? { policyId: verdict.approval.policyId, version: verdict.approval.version }
              : (verdict.policy.decidedBy ?? null),
        ...(verdict.outcome === 'allow' && verdict.approval
          ? { approval: { quorum: verdict.approval.quorum } }
          : {}),
        explanation,
        shadow,
      };
    },
  };
}

export type PolicyService = ReturnType<typeof createPolicyService>;

function ruleOf(record: PolicyRecord): PolicyRule {
  return {
    id: record.id,
    version: record.version,
    effect: record.effect,
    target: record.target,
    condition: record.condition,
    mode: record.mode,
    description: record.description,
    quorum: record.quorum,
  };
}

/** Simulated parameters: numeric ones must be numbers or decimal strings, as at run time. */
function simulationParams(raw: Readonly<Record<string, string | number>>): PolicyParams {
  const params: Record<string, string | number> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (!isParamName(name)) {
      throw new PortcullisError('VALIDATION_FAILED', `Unknown parameter ${JSON.stringify(name)}.`);
    }
    if (PARAM_TYPES[name] === 'double') {
      const number = typeof value === 'number' ? value : Number(value);
      if (!Number.isFinite(number)) {
        throw new PortcullisError('VALIDATION_FAILED', `Parameter ${name} must be a number.`);
      }
      params[name] = number;
    } else {
      params[name] = String(value);
    }
  }
  return params;
}

export function details(errors: readonly PolicyCompileError[]): string[] {
  return errors.map((e) => `${e.policyId}:${e.line}:${e.column}: ${e.code}: ${e.message}`);
}

function invalid(errors: readonly PolicyCompileError[]): PortcullisError {
  const first = errors[0];
  const where = first ? ` (${first.policyId} line ${first.line}, column ${first.column})` : '';
  return new PortcullisError(
    'POLICY_INVALID',
    `The policy does not compile${where}.`,
    details(errors),
  );
}

/** The audited and API picture of a policy version. */
export function recordJson(record: PolicyRecord): { [name: string]: JsonValue } {
  return {
    id: record.id,
    version: record.version,
    effect: record.effect,
    target: {
      ...(record.target.actions ? { actions: [...record.target.actions] } : {}),
      ...(record.target.environments ? { environments: [...record.target.environments] } : {}),
      ...(record.target.accounts ? { accounts: [...record.target.accounts] } : {}),
      ...(record.target.keys ? { keys: [...record.target.keys] } : {}),
    },
    condition: record.condition,
    mode: record.mode,
    description: record.description,
    quorum: record.quorum,
    active: record.active,
    createdAt: new Date(record.createdAt).toISOString(),
    updatedAt: new Date(record.updatedAt).toISOString(),
    updatedBy: record.updatedBy,
  };
}
