/**
 * Twenty policies across actions (docs/policies.md), as a risk team might load them: the bench
 * order is evaluated against the ones targeting `order.place` (a permit, three forbids that do not
 * match, a require-approval rule that does not match) plus the route's parameter extraction.
 */
import { compileRouteExtractors, DEFAULT_ROUTES } from '../src/app/data-planes.js';
import { compileRules, type PolicyRule } from '../src/core/policy/index.js';
import { createPolicyStep, type PolicyStep } from '../src/core/policy/policy-step.js';
import type { PipelineDeps, PipelineRequest } from '../src/core/pipeline.js';
import { pairedFigures } from './micro.js';

const rule = (
  id: string,
  effect: PolicyRule['effect'],
  actions: readonly string[],
  condition: string,
): PolicyRule => ({ id, version: 1, effect, target: { actions }, condition, mode: 'enforce' });

export const BENCH_POLICIES: readonly PolicyRule[] = [
  rule(
    'orders-office',
    'permit',
    ['order.place'],
    'params.notional < 250000.0 || ipInCidr(request.ip, "127.0.0.0/8")',
  ),
  rule('orders-no-doge', 'forbid', ['order.place'], 'params.symbol == "DOGEUSDT"'),
  rule('orders-old-keys', 'forbid', ['order.place'], 'key.ageDays > 3650.0'),
  rule(
    'orders-night',
    'forbid',
    ['order.place'],
    'time.hourUtc == 3 && params.notional > 5000000.0',
  ),
  rule('orders-huge', 'require-approval', ['order.place'], 'params.notional > 1000000.0'),
  rule('cancel-any', 'permit', ['order.cancel'], 'true'),
  rule('cancel-risk', 'forbid', ['order.cancel'], 'key.riskLevel == "blocked"'),
  rule('cancel-office', 'forbid', ['order.cancel'], '!ipInCidr(request.ip, "0.0.0.0/0")'),
  rule('withdraw-permit', 'permit', ['withdrawal.create'], 'params.amount <= 100000.0'),
  rule('withdraw-night', 'forbid', ['withdrawal.create'], 'time.hourUtc < 6'),
  rule('withdraw-large', 'require-approval', ['withdrawal.create'], 'params.amount > 10000.0'),
  rule('withdraw-new-keys', 'forbid', ['withdrawal.create'], 'key.ageDays < 1.0'),
  rule('read-balances', 'permit', ['balance.read'], 'true'),
  rule('read-balances-ip', 'forbid', ['balance.read'], 'request.ip == "10.0.0.1"'),
  rule('read-account', 'permit', ['account.read'], 'true'),
  rule('read-account-env', 'forbid', ['account.read'], 'request.environment == "staging"'),
  rule('list-orders', 'permit', ['order.list'], 'true'),
  rule('list-orders-risk', 'forbid', ['order.list'], 'key.riskLevel == "blocked"'),
  rule('approval-poll', 'permit', ['approval.read'], 'true'),
  rule('approval-poll-ip', 'forbid', ['approval.read'], 'request.ip == "10.0.0.1"'),
];

/** The policy step with the twenty policies loaded, over the default routes' extractors. */
export function benchPolicyStep(): PolicyStep {
  const snapshot = compileRules(BENCH_POLICIES);
  if (!snapshot.ok)
    throw new Error(`bench policies do not compile: ${JSON.stringify(snapshot.errors)}`);
  return createPolicyStep({
    environment: 'sandbox',
    snapshot: () => snapshot,
    extractors: compileRouteExtractors(DEFAULT_ROUTES),
  });
}

/**
 * Best ns/op of the pipeline without and with the twenty policies, and the fraction added, by
 * process CPU time (main thread, GC and compiler threads) — on this shared two-core machine other
 * processes' load moved the wall-time ratio by ±0.1 between runs — and by wall time.
 */
export interface PoliciesFigures {
  readonly base: number;
  readonly policies: number;
  readonly overhead: number;
  readonly wall: { readonly base: number; readonly policies: number; readonly overhead: number };
}

/**
 * The same pipeline over the same kind of requests without and with the twenty policies, in
 * `pairs` alternated measurements of each (ABBA order, so that drift and warm-up fall on both
 * alike, and as many samples on each side); the best of each side is compared.
 */
export function policiesFigures(
  deps: PipelineDeps,
  batch: (round: number) => readonly PipelineRequest[],
  pairs = 6,
): PoliciesFigures {
  const paired = pairedFigures(deps, { ...deps, policies: benchPolicyStep() }, batch, pairs);
  return {
    base: paired.base,
    policies: paired.variant,
    overhead: paired.overhead,
    wall: { base: paired.wall.base, policies: paired.wall.variant, overhead: paired.wall.overhead },
  };
}
