/**
 * The interfaces adapters implement. `core` never imports this file's implementations; the
 * composition root (src/app/runtime.ts) picks one adapter per port from the configuration.
 */
import type { AuditDraft, AuditEntry, AuditSealer } from './core/audit/audit-chain.js';
import type { JsonValue } from './core/audit/canonical-json.js';
import type { Approval, ApprovalState, ApprovalTransition } from './core/approvals/approval.js';
import type { Account, ApiKey, Environment } from './core/keys/model.js';
import type { PolicyEffect, PolicyMode, PolicyTarget } from './core/policy/model.js';
import type { AddressBookEntry } from './core/transactions/address-book.js';
import type { AllowanceDecision, AllowanceSpend } from './core/transactions/allowance-ledger.js';
import type { AllowanceUsage, SpendAllowance } from './core/transactions/spend-allowance.js';
import type {
  AmountLimits,
  ReserveResult,
  WithdrawalRequest,
  WithdrawalRules,
} from './core/transactions/withdrawal-ledger.js';

export type { ReplayGuard, ReplayVerdict } from './core/replay/replay-guard.js';

/** An AES-256-GCM envelope: the secret under a per-record data key, that key under a master key. */
export interface SealedSecret {
  readonly ciphertext: Buffer;
  readonly iv: Buffer;
  readonly tag: Buffer;
  readonly wrappedDek: Buffer;
  readonly dekIv: Buffer;
  readonly dekTag: Buffer;
  readonly kekId: string;
}

/** A key as stored: the model plus verification material that is not secret-bearing. */
export interface StoredKey {
  readonly key: ApiKey;
  /** scrypt hash of the OKX-style passphrase (`scrypt$N$r$p$salt$hash`), if any. */
  readonly passphraseHash: string | null;
  /** SPKI PEM of an Ed25519 public key, for `ed25519` keys. */
  readonly publicKeyPem: string | null;
}

/** A secret version's new envelope (master-key rotation). */
export interface SealedReplacement {
  readonly keyId: string;
  readonly version: number;
  readonly sealed: SealedSecret;
}

/** One version of a key's HMAC secret. */
export interface StoredSecretVersion {
  readonly keyId: string;
  readonly version: number;
  readonly sealed: SealedSecret;
  readonly createdAt: number;
  /** After this time the version no longer verifies (rotation grace end); null = current. */
  readonly notAfter: number | null;
}

export const ADMIN_ROLES = ['owner', 'operator', 'auditor', 'approver'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

export interface AdminToken {
  readonly id: string;
  readonly role: AdminRole;
  readonly label: string;
  /** SHA-256 (hex) of the token string; the token itself is never stored. */
  readonly tokenHash: string;
  readonly createdAt: number;
  readonly expiresAt: number | null;
  readonly revokedAt: number | null;
  readonly createdBy: string;
}

export interface KeyListFilter {
  readonly accountId?: string;
  readonly environment?: Environment;
  /** Return keys whose id sorts after this one (pagination cursor). */
  readonly after?: string;
  readonly limit: number;
}

/** A page of accounts, oldest first. */
export interface AccountPage {
  /** Return the accounts created after this one (pagination cursor: an account id). */
  readonly after?: string;
  readonly limit: number;
}

export interface AuditQuery {
  readonly afterSeq?: number;
  readonly action?: string;
  readonly target?: string;
  readonly limit: number;
}

/** A key change written atomically with its audit entry. */
export interface KeyUpdate {
  readonly stored: StoredKey;
  /** The epoch the change was computed from; the write fails if the stored epoch moved. */
  readonly expectedEpoch: number;
  /** A new secret version to add (rotation). */
  readonly newSecret?: StoredSecretVersion;
  /** Give every earlier live secret version this end of validity (rotation grace). */
  readonly retireOthersAt?: number;
}

/**
 * Accounts, keys, admin tokens and the audit log. Every mutating method appends its audit
 * entry in the same transaction as the change: both happen or neither does.
 */
export interface ControlStore {
  /** Installs the function that seals audit entries (needs the unwrapped audit key). */
  setAuditSealer(sealer: AuditSealer): void;

  createAccount(account: Account, audit: AuditDraft): Promise<void>;
  getAccount(id: string): Promise<Account | undefined>;
  /**
   * Accounts in creation order (then by id), a page at a time. An `after` that names no
   * account gives an empty page; callers that take it from a client check it first.
   */
  listAccounts(page: AccountPage): Promise<Account[]>;

  createKey(
    stored: StoredKey,
    secret: StoredSecretVersion | null,
    audit: AuditDraft,
  ): Promise<void>;
  getKey(id: string): Promise<StoredKey | undefined>;
  listKeys(filter: KeyListFilter): Promise<StoredKey[]>;
  /** Returns false (and writes nothing) if the key's epoch is no longer `expectedEpoch`. */
  updateKey(update: KeyUpdate, audit: AuditDraft): Promise<boolean>;
  /** Secret versions of a key, newest first. */
  getSecrets(keyId: string): Promise<StoredSecretVersion[]>;
  /** Last-use bookkeeping, batched off the request path; not audited. */
  recordKeyUse(uses: readonly { keyId: string; at: number }[]): Promise<void>;

  createAdminToken(token: AdminToken, audit: AuditDraft): Promise<void>;
  findAdminTokenByHash(tokenHash: string): Promise<AdminToken | undefined>;
  listAdminTokens(): Promise<AdminToken[]>;
  countAdminTokens(): Promise<number>;

  appendAudit(audit: AuditDraft): Promise<AuditEntry>;
  listAudit(query: AuditQuery): Promise<AuditEntry[]>;
  /** Streams the whole chain in stored order, in batches. */
  scanAudit(onBatch: (entries: readonly AuditEntry[]) => void): Promise<void>;

  /** Secret versions (and other sealed records) not yet wrapped by `kekId`, for re-wrapping. */
  listSealedNotUnder(kekId: string, limit: number): Promise<StoredSecretVersion[]>;
  /**
   * Replaces the envelopes of secret versions (master-key rotation), all in one transaction: a
   * commit each made a rotation of 100,000 keys wait for 100,000 fsyncs.
   */
  replaceSealed(envelopes: readonly SealedReplacement[]): Promise<void>;
  /** Every distinct master-key id that wraps something. */
  listKekIds(): Promise<string[]>;

  getMeta(name: string): Promise<string | undefined>;
  setMeta(name: string, value: string): Promise<void>;

  close(): Promise<void>;
}

/** A control-plane change other caches must apply (in a cluster, every node's). */
export type ChangeEvent =
  | { readonly type: 'key.changed'; readonly keyId: string; readonly epoch: number }
  | { readonly type: 'admin-token.changed'; readonly tokenId: string }
  | { readonly type: 'policy.changed'; readonly policyId: string }
  /** An anomaly response was decided or lifted, or an alert changed state: re-read them. */
  | { readonly type: 'risk.changed'; readonly target: string }
  /** An access token was revoked (RFC 7009): WebSocket sessions opened with it end at once. */
  | { readonly type: 'token.revoked'; readonly jti: string }
  /** A node banned an IP prefix (escalating 418 ban): every node applies it. */
  | {
      readonly type: 'ban.imposed';
      readonly environment: Environment;
      readonly prefix: string;
      readonly untilMs: number;
      readonly offences: number;
      /**
       * When the ban was decided, on the deciding node's clock (its `ban.create` entry's `ts`);
       * absent from nodes of before 2026-12-07.
       */
      readonly decidedAtMs?: number;
    }
  /** A ban was lifted through the admin API: every node lifts it. */
  | {
      readonly type: 'ban.lifted';
      readonly environment: Environment;
      readonly prefix: string;
      readonly forgive: boolean;
    };

export interface ChangeEvents {
  publish(event: ChangeEvent): void;
  /** Returns an unsubscribe function. */
  subscribe(handler: (event: ChangeEvent) => void): () => void;
}

// ---------------------------------------------------------------------------------------------
// Governance ports (policies, approvals, withdrawal rules). Separate from ControlStore so that an
// adapter can add them on its own schedule; the composition root checks `hasGovernance`.
// Every mutating method appends its audit entry in the same transaction as the change.

/** `require-approval` rules hold a matching request for multi-party approval (docs/policies.md §5). */
export type PolicyRuleEffect = PolicyEffect | 'require-approval';

/** One version of a policy as stored. The latest version of an id is the current one. */
export interface PolicyRecord {
  readonly id: string;
  readonly version: number;
  readonly effect: PolicyRuleEffect;
  readonly target: PolicyTarget;
  readonly condition: string;
  readonly mode: PolicyMode;
  readonly description: string;
  /** Distinct approvers a `require-approval` rule asks for; null for permit and forbid. */
  readonly quorum: number | null;
  /** False for the tombstone version a deletion writes. */
  readonly active: boolean;
  /** When version 1 was written. */
  readonly createdAt: number;
  /** When this version was written, and by whom. */
  readonly updatedAt: number;
  readonly updatedBy: string;
}

export interface PolicyStore {
  /** The latest version of every policy that is still active, in creation order. */
  listPolicies(): Promise<PolicyRecord[]>;
  /** The latest version of one policy (possibly a deletion tombstone). */
  getPolicy(id: string): Promise<PolicyRecord | undefined>;
  /** Every version of one policy, oldest first. */
  policyHistory(id: string): Promise<PolicyRecord[]>;
  /**
   * Appends a version. Returns false (and writes nothing) when the latest stored version is not
   * `expectedVersion` (0: the id must not exist yet).
   */
  writePolicy(record: PolicyRecord, expectedVersion: number, audit: AuditDraft): Promise<boolean>;
}

/** An approval row: the state machine, what it holds, and the outcome once executed. */
export interface ApprovalRecord {
  readonly approval: Approval;
  /** The held request (exact bytes for data-plane requests, the change for admin-side ones). */
  readonly subject: { readonly [name: string]: JsonValue };
  /** What the execution returned (status and body summary), once finished. */
  readonly result: { readonly [name: string]: JsonValue } | null;
}

export interface ApprovalStore {
  createApproval(record: ApprovalRecord, audit: AuditDraft): Promise<void>;
  getApproval(id: string): Promise<ApprovalRecord | undefined>;
  listApprovals(filter: {
    readonly state?: ApprovalState;
    readonly limit: number;
  }): Promise<ApprovalRecord[]>;
  /**
   * Compare-and-set: writes `next` only if the stored row is still at `transition.from` (state and
   * version). Returns false (and writes nothing) when another writer moved it first.
   */
  transitionApproval(
    next: Approval,
    transition: ApprovalTransition,
    audit: AuditDraft,
    result?: { readonly [name: string]: JsonValue },
  ): Promise<boolean>;
}

/** An account's withdrawal rules; absent settings mean the rules are off for the account. */
export interface WithdrawalSettings {
  readonly accountId: string;
  /** Destinations must be usable address-book entries. */
  readonly addressBookRequired: boolean;
  readonly coolDownMs: number;
  readonly accountLimits: AmountLimits;
  /** Applied to every key of the account. */
  readonly keyLimits: AmountLimits;
  /** Approvers needed to add an address (0: none; the cool-down still applies). */
  readonly addressApprovalQuorum: number;
  readonly updatedAt: number;
}

export type ReserveInput = Omit<WithdrawalRules, 'addressBook'> & {
  readonly addressBookRequired: boolean;
};

export interface WithdrawalStore {
  getWithdrawalSettings(accountId: string): Promise<WithdrawalSettings | undefined>;
  putWithdrawalSettings(settings: WithdrawalSettings, audit: AuditDraft): Promise<void>;
  addAddress(entry: AddressBookEntry, audit: AuditDraft): Promise<void>;
  listAddresses(accountId: string): Promise<AddressBookEntry[]>;
  /**
   * Applies `reserve` (src/core/transactions) to the LATEST ledger state and address book of the
   * account inside one transaction, so that concurrent withdrawals cannot exceed a limit together.
   * The audit entry is written only when the reservation is made.
   */
  reserveWithdrawal(
    request: WithdrawalRequest,
    rules: ReserveInput,
    nowMs: number,
    audit: AuditDraft,
  ): Promise<ReserveResult>;
  /** Commits (upstream accepted) or releases (upstream failed) a reservation; false if it cannot. */
  settleReservation(
    accountId: string,
    reservationId: string,
    outcome: 'commit' | 'release',
    nowMs: number,
    audit: AuditDraft,
  ): Promise<boolean>;
}

/** An allowance as stored, with its usage counter (undefined before the first spend). */
export interface StoredAllowance {
  readonly allowance: SpendAllowance;
  readonly usage: AllowanceUsage | undefined;
  readonly createdAt: number;
}

/** Spend allowances of keys (docs/policies.md §4.1): bounded, expiring rights per key. */
export interface AllowanceStore {
  addAllowance(allowance: SpendAllowance, createdAt: number, audit: AuditDraft): Promise<void>;
  /** The key's allowances (expired ones included), oldest first. */
  listAllowances(keyId: string): Promise<StoredAllowance[]>;
  /** False (and no audit entry) when the key has no such allowance. */
  removeAllowance(keyId: string, allowanceId: string, audit: AuditDraft): Promise<boolean>;
  /**
   * Applies `holdAllowances` (src/core/transactions) to the key's allowances of the spend's kind
   * and their LATEST usage inside one transaction, so that concurrent spends cannot together
   * exceed an allowance. Not audited per spend (orders would serialise on the audit head).
   */
  holdAllowances(spend: AllowanceSpend, nowMs: number): Promise<AllowanceDecision>;
  /** Commits (amount stays spent) or releases (amount given back) a hold; false if unknown. */
  settleAllowanceHold(holdId: string, outcome: 'commit' | 'release'): Promise<boolean>;
}

export type GovernanceStore = PolicyStore & ApprovalStore & WithdrawalStore & AllowanceStore;

/** Whether a store also implements the governance ports (the SQLite and PostgreSQL adapters do). */
export function hasGovernance(store: ControlStore): store is ControlStore & GovernanceStore {
  const candidate = store as Partial<GovernanceStore>;
  return (
    typeof candidate.writePolicy === 'function' &&
    typeof candidate.transitionApproval === 'function' &&
    typeof candidate.reserveWithdrawal === 'function' &&
    typeof candidate.holdAllowances === 'function'
  );
}
