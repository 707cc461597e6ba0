/**
 * The data plane's side of spend allowances (docs/policies.md §4.1): an order's notional or a
 * withdrawal's amount is held against the key's allowances before forwarding, and the hold is
 * settled with the upstream's answer.
 */
import type { Logger } from 'pino';
import type { ApiKey } from '../core/keys/model.js';
import type { PolicyStepResult } from '../core/policy/policy-step.js';
import type { RouteMatch } from '../core/routes/route-table.js';
import { orderNotional, type AllowanceKind } from '../core/transactions/index.js';
import type { ReserveOutcome } from '../server/data-plane/data-plane-governance.js';
import type { AllowanceService } from '../services/allowance-service.js';

/** The route actions spend allowances count, and the kind each counts against. */
export const ALLOWANCE_KINDS: Readonly<Record<string, AllowanceKind>> = {
  'order.place': 'notional',
  'withdrawal.create': 'withdrawal',
};

export interface HoldInput {
  readonly key: ApiKey;
  readonly route: RouteMatch;
  readonly policy: Extract<PolicyStepResult, { outcome: 'allow' }> | undefined;
}

/** Holds an order's notional or a withdrawal's amount against the key's spend allowances. */
export async function holdAllowance(
  allowances: AllowanceService,
  logger: Logger,
  input: HoldInput,
): Promise<ReserveOutcome> {
  const kind = ALLOWANCE_KINDS[input.route.route.action];
  if (kind === undefined) return { kind: 'none' };
  // The key was loaded with the kinds of its allowances (and is dropped from every cache when
  // they change): a key without one of this kind costs no store round trip.
  if (!(input.key.allowanceKinds ?? []).includes(kind)) return { kind: 'none' };
  const params = input.policy?.params ?? {};
  const decimals = input.policy?.decimals ?? {};
  // A spend that cannot be counted (no amount, or no asset or symbol to count it in) carries
  // no amount: the store refuses it (BAD_REQUEST) since the key has an allowance of the kind.
  const named = kind === 'notional' ? params.symbol : params.asset;
  const counted = kind === 'notional' ? orderNotional(decimals) : decimals.amount;
  const amount = named === undefined ? '' : (counted ?? '');
  const spend =
    kind === 'notional'
      ? { keyId: input.key.id, kind, asset: '', symbol: named ?? '', amount }
      : { keyId: input.key.id, kind, asset: named ?? '', amount };
  const held = await allowances.hold(spend);
  if (held.kind === 'none') return { kind: 'none' };
  if (held.kind === 'refused') {
    return {
      kind: 'refused',
      reason: held.reason === 'AMOUNT_INVALID' ? 'BAD_REQUEST' : held.reason,
    };
  }
  return {
    kind: 'reserved',
    async settle(outcome) {
      // Kept (the upstream may have executed it): the amount stays spent for the period.
      if (outcome === 'keep') return;
      try {
        await allowances.settle(held.holdId, outcome);
      } catch (error) {
        // An unsettled hold stays counted for its period: the safe side.
        logger.error({ err: error, holdId: held.holdId }, 'allowance settle failed');
      }
    },
  };
}
