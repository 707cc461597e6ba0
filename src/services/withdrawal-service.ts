/**
 * Withdrawal rules per account: settings, the address book (cool-down, optionally approval to
 * add), and reservations against per-transaction and rolling limits, applied atomically by the
 * store (src/core/transactions decides, the store's transaction serialises).
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../core/audit/canonical-json.js';
import type { AuditDraft } from '../core/audit/audit-chain.js';
import type { JsonValue } from '../core/audit/canonical-json.js';
import type { Clock } from '../core/clock.js';
import { PortcullisError } from '../core/errors.js';
import {
  DEFAULT_ADDRESS_COOL_DOWN_MS,
  newAddressBookEntry,
  normalizeDecimal,
  type AddressBookEntry,
  type AmountLimits,
  type ReserveResult,
} from '../core/transactions/index.js';
import type { ControlStore, WithdrawalSettings, WithdrawalStore } from '../ports.js';
import type { ApprovalService } from './approval-service.js';
import { newId } from './ids.js';
import type { ActorContext } from './key-service.js';

export interface SettingsInput {
  readonly addressBookRequired?: boolean;
  readonly coolDownMs?: number;
  readonly accountLimits?: AmountLimits;
  readonly keyLimits?: AmountLimits;
  readonly addressApprovalQuorum?: number;
}

export interface AddressInput {
  readonly asset: string;
  readonly network?: string;
  readonly address: string;
  readonly memo?: string;
}

export type AddAddressResult =
  { readonly added: AddressBookEntry } | { readonly approvalId: string; readonly quorum: number };

const ASSET = /^[A-Z0-9]{1,16}$/;
const ADDRESS = /^[A-Za-z0-9:._-]{4,128}$/;

export function createWithdrawalService(deps: {
  store: WithdrawalStore & Pick<ControlStore, 'getAccount'>;
  clock: Clock;
  approvals: ApprovalService;
}) {
  const { store, clock, approvals } = deps;
  const draft = (
    ctx: ActorContext,
    action: string,
    target: string,
    data: JsonObject,
  ): AuditDraft => ({
    ts: clock.now(),
    actor: ctx.actor,
    action,
    target,
    requestId: ctx.requestId,
    data,
  });

  async function requireAccount(accountId: string): Promise<void> {
    if (!(await store.getAccount(accountId))) {
      throw new PortcullisError('ACCOUNT_NOT_FOUND', `No account ${accountId}.`);
    }
  }

  async function insert(
    accountId: string,
    input: AddressInput,
    ctx: ActorContext,
  ): Promise<AddressBookEntry> {
    const settings = await store.getWithdrawalSettings(accountId);
    const entry = newAddressBookEntry(
      {
        id: newId('adr_'),
        accountId,
        asset: input.asset,
        network: input.network ?? '',
        address: input.address,
        ...(input.memo !== undefined ? { memo: input.memo } : {}),
      },
      clock.now(),
      settings?.coolDownMs ?? DEFAULT_ADDRESS_COOL_DOWN_MS,
    );
    await store.addAddress(
      entry,
      draft(ctx, 'address.add', accountId, { after: entryJson(entry) }),
    );
    return entry;
  }

  approvals.register('address.add', {
    digest: (subject) => subjectDigest(subject),
    async execute(record, ctx) {
      const subject = record.subject as { accountId: string; address: AddressInput & JsonObject };
      const entry = await insert(subject.accountId, subject.address, ctx);
      return { ok: true, result: { address: entryJson(entry) }, detail: 'address added' };
    },
  });

  return {
    getSettings: (accountId: string) => store.getWithdrawalSettings(accountId),

    async putSettings(
      accountId: string,
      input: SettingsInput,
      ctx: ActorContext,
    ): Promise<WithdrawalSettings> {
      await requireAccount(accountId);
      const settings: WithdrawalSettings = {
        accountId,
        addressBookRequired: input.addressBookRequired ?? true,
        coolDownMs: input.coolDownMs ?? DEFAULT_ADDRESS_COOL_DOWN_MS,
        accountLimits: checkLimits(input.accountLimits ?? {}),
        keyLimits: checkLimits(input.keyLimits ?? {}),
        addressApprovalQuorum: input.addressApprovalQuorum ?? 0,
        updatedAt: clock.now(),
      };
      const before = await store.getWithdrawalSettings(accountId);
      await store.putWithdrawalSettings(
        settings,
        draft(ctx, 'withdrawal-rules.update', accountId, {
          before: before ? settingsJson(before) : null,
          after: settingsJson(settings),
        }),
      );
      return settings;
    },

    async listAddresses(accountId: string): Promise<AddressBookEntry[]> {
      await requireAccount(accountId);
      return store.listAddresses(accountId);
    },

    /** Adds an address (its cool-down starts now), or holds the addition for approval. */
    async addAddress(
      accountId: string,
      input: AddressInput,
      ctx: ActorContext & { person: string },
    ): Promise<AddAddressResult> {
      await requireAccount(accountId);
      if (!ASSET.test(input.asset) || !ADDRESS.test(input.address)) {
        throw new PortcullisError('VALIDATION_FAILED', 'asset or address is malformed.');
      }
      const settings = await store.getWithdrawalSettings(accountId);
      const quorum = settings?.addressApprovalQuorum ?? 0;
      if (quorum > 0) {
        const subject: JsonObject = { accountId, address: { ...input } };
        const approval = await approvals.hold(
          {
            kind: 'address.add',
            subject,
            digest: subjectDigest(subject),
            initiator: ctx.person,
            quorum,
          },
          ctx,
        );
        return { approvalId: approval.id, quorum };
      }
      return { added: await insert(accountId, input, ctx) };
    },

    /**
     * Reserves a withdrawal when the account has rules; `none` when it has none. The store applies
     * the decision to the latest ledger inside one transaction.
     */
    async reserve(input: {
      accountId: string;
      keyId: string;
      asset: string;
      network: string;
      address: string;
      amount: string;
      requestId: string;
    }): Promise<
      | { kind: 'none' }
      | { kind: 'reserved'; reservationId: string }
      | { kind: 'refused'; result: Exclude<ReserveResult, { ok: true }> }
    > {
      const settings = await store.getWithdrawalSettings(input.accountId);
      if (!settings) return { kind: 'none' };
      const reservationId = newId('res_');
      const result = await store.reserveWithdrawal(
        {
          reservationId,
          accountId: input.accountId,
          keyId: input.keyId,
          asset: input.asset,
          network: input.network,
          address: input.address,
          amount: input.amount,
        },
        {
          addressBookRequired: settings.addressBookRequired,
          account: settings.accountLimits,
          key: settings.keyLimits,
        },
        clock.now(),
        draft(
          { actor: input.keyId, requestId: input.requestId },
          'withdrawal.reserve',
          reservationId,
          {
            accountId: input.accountId,
            keyId: input.keyId,
            asset: input.asset,
            address: input.address,
          },
        ),
      );
      return result.ok ? { kind: 'reserved', reservationId } : { kind: 'refused', result };
    },

    /** Commits a reservation after the upstream accepted, or releases it after a failure. */
    settle(
      accountId: string,
      reservationId: string,
      outcome: 'commit' | 'release',
      ctx: ActorContext,
    ): Promise<boolean> {
      return store.settleReservation(
        accountId,
        reservationId,
        outcome,
        clock.now(),
        draft(ctx, `withdrawal.${outcome}`, reservationId, { accountId }),
      );
    },
  };
}

export type WithdrawalService = ReturnType<typeof createWithdrawalService>;

type JsonObject = { readonly [name: string]: JsonValue };

function checkLimits(limits: AmountLimits): AmountLimits {
  for (const value of [limits.perTransaction, limits.perHour, limits.perDay]) {
    if (value !== undefined && normalizeDecimal(value) === undefined) {
      throw new PortcullisError(
        'VALIDATION_FAILED',
        `Limit ${JSON.stringify(value)} is not a plain decimal.`,
      );
    }
  }
  return limits;
}

function subjectDigest(subject: JsonObject): string {
  return createHash('sha256').update(canonicalJson(subject)).digest('hex');
}

export function entryJson(entry: AddressBookEntry): { [name: string]: JsonValue } {
  return {
    id: entry.id,
    accountId: entry.accountId,
    asset: entry.asset,
    network: entry.network,
    address: entry.address,
    memo: entry.memo ?? null,
    addedAt: new Date(entry.addedAt).toISOString(),
    usableFrom: new Date(entry.usableFrom).toISOString(),
  };
}

export function settingsJson(settings: WithdrawalSettings): { [name: string]: JsonValue } {
  return {
    accountId: settings.accountId,
    addressBookRequired: settings.addressBookRequired,
    coolDownMs: settings.coolDownMs,
    accountLimits: { ...settings.accountLimits },
    keyLimits: { ...settings.keyLimits },
    addressApprovalQuorum: settings.addressApprovalQuorum,
    updatedAt: new Date(settings.updatedAt).toISOString(),
  };
}
