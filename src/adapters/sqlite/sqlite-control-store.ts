import BetterSqlite3, { type Database, type Statement } from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setImmediate as nextTurn } from 'node:timers/promises';
import {
  chainAuditEntry,
  type AuditDraft,
  type AuditEntry,
  type AuditSealer,
} from '../../core/audit/audit-chain.js';
import type { JsonValue } from '../../core/audit/canonical-json.js';
import type { Clock } from '../../core/clock.js';
import type { Account } from '../../core/keys/model.js';
import type {
  AccountPage,
  AdminToken,
  AllowanceStore,
  ApprovalStore,
  AuditQuery,
  ControlStore,
  GovernanceStore,
  PolicyStore,
  WithdrawalStore,
  KeyListFilter,
  KeyUpdate,
  SealedReplacement,
  StoredKey,
  StoredSecretVersion,
} from '../../ports.js';
import { migrateSqlite } from './migrations.js';
import { createSqliteGovernance } from './sqlite-governance.js';
import { createSqliteRiskStore } from './risk-store.js';
import type { RiskStore, RiskStoreProvider } from '../../services/risk-store.js';
import {
  adminTokenFromRow,
  auditFromRow,
  keyFromRow,
  keyParams,
  secretFromRow,
  secretParams,
  type AdminTokenRow,
  type AuditRow,
  type KeyRow,
  type SecretRow,
} from './rows.js';

export interface SqliteStoreOptions {
  /** A file path, or `:memory:`. */
  readonly path: string;
  readonly clock: Clock;
  /**
   * `FULL` (the default) for every real use. `OFF` only for bulk seeding by tools such as the
   * benchmark, where losing the file on a crash does not matter: it also keeps the rollback
   * journal in memory instead of the WAL (a quarter faster to seed; the next open is WAL again).
   */
  readonly synchronous?: 'FULL' | 'OFF';
}

/** The control store plus the governance ports (policies, approvals, withdrawal rules). */
export type SqliteControlStore = ControlStore & GovernanceStore & RiskStoreProvider;

/**
 * The statement behind listAudit (exported so that a test can ask SQLite for its plan): an
 * action or target filter is a range of its index (migration 6), seq order comes from the rowid.
 */
export function auditListSql(query: AuditQuery): { sql: string; params: (string | number)[] } {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (query.afterSeq !== undefined) {
    where.push('seq > ?');
    params.push(query.afterSeq);
  }
  if (query.action !== undefined) {
    where.push('action = ?');
    params.push(query.action);
  }
  if (query.target !== undefined) {
    where.push('target = ?');
    params.push(query.target);
  }
  const filter = where.length ? `WHERE ${where.join(' AND ')} ` : '';
  params.push(query.limit);
  return { sql: `SELECT * FROM audit_log ${filter}ORDER BY seq LIMIT ?`, params };
}

/** Keyset pages of accounts over the (created_at, id) index (migration 7; exported for its plan test). */
export const ACCOUNT_PAGE_SQL = {
  first: 'SELECT id, name, created_at FROM accounts ORDER BY created_at, id LIMIT ?',
  after: `SELECT id, name, created_at FROM accounts
    WHERE (created_at, id) > (SELECT created_at, id FROM accounts WHERE id = ?)
    ORDER BY created_at, id LIMIT ?`,
} as const;

/** The embedded control store: better-sqlite3 in WAL mode with full fsync on commit. */
export function createSqliteControlStore(options: SqliteStoreOptions): SqliteControlStore {
  if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
  const db: Database = new BetterSqlite3(options.path);
  db.pragma(options.synchronous === 'OFF' ? 'journal_mode = MEMORY' : 'journal_mode = WAL');
  // FULL: an acknowledged control-plane change survives a crash of the machine, not only of the process.
  db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrateSqlite(db, options.clock.now());
  return new SqliteStore(db);
}

class SqliteStore implements ControlStore, GovernanceStore, RiskStoreProvider {
  private sealer: AuditSealer | undefined;
  private readonly stmts;
  private readonly governance: GovernanceStore;

  constructor(private readonly db: Database) {
    this.governance = createSqliteGovernance({
      db,
      tx: (fn) => this.tx(fn),
      appendInTx: (draft) => this.appendInTx(draft),
    });
    const p = <T extends unknown[] = unknown[]>(sql: string): Statement<T> => db.prepare<T>(sql);
    this.stmts = {
      lastAudit: p('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1'),
      insertAudit:
        p(`INSERT INTO audit_log (seq, ts, actor, action, target, request_id, data, prev_hash, hash, seal)
        VALUES (@seq, @ts, @actor, @action, @target, @requestId, @data, @prevHash, @hash, @seal)`),
      insertAccount: p('INSERT INTO accounts (id, name, created_at) VALUES (?, ?, ?)'),
      getAccount: p('SELECT id, name, created_at FROM accounts WHERE id = ?'),
      listAccounts: p(ACCOUNT_PAGE_SQL.first),
      listAccountsAfter: p(ACCOUNT_PAGE_SQL.after),
      insertKey:
        p(`INSERT INTO api_keys (id, account_id, label, environment, scheme, scopes, ip_allowlist,
        passphrase_hash, public_key_pem, status, created_at, expires_at, revoked_at, last_used_at, epoch, secret_version)
        VALUES (@id, @accountId, @label, @environment, @scheme, @scopes, @ipAllowlist, @passphraseHash, @publicKeyPem,
        @status, @createdAt, @expiresAt, @revokedAt, @lastUsedAt, @epoch, @secretVersion)`),
      updateKey:
        p(`UPDATE api_keys SET label = @label, scopes = @scopes, ip_allowlist = @ipAllowlist,
        passphrase_hash = @passphraseHash, public_key_pem = @publicKeyPem, status = @status, expires_at = @expiresAt,
        revoked_at = @revokedAt, epoch = @epoch, secret_version = @secretVersion
        WHERE id = @id AND epoch = @expectedEpoch`),
      // With the kinds of the key's spend allowances, so that the data plane knows without
      // another read whether a request must be held against one (docs/policies.md §4.1).
      getKey: p(`SELECT *, (SELECT group_concat(DISTINCT kind) FROM key_allowances
        WHERE key_id = api_keys.id) AS allowance_kinds FROM api_keys WHERE id = ?`),
      insertSecret:
        p(`INSERT INTO key_secrets (key_id, version, ciphertext, iv, tag, wrapped_dek, dek_iv, dek_tag,
        kek_id, created_at, not_after) VALUES (@keyId, @version, @ciphertext, @iv, @tag, @wrappedDek, @dekIv, @dekTag,
        @kekId, @createdAt, @notAfter)`),
      retireSecrets: p(
        `UPDATE key_secrets SET not_after = ? WHERE key_id = ? AND (not_after IS NULL OR not_after > ?)`,
      ),
      getSecrets: p('SELECT * FROM key_secrets WHERE key_id = ? ORDER BY version DESC'),
      touchKey: p(
        'UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)',
      ),
      insertToken:
        p(`INSERT INTO admin_tokens (id, role, label, token_hash, created_at, expires_at, revoked_at, created_by)
        VALUES (@id, @role, @label, @tokenHash, @createdAt, @expiresAt, @revokedAt, @createdBy)`),
      tokenByHash: p('SELECT * FROM admin_tokens WHERE token_hash = ?'),
      listTokens: p('SELECT * FROM admin_tokens ORDER BY created_at, id'),
      countTokens: p('SELECT count(*) AS n FROM admin_tokens'),
      sealedNotUnder: p('SELECT * FROM key_secrets WHERE kek_id != ? LIMIT ?'),
      replaceSealed:
        p(`UPDATE key_secrets SET ciphertext = @ciphertext, iv = @iv, tag = @tag, wrapped_dek = @wrappedDek,
        dek_iv = @dekIv, dek_tag = @dekTag, kek_id = @kekId WHERE key_id = @keyId AND version = @version`),
      kekIds: p('SELECT DISTINCT kek_id FROM key_secrets'),
      getMeta: p('SELECT value FROM meta WHERE name = ?'),
      setMeta: p(
        'INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value',
      ),
    };
  }

  setAuditSealer(sealer: AuditSealer): void {
    this.sealer = sealer;
  }

  /** Appends inside the caller's transaction: reads the head and links the entry to it. */
  private appendInTx(draft: AuditDraft): AuditEntry {
    if (!this.sealer) throw new Error('audit sealer not configured');
    const head = this.stmts.lastAudit.get() as { seq: number; hash: string } | undefined;
    const entry = chainAuditEntry(draft, head, this.sealer);
    this.stmts.insertAudit.run({ ...entry, data: JSON.stringify(entry.data) });
    return entry;
  }

  /** BEGIN IMMEDIATE: the write lock is taken up front, so the audit head cannot move under us. */
  private tx<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }

  createAccount(account: Account, audit: AuditDraft): Promise<void> {
    return settle(() => {
      this.tx(() => {
        this.stmts.insertAccount.run(account.id, account.name, account.createdAt);
        this.appendInTx(audit);
      });
    });
  }

  getAccount(id: string): Promise<Account | undefined> {
    const row = this.stmts.getAccount.get(id) as
      { id: string; name: string; created_at: number } | undefined;
    return Promise.resolve(row && { id: row.id, name: row.name, createdAt: row.created_at });
  }

  listAccounts(page: AccountPage): Promise<Account[]> {
    const rows = (
      page.after === undefined
        ? this.stmts.listAccounts.all(page.limit)
        : this.stmts.listAccountsAfter.all(page.after, page.limit)
    ) as {
      id: string;
      name: string;
      created_at: number;
    }[];
    return Promise.resolve(
      rows.map((row) => ({ id: row.id, name: row.name, createdAt: row.created_at })),
    );
  }

  createKey(
    stored: StoredKey,
    secret: StoredSecretVersion | null,
    audit: AuditDraft,
  ): Promise<void> {
    return settle(() => {
      this.tx(() => {
        this.stmts.insertKey.run(keyParams(stored));
        if (secret) this.stmts.insertSecret.run(secretParams(secret));
        this.appendInTx(audit);
      });
    });
  }

  getKey(id: string): Promise<StoredKey | undefined> {
    const row = this.stmts.getKey.get(id) as KeyRow | undefined;
    return Promise.resolve(row && keyFromRow(row));
  }

  listKeys(filter: KeyListFilter): Promise<StoredKey[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.accountId !== undefined) {
      where.push('account_id = ?');
      params.push(filter.accountId);
    }
    if (filter.environment !== undefined) {
      where.push('environment = ?');
      params.push(filter.environment);
    }
    if (filter.after !== undefined) {
      where.push('id > ?');
      params.push(filter.after);
    }
    const sql = `SELECT * FROM api_keys ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT ?`;
    const rows = this.db.prepare(sql).all(...params, filter.limit) as KeyRow[];
    return Promise.resolve(rows.map(keyFromRow));
  }

  updateKey(update: KeyUpdate, audit: AuditDraft): Promise<boolean> {
    return settle(() =>
      this.tx(() => {
        const result = this.stmts.updateKey.run({
          ...keyParams(update.stored),
          expectedEpoch: update.expectedEpoch,
        });
        if (result.changes !== 1) return false;
        if (update.retireOthersAt !== undefined) {
          this.stmts.retireSecrets.run(
            update.retireOthersAt,
            update.stored.key.id,
            update.retireOthersAt,
          );
        }
        if (update.newSecret) this.stmts.insertSecret.run(secretParams(update.newSecret));
        this.appendInTx(audit);
        return true;
      }),
    );
  }

  getSecrets(keyId: string): Promise<StoredSecretVersion[]> {
    return Promise.resolve((this.stmts.getSecrets.all(keyId) as SecretRow[]).map(secretFromRow));
  }

  recordKeyUse(uses: readonly { keyId: string; at: number }[]): Promise<void> {
    this.db.transaction(() => {
      for (const use of uses) this.stmts.touchKey.run(use.at, use.keyId, use.at);
    })();
    return Promise.resolve();
  }

  createAdminToken(token: AdminToken, audit: AuditDraft): Promise<void> {
    return settle(() => {
      this.tx(() => {
        this.stmts.insertToken.run({ ...token });
        this.appendInTx(audit);
      });
    });
  }

  findAdminTokenByHash(tokenHash: string): Promise<AdminToken | undefined> {
    const row = this.stmts.tokenByHash.get(tokenHash) as AdminTokenRow | undefined;
    return Promise.resolve(row && adminTokenFromRow(row));
  }

  listAdminTokens(): Promise<AdminToken[]> {
    return Promise.resolve((this.stmts.listTokens.all() as AdminTokenRow[]).map(adminTokenFromRow));
  }

  countAdminTokens(): Promise<number> {
    return Promise.resolve((this.stmts.countTokens.get() as { n: number }).n);
  }

  appendAudit(audit: AuditDraft): Promise<AuditEntry> {
    return settle(() => this.tx(() => this.appendInTx(audit)));
  }

  listAudit(query: AuditQuery): Promise<AuditEntry[]> {
    const { sql, params } = auditListSql(query);
    const rows = this.db.prepare(sql).all(...params) as AuditRow[];
    return Promise.resolve(rows.map(auditFromRow));
  }

  /**
   * Stored order is rowid order (`seq` is its alias): a reordering or renumbering shows as a
   * broken link. The chain is read a page at a time and the event loop gets a turn between
   * pages: read in one go, 100,000 entries held it (and every data plane of the process) for
   * 1.8 s here, and an open iterator would keep the connection busy across the turn. The cursor
   * is read as a BigInt, so that a renumbering past 2^53 cannot make a page repeat.
   */
  async scanAudit(onBatch: (entries: readonly AuditEntry[]) => void): Promise<void> {
    const first = this.db
      .prepare('SELECT rowid AS cursor, * FROM audit_log ORDER BY rowid LIMIT ?')
      .safeIntegers(true);
    const next = this.db
      .prepare('SELECT rowid AS cursor, * FROM audit_log WHERE rowid > ? ORDER BY rowid LIMIT ?')
      .safeIntegers(true);
    let rows = first.all(AUDIT_SCAN_PAGE) as ScannedAuditRow[];
    for (;;) {
      const last = rows[rows.length - 1];
      if (last === undefined) return;
      onBatch(
        rows.map((row) => auditFromRow({ ...row, seq: Number(row.seq), ts: Number(row.ts) })),
      );
      if (rows.length < AUDIT_SCAN_PAGE) return;
      await nextTurn();
      rows = next.all(last.cursor, AUDIT_SCAN_PAGE) as ScannedAuditRow[];
    }
  }

  listSealedNotUnder(kekId: string, limit: number): Promise<StoredSecretVersion[]> {
    return Promise.resolve(
      (this.stmts.sealedNotUnder.all(kekId, limit) as SecretRow[]).map(secretFromRow),
    );
  }

  replaceSealed(envelopes: readonly SealedReplacement[]): Promise<void> {
    return settle(() => {
      this.db.transaction(() => {
        for (const { keyId, version, sealed } of envelopes) {
          this.stmts.replaceSealed.run({ keyId, version, ...sealed });
        }
      })();
    });
  }

  listKekIds(): Promise<string[]> {
    return Promise.resolve(
      (this.stmts.kekIds.all() as { kek_id: string }[]).map((row) => row.kek_id),
    );
  }

  getMeta(name: string): Promise<string | undefined> {
    return Promise.resolve((this.stmts.getMeta.get(name) as { value: string } | undefined)?.value);
  }

  setMeta(name: string, value: string): Promise<void> {
    return settle(() => {
      this.stmts.setMeta.run(name, value);
    });
  }

  // Governance ports: delegated to sqlite-governance.ts, inside this store's transactions.
  listPolicies: PolicyStore['listPolicies'] = () => this.governance.listPolicies();
  getPolicy: PolicyStore['getPolicy'] = (id) => this.governance.getPolicy(id);
  policyHistory: PolicyStore['policyHistory'] = (id) => this.governance.policyHistory(id);
  writePolicy: PolicyStore['writePolicy'] = (record, expected, audit) =>
    this.governance.writePolicy(record, expected, audit);
  createApproval: ApprovalStore['createApproval'] = (record, audit) =>
    this.governance.createApproval(record, audit);
  getApproval: ApprovalStore['getApproval'] = (id) => this.governance.getApproval(id);
  listApprovals: ApprovalStore['listApprovals'] = (filter) => this.governance.listApprovals(filter);
  transitionApproval: ApprovalStore['transitionApproval'] = (next, transition, audit, result) =>
    this.governance.transitionApproval(next, transition, audit, result);
  getWithdrawalSettings: WithdrawalStore['getWithdrawalSettings'] = (accountId) =>
    this.governance.getWithdrawalSettings(accountId);
  putWithdrawalSettings: WithdrawalStore['putWithdrawalSettings'] = (settings, audit) =>
    this.governance.putWithdrawalSettings(settings, audit);
  addAddress: WithdrawalStore['addAddress'] = (entry, audit) =>
    this.governance.addAddress(entry, audit);
  listAddresses: WithdrawalStore['listAddresses'] = (accountId) =>
    this.governance.listAddresses(accountId);
  reserveWithdrawal: WithdrawalStore['reserveWithdrawal'] = (request, rules, nowMs, audit) =>
    this.governance.reserveWithdrawal(request, rules, nowMs, audit);
  settleReservation: WithdrawalStore['settleReservation'] = (account, id, outcome, nowMs, audit) =>
    this.governance.settleReservation(account, id, outcome, nowMs, audit);
  addAllowance: AllowanceStore['addAllowance'] = (allowance, createdAt, audit) =>
    this.governance.addAllowance(allowance, createdAt, audit);
  listAllowances: AllowanceStore['listAllowances'] = (keyId) =>
    this.governance.listAllowances(keyId);
  removeAllowance: AllowanceStore['removeAllowance'] = (keyId, id, audit) =>
    this.governance.removeAllowance(keyId, id, audit);
  holdAllowances: AllowanceStore['holdAllowances'] = (spend, nowMs) =>
    this.governance.holdAllowances(spend, nowMs);
  settleAllowanceHold: AllowanceStore['settleAllowanceHold'] = (holdId, outcome) =>
    this.governance.settleAllowanceHold(holdId, outcome);

  private risk: RiskStore | undefined;

  /** Alerts and anomaly responses, in this database (migration 4): shared by its users. */
  riskStore(): RiskStore {
    this.risk ??= createSqliteRiskStore(this.db);
    return this.risk;
  }

  close(): Promise<void> {
    if (this.db.open) this.db.close();
    return Promise.resolve();
  }
}

/** Audit entries per page of scanAudit: about 17 ms of chain verification here. */
export const AUDIT_SCAN_PAGE = 1000;

/** An audit row read with safe integers: the cursor and the integer columns as BigInts. */
type ScannedAuditRow = Omit<AuditRow, 'seq' | 'ts'> & {
  readonly cursor: bigint;
  readonly seq: bigint;
  readonly ts: bigint;
};

/**
 * Runs a synchronous driver call behind a Promise-returning port method: a failure (constraint,
 * busy, closed database) becomes a rejected promise, never a synchronous throw.
 */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

export type { JsonValue };
