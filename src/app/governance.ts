/**
 * Wires policies, approvals, withdrawal rules and spend allowances when the store implements the
 * governance ports.
 * A stored policy set that does not compile is logged and leaves the snapshot failed: every
 * authenticated request is then refused with POLICY_DENIED (fail closed, never allow-all) until
 * an operator fixes the set through the admin API.
 */
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.js';
import { compileRules, type RuleSnapshot } from '../core/policy/index.js';
import { hasGovernance, type ChangeEvents, type ControlStore } from '../ports.js';
import { createAllowanceService, type AllowanceService } from '../services/allowance-service.js';
import { createApprovalService, type ApprovalService } from '../services/approval-service.js';
import { createKeyChangeGate, type KeyChangeGate } from '../services/key-change-gate.js';
import { createPolicyChangeGate, type PolicyChangeGate } from '../services/policy-change-gate.js';
import type { KeyService } from '../services/key-service.js';
import { createPolicyService, type PolicyService } from '../services/policy-service.js';
import { createWithdrawalService, type WithdrawalService } from '../services/withdrawal-service.js';

export interface Governance {
  readonly policies: PolicyService;
  readonly approvals: ApprovalService;
  readonly withdrawals: WithdrawalService;
  readonly allowances: AllowanceService;
  readonly keyChanges: KeyChangeGate;
  readonly policyChanges: PolicyChangeGate;
}

export async function createGovernance(deps: {
  store: ControlStore;
  clock: Clock;
  keys: KeyService;
  logger: Logger;
  /** Policy changes are published here (and other nodes' applied by the cluster sync). */
  events?: ChangeEvents;
  /**
   * Approvers needed for key updates that add `withdraw` or empty the allowlist, and for removing
   * a spend allowance; 0 = off.
   */
  keyChangeQuorum: number;
  /** Approvers needed for policy creations, updates and deletions; 0 (default) = off. */
  policyChangeQuorum?: number;
}): Promise<{ services: Governance | undefined; snapshot: () => RuleSnapshot }> {
  const { store, clock, logger } = deps;
  if (!hasGovernance(store)) {
    logger.warn('the store does not implement policies and approvals: scopes alone decide');
    const empty = compileRules([]);
    return { services: undefined, snapshot: () => empty };
  }
  const policies = createPolicyService({
    store,
    clock,
    ...(deps.events !== undefined ? { events: deps.events } : {}),
  });
  const loaded = await policies.load();
  if (!loaded.ok) {
    logger.error(
      { problems: loaded.errors },
      'the stored policy set does not compile: refusing all authenticated traffic until it is fixed',
    );
  }
  const approvals = createApprovalService({ store, clock });
  const withdrawals = createWithdrawalService({ store, clock, approvals });
  const allowances = createAllowanceService({
    store,
    clock,
    approvals,
    removalQuorum: deps.keyChangeQuorum,
    events: deps.events,
  });
  const keyChanges = createKeyChangeGate({
    keys: deps.keys,
    approvals,
    quorum: deps.keyChangeQuorum,
  });
  const policyChanges = createPolicyChangeGate({
    policies,
    approvals,
    quorum: deps.policyChangeQuorum ?? 0,
  });
  return {
    services: { policies, approvals, withdrawals, allowances, keyChanges, policyChanges },
    snapshot: () => policies.snapshot(),
  };
}
