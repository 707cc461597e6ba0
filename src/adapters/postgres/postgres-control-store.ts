import {
  chainAuditEntry,
  type AuditDraft,
  type AuditEntry,
  type AuditSealer,
} from '../../core/audit/audit-chain.js';
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
  KeyListFilter,
  PolicyStore,
  WithdrawalStore,
  KeyUpdate,
  SealedReplacement,
  SealedSecret,
  StoredKey,
  StoredSecretVersion,
} from '../../ports.js';
import {
  adminTokenFromRow,
  auditFromRow,
  keyFromRow,
  keyParams,
  secretFromRow,
  type AdminTokenRow,
  type AuditRow,
  type KeyRow,
  type SecretRow,
} from '../sqlite/rows.js';
import { migratePostgres } from './migrations.js';
import { createPostgresGovernance } from './postgres-governance.js';
import { createPostgresRiskStore } from './postgres-risk-store.js';
import type { RiskStore, RiskStoreProvider } from '../../services/risk-store.js';
import {
  checkedSchemaName,
  createPgPool,
  toStoreError,
  type PgPool,
  type PgQueryable,
} from './pg-pool.js';

export interface PostgresStoreOptions {
  /** `postgres://user[:password]@host:port/database` */
  readonly url: string;
  readonly clock: Clock;
  /** Schema holding the tables (created if absent). Default: `?schema=` of the URL, else `public`. */
  readonly schema?: string;
  /** Connections per node. Default 10. */
  readonly maxConnections?: number;
  /** Longest wait for a connection. Default 2000 ms. */
  readonly connectTimeoutMs?: number;
  /** Longest a statement (or a lock wait) may take. Default 5000 ms. */
  readonly statementTimeoutMs?: number;
  /** Shown in pg_stat_activity (which node holds which connection). Default `portcullis`. */
  readonly applicationName?: string;
  /** Told about errors of idle pooled connections (e.g. the server restarted). */
  readonly onIdleError?: (error: Error) => void;
}

/** The control store plus the governance ports (policies, approvals, withdrawal rules). */
export type PostgresControlStore = ControlStore & GovernanceStore & RiskStoreProvider;

const SCAN_BATCH = 1000;

const KEY_COLUMNS = `id, account_id, label, environment, scheme, scopes, ip_allowlist, passphrase_hash,
  public_key_pem, status, created_at, expires_at, revoked_at, last_used_at, epoch, secret_version`;
const SECRET_COLUMNS = `key_id, version, ciphertext, iv, tag, wrapped_dek, dek_iv, dek_tag, kek_id,
  created_at, not_after`;

/** Keyset pages of accounts over the (created_at, id) index (migration 7; exported for its plan test). */
export const ACCOUNT_PAGE_SQL = {
  first: 'SELECT id, name, created_at FROM accounts ORDER BY created_at, id LIMIT $1',
  after: `SELECT id, name, created_at FROM accounts
    WHERE (created_at, id) > (SELECT created_at, id FROM accounts WHERE id = $1)
    ORDER BY created_at, id LIMIT $2`,
} as const;

/**
 * The statement behind listAudit (exported so that a test can ask PostgreSQL for its plan): an
 * action or target filter with the seq cursor is one range of an index on (column, seq)
 * (migration 6), already in seq order.
 */
export function auditListSql(query: AuditQuery): { sql: string; values: unknown[] } {
  const where: string[] = [];
  const values: unknown[] = [];
  const add = (clause: string, value: unknown) => {
    values.push(value);
    where.push(`${clause} $${values.length}`);
  };
  if (query.afterSeq !== undefined) add('seq >', query.afterSeq);
  if (query.action !== undefined) add('action =', query.action);
  if (query.target !== undefined) add('target =', query.target);
  values.push(query.limit);
  const filter = where.length ? `WHERE ${where.join(' AND ')} ` : '';
  return { sql: `SELECT * FROM audit_log ${filter}ORDER BY seq LIMIT $${values.length}`, values };
}

/**
 * The cluster control store on PostgreSQL. Runs the migrations (under an advisory lock) before
 * it resolves; a database that cannot be reached rejects with STORE_UNAVAILABLE.
 */
export async function createPostgresControlStore(
  options: PostgresStoreOptions,
): Promise<PostgresControlStore> {
  const target = splitSchemaParameter(options.url);
  const schema = checkedSchemaName(options.schema ?? target.schema ?? 'public');
  const pool = createPgPool({
    url: target.url,
    schema,
    ...(options.maxConnections !== undefined && { maxConnections: options.maxConnections }),
    ...(options.connectTimeoutMs !== undefined && { connectTimeoutMs: options.connectTimeoutMs }),
    ...(options.statementTimeoutMs !== undefined && {
      statementTimeoutMs: options.statementTimeoutMs,
    }),
    ...(options.applicationName !== undefined && { applicationName: options.applicationName }),
    ...(options.onIdleError && { onIdleError: options.onIdleError }),
  });
  try {
    await migratePostgres(pool, schema, options.clock.now());
  } catch (error) {
    await pool.end().catch(() => undefined);
    throw toStoreError(error);
  }
  return new PostgresStore(pool);
}

/**
 * `?schema=name` in the store URL selects the schema, so that `store: postgres://…` in the
 * configuration says everything; the parameter is removed before the driver sees the URL.
 */
export function splitSchemaParameter(url: string): { url: string; schema: string | undefined } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { url, schema: undefined };
  }
  const schema = parsed.searchParams.get('schema') ?? undefined;
  if (schema === undefined) return { url, schema };
  parsed.searchParams.delete('schema');
  return { url: parsed.toString(), schema };
}

class PostgresStore implements ControlStore, GovernanceStore, RiskStoreProvider {
  private sealer: AuditSealer | undefined;
  private readonly governance: GovernanceStore;

  constructor(private readonly pool: PgPool) {
    this.governance = createPostgresGovernance({
      read: (text, values) => this.read(text, values),
      tx: (fn) => this.tx(fn),
      appendInTx: (client, draft) => this.appendInTx(client, draft),
    });
  }

  setAuditSealer(sealer: AuditSealer): void {
    this.sealer = sealer;
  }

  /**
   * Appends inside the caller's transaction. `FOR UPDATE` on the one-row head serialises every
   * appender of every node: the next one waits until this transaction commits or rolls back and
   * then reads the head it left, so seq stays gap-free and prev_hash always names the entry
   * before. It is taken last in each transaction, after the change's own row locks, so two
   * writers never wait on each other in opposite orders.
   */
  private async appendInTx(client: PgQueryable, draft: AuditDraft): Promise<AuditEntry> {
    if (!this.sealer) throw new Error('audit sealer not configured');
    const head = await client.query<{ seq: number; hash: string }>(
      'SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE',
    );
    const row = head.rows[0];
    if (!row) throw new Error('audit head row missing');
    const entry = chainAuditEntry(draft, row.seq === 0 ? undefined : row, this.sealer);
    await client.query(
      `INSERT INTO audit_log (seq, ts, actor, action, target, request_id, data, prev_hash, hash, seal)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        entry.seq,
        entry.ts,
        entry.actor,
        entry.action,
        entry.target,
        entry.requestId,
        JSON.stringify(entry.data),
        entry.prevHash,
        entry.hash,
        entry.seal,
      ],
    );
    await client.query('UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1', [
      entry.seq,
      entry.hash,
    ]);
    return entry;
  }

  /** One transaction on one pooled connection; any failure rolls it back whole. */
  private async tx<T>(fn: (client: PgQueryable) => Promise<T>): Promise<T> {
    let client;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw toStoreError(error);
    }
    let broken = false;
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      broken = true;
      await client.query('ROLLBACK').catch(() => undefined);
      throw toStoreError(error);
    } finally {
      // A connection that failed mid-transaction may be half-dead: drop it rather than reuse it.
      client.release(broken);
    }
  }

  private async read<Row>(text: string, values?: readonly unknown[]): Promise<Row[]> {
    try {
      return (await this.pool.query<Row>(text, values)).rows;
    } catch (error) {
      throw toStoreError(error);
    }
  }

  createAccount(account: Account, audit: AuditDraft): Promise<void> {
    return this.tx(async (client) => {
      await client.query('INSERT INTO accounts (id, name, created_at) VALUES ($1, $2, $3)', [
        account.id,
        account.name,
        account.createdAt,
      ]);
      await this.appendInTx(client, audit);
    });
  }

  async getAccount(id: string): Promise<Account | undefined> {
    const [row] = await this.read<AccountRow>(
      'SELECT id, name, created_at FROM accounts WHERE id = $1',
      [id],
    );
    return row && accountFromRow(row);
  }

  async listAccounts(page: AccountPage): Promise<Account[]> {
    const rows =
      page.after === undefined
        ? await this.read<AccountRow>(ACCOUNT_PAGE_SQL.first, [page.limit])
        : await this.read<AccountRow>(ACCOUNT_PAGE_SQL.after, [page.after, page.limit]);
    return rows.map(accountFromRow);
  }

  createKey(
    stored: StoredKey,
    secret: StoredSecretVersion | null,
    audit: AuditDraft,
  ): Promise<void> {
    return this.tx(async (client) => {
      await client.query(
        `INSERT INTO api_keys (${KEY_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
        keyValues(stored),
      );
      if (secret) await insertSecret(client, secret);
      await this.appendInTx(client, audit);
    });
  }

  async getKey(id: string): Promise<StoredKey | undefined> {
    // With the kinds of the key's spend allowances (docs/policies.md §4.1).
    const [row] = await this.read<KeyRow>(
      `SELECT ${KEY_COLUMNS}, (SELECT string_agg(DISTINCT kind, ',') FROM key_allowances
         WHERE key_id = api_keys.id) AS allowance_kinds FROM api_keys WHERE id = $1`,
      [id],
    );
    return row && keyFromRow(row);
  }

  async listKeys(filter: KeyListFilter): Promise<StoredKey[]> {
    const where: string[] = [];
    const values: unknown[] = [];
    const add = (clause: string, value: unknown) => {
      values.push(value);
      where.push(`${clause} $${values.length}`);
    };
    if (filter.accountId !== undefined) add('account_id =', filter.accountId);
    if (filter.environment !== undefined) add('environment =', filter.environment);
    if (filter.after !== undefined) add('id >', filter.after);
    values.push(filter.limit);
    const rows = await this.read<KeyRow>(
      `SELECT ${KEY_COLUMNS} FROM api_keys ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY id LIMIT $${values.length}`,
      values,
    );
    return rows.map(keyFromRow);
  }

  /**
   * Optimistic: the UPDATE matches only at the expected epoch. A concurrent writer of the same
   * row holds its lock until commit; READ COMMITTED then re-checks the WHERE against the new
   * row, so the second writer matches nothing and returns false.
   */
  updateKey(update: KeyUpdate, audit: AuditDraft): Promise<boolean> {
    return this.tx(async (client) => {
      const key = keyParams(update.stored);
      const result = await client.query(
        `UPDATE api_keys SET label = $2, scopes = $3, ip_allowlist = $4, passphrase_hash = $5,
           public_key_pem = $6, status = $7, expires_at = $8, revoked_at = $9, epoch = $10,
           secret_version = $11
         WHERE id = $1 AND epoch = $12`,
        [
          key['id'],
          key['label'],
          key['scopes'],
          key['ipAllowlist'],
          key['passphraseHash'],
          key['publicKeyPem'],
          key['status'],
          key['expiresAt'],
          key['revokedAt'],
          key['epoch'],
          key['secretVersion'],
          update.expectedEpoch,
        ],
      );
      if (result.rowCount !== 1) return false;
      if (update.retireOthersAt !== undefined) {
        await client.query(
          `UPDATE key_secrets SET not_after = $1
           WHERE key_id = $2 AND (not_after IS NULL OR not_after > $1)`,
          [update.retireOthersAt, update.stored.key.id],
        );
      }
      if (update.newSecret) await insertSecret(client, update.newSecret);
      await this.appendInTx(client, audit);
      return true;
    });
  }

  async getSecrets(keyId: string): Promise<StoredSecretVersion[]> {
    const rows = await this.read<SecretRow>(
      `SELECT ${SECRET_COLUMNS} FROM key_secrets WHERE key_id = $1 ORDER BY version DESC`,
      [keyId],
    );
    return rows.map(secretFromRow);
  }

  async recordKeyUse(uses: readonly { keyId: string; at: number }[]): Promise<void> {
    if (uses.length === 0) return;
    // One statement for the batch; the latest use per key wins and last use never moves back.
    await this.read(
      `UPDATE api_keys k SET last_used_at = u.at
       FROM (SELECT id, max(at) AS at FROM unnest($1::text[], $2::bigint[]) AS t(id, at) GROUP BY id) u
       WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)`,
      [uses.map((use) => use.keyId), uses.map((use) => use.at)],
    );
  }

  createAdminToken(token: AdminToken, audit: AuditDraft): Promise<void> {
    return this.tx(async (client) => {
      await client.query(
        `INSERT INTO admin_tokens (id, role, label, token_hash, created_at, expires_at, revoked_at, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          token.id,
          token.role,
          token.label,
          token.tokenHash,
          token.createdAt,
          token.expiresAt,
          token.revokedAt,
          token.createdBy,
        ],
      );
      await this.appendInTx(client, audit);
    });
  }

  async findAdminTokenByHash(tokenHash: string): Promise<AdminToken | undefined> {
    const [row] = await this.read<AdminTokenRow>(
      'SELECT * FROM admin_tokens WHERE token_hash = $1',
      [tokenHash],
    );
    return row && adminTokenFromRow(row);
  }

  async listAdminTokens(): Promise<AdminToken[]> {
    const rows = await this.read<AdminTokenRow>(
      'SELECT * FROM admin_tokens ORDER BY created_at, id',
    );
    return rows.map(adminTokenFromRow);
  }

  async countAdminTokens(): Promise<number> {
    const [row] = await this.read<{ n: number }>('SELECT count(*) AS n FROM admin_tokens');
    return row?.n ?? 0;
  }

  appendAudit(audit: AuditDraft): Promise<AuditEntry> {
    return this.tx((client) => this.appendInTx(client, audit));
  }

  async listAudit(query: AuditQuery): Promise<AuditEntry[]> {
    const { sql, values } = auditListSql(query);
    const rows = await this.read<AuditRow>(sql, values);
    return rows.map(auditFromRow);
  }

  /** Keyset pages by seq: each batch is one short query, never a long-held snapshot. */
  async scanAudit(onBatch: (entries: readonly AuditEntry[]) => void): Promise<void> {
    let afterSeq = 0;
    for (;;) {
      const rows = await this.read<AuditRow>(
        'SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2',
        [afterSeq, SCAN_BATCH],
      );
      const last = rows[rows.length - 1];
      if (!last) return;
      onBatch(rows.map(auditFromRow));
      afterSeq = last.seq;
      if (rows.length < SCAN_BATCH) return;
    }
  }

  async listSealedNotUnder(kekId: string, limit: number): Promise<StoredSecretVersion[]> {
    const rows = await this.read<SecretRow>(
      `SELECT ${SECRET_COLUMNS} FROM key_secrets WHERE kek_id <> $1 LIMIT $2`,
      [kekId, limit],
    );
    return rows.map(secretFromRow);
  }

  async replaceSealed(envelopes: readonly SealedReplacement[]): Promise<void> {
    if (envelopes.length === 0) return;
    await this.tx(async (client) => {
      for (const { keyId, version, sealed } of envelopes) {
        await client.query(
          `UPDATE key_secrets SET ciphertext = $3, iv = $4, tag = $5, wrapped_dek = $6,
             dek_iv = $7, dek_tag = $8, kek_id = $9
           WHERE key_id = $1 AND version = $2`,
          [keyId, version, ...sealedValues(sealed)],
        );
      }
    });
  }

  async listKekIds(): Promise<string[]> {
    const rows = await this.read<{ kek_id: string }>('SELECT DISTINCT kek_id FROM key_secrets');
    return rows.map((row) => row.kek_id);
  }

  async getMeta(name: string): Promise<string | undefined> {
    const [row] = await this.read<{ value: string }>('SELECT value FROM meta WHERE name = $1', [
      name,
    ]);
    return row?.value;
  }

  async setMeta(name: string, value: string): Promise<void> {
    await this.read(
      `INSERT INTO meta (name, value) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
      [name, value],
    );
  }

  // Governance ports: delegated to postgres-governance.ts, inside this store's transactions.
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

  /** Alerts, anomaly responses and first sightings (migrations 4, 5), shared by every node. */
  riskStore(): RiskStore {
    this.risk ??= createPostgresRiskStore({
      read: (text, values) => this.read(text, values),
      tx: (fn) => this.tx(fn),
    });
    return this.risk;
  }

  private closing: Promise<void> | undefined;

  close(): Promise<void> {
    this.closing ??= this.pool.end();
    return this.closing;
  }
}

interface AccountRow {
  id: string;
  name: string;
  created_at: number;
}

const accountFromRow = (row: AccountRow): Account => ({
  id: row.id,
  name: row.name,
  createdAt: row.created_at,
});

function keyValues(stored: StoredKey): unknown[] {
  const p = keyParams(stored);
  return [
    p['id'],
    p['accountId'],
    p['label'],
    p['environment'],
    p['scheme'],
    p['scopes'],
    p['ipAllowlist'],
    p['passphraseHash'],
    p['publicKeyPem'],
    p['status'],
    p['createdAt'],
    p['expiresAt'],
    p['revokedAt'],
    p['lastUsedAt'],
    p['epoch'],
    p['secretVersion'],
  ];
}

const sealedValues = (sealed: SealedSecret): unknown[] => [
  sealed.ciphertext,
  sealed.iv,
  sealed.tag,
  sealed.wrappedDek,
  sealed.dekIv,
  sealed.dekTag,
  sealed.kekId,
];

async function insertSecret(client: PgQueryable, secret: StoredSecretVersion): Promise<void> {
  await client.query(
    `INSERT INTO key_secrets (key_id, version, created_at, not_after, ciphertext, iv, tag,
       wrapped_dek, dek_iv, dek_tag, kek_id)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [
      secret.keyId,
      secret.version,
      secret.createdAt,
      secret.notAfter,
      ...sealedValues(secret.sealed),
    ],
  );
}
