import { GENESIS_HASH } from '../../core/audit/audit-chain.js';
import type { PgPool } from './pg-pool.js';

export interface PostgresMigration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * Versioned schema migrations; each runs once, in order, in its own transaction. The tables
 * mirror src/adapters/sqlite/migrations.ts: bytea for sealed secrets, bigint epoch-millisecond
 * times, ids in the "C" collation so that they sort bytewise like SQLite's (pagination cursors)
 * whatever the database's default collation, and the primary-key index serves the ORDER BY. `audit_head` is the one-row lock every audit append takes (see postgres-control-store.ts).
 */
export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: 'accounts, keys, secrets, admin tokens, audit log, audit head, meta',
    sql: `
      CREATE TABLE accounts (
        id text COLLATE "C" PRIMARY KEY,
        name text NOT NULL,
        created_at bigint NOT NULL
      );
      CREATE TABLE api_keys (
        id text COLLATE "C" PRIMARY KEY,
        account_id text COLLATE "C" NOT NULL REFERENCES accounts(id),
        label text NOT NULL,
        environment text NOT NULL CHECK (environment IN ('sandbox', 'production')),
        scheme text NOT NULL CHECK (scheme IN ('hmac', 'ed25519')),
        scopes text NOT NULL,
        ip_allowlist text NOT NULL,
        passphrase_hash text,
        public_key_pem text,
        status text NOT NULL CHECK (status IN ('active', 'revoked')),
        created_at bigint NOT NULL,
        expires_at bigint,
        revoked_at bigint,
        last_used_at bigint,
        epoch integer NOT NULL,
        secret_version integer NOT NULL
      );
      CREATE INDEX api_keys_account ON api_keys(account_id);
      CREATE TABLE key_secrets (
        key_id text NOT NULL REFERENCES api_keys(id),
        version integer NOT NULL,
        ciphertext bytea NOT NULL,
        iv bytea NOT NULL,
        tag bytea NOT NULL,
        wrapped_dek bytea NOT NULL,
        dek_iv bytea NOT NULL,
        dek_tag bytea NOT NULL,
        kek_id text NOT NULL,
        created_at bigint NOT NULL,
        not_after bigint,
        PRIMARY KEY (key_id, version)
      );
      CREATE INDEX key_secrets_kek ON key_secrets(kek_id);
      CREATE TABLE admin_tokens (
        id text COLLATE "C" PRIMARY KEY,
        role text NOT NULL,
        label text NOT NULL,
        token_hash text NOT NULL UNIQUE,
        created_at bigint NOT NULL,
        expires_at bigint,
        revoked_at bigint,
        created_by text NOT NULL
      );
      CREATE TABLE audit_log (
        seq bigint PRIMARY KEY,
        ts bigint NOT NULL,
        actor text NOT NULL,
        action text NOT NULL,
        target text NOT NULL,
        request_id text NOT NULL,
        data text NOT NULL,
        prev_hash text NOT NULL,
        hash text NOT NULL,
        seal text NOT NULL
      );
      CREATE INDEX audit_log_target ON audit_log(target);
      CREATE TABLE audit_head (
        id integer PRIMARY KEY CHECK (id = 1),
        seq bigint NOT NULL,
        hash text NOT NULL
      );
      INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '${GENESIS_HASH}');
      CREATE TABLE meta (
        name text PRIMARY KEY,
        value text NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'policies (versioned), approvals, withdrawal rules, address book, reservations',
    // JSON stays text (not jsonb): a held request and an approval's votes come back byte for byte.
    sql: `
      CREATE TABLE policies (
        id text COLLATE "C" NOT NULL,
        version integer NOT NULL,
        effect text NOT NULL CHECK (effect IN ('permit', 'forbid', 'require-approval')),
        target text NOT NULL,
        condition text NOT NULL,
        mode text NOT NULL CHECK (mode IN ('enforce', 'shadow')),
        description text NOT NULL,
        quorum integer,
        active integer NOT NULL CHECK (active IN (0, 1)),
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        updated_by text NOT NULL,
        PRIMARY KEY (id, version)
      );
      CREATE TABLE approvals (
        id text COLLATE "C" PRIMARY KEY,
        kind text NOT NULL,
        state text NOT NULL,
        version integer NOT NULL,
        request_digest text NOT NULL,
        initiator text NOT NULL,
        quorum integer NOT NULL,
        approver_pool text,
        votes text NOT NULL,
        created_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        execute_by bigint,
        execution text,
        subject text NOT NULL,
        result text
      );
      CREATE INDEX approvals_state ON approvals(state, created_at);
      CREATE TABLE withdrawal_settings (
        account_id text COLLATE "C" PRIMARY KEY REFERENCES accounts(id),
        settings text NOT NULL,
        updated_at bigint NOT NULL
      );
      CREATE TABLE withdrawal_addresses (
        id text COLLATE "C" PRIMARY KEY,
        account_id text COLLATE "C" NOT NULL REFERENCES accounts(id),
        asset text NOT NULL,
        network text NOT NULL,
        address text NOT NULL,
        memo text,
        added_at bigint NOT NULL,
        usable_from bigint NOT NULL,
        removed_at bigint
      );
      CREATE INDEX withdrawal_addresses_account ON withdrawal_addresses(account_id);
      CREATE TABLE withdrawal_ledgers (
        account_id text COLLATE "C" PRIMARY KEY,
        version integer NOT NULL
      );
      CREATE TABLE withdrawal_reservations (
        id text COLLATE "C" PRIMARY KEY,
        account_id text COLLATE "C" NOT NULL,
        key_id text NOT NULL,
        asset text NOT NULL,
        network text NOT NULL,
        address text NOT NULL,
        amount text NOT NULL,
        created_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        status text NOT NULL CHECK (status IN ('reserved', 'committed'))
      );
      CREATE INDEX withdrawal_reservations_account
        ON withdrawal_reservations(account_id, created_at);
    `,
  },
  {
    // Independent of version 4: either may be applied first.
    version: 3,
    name: 'spend allowances of keys, with their usage counters and holds',
    sql: `
      CREATE TABLE key_allowances (
        id text COLLATE "C" PRIMARY KEY,
        key_id text COLLATE "C" NOT NULL,
        kind text NOT NULL CHECK (kind IN ('notional', 'withdrawal')),
        asset text NOT NULL,
        amount_per_period text NOT NULL,
        period_ms bigint NOT NULL CHECK (period_ms > 0),
        starts_at bigint NOT NULL,
        expires_at bigint NOT NULL,
        created_at bigint NOT NULL,
        usage_period_start bigint,
        usage_spent text
      );
      CREATE INDEX key_allowances_key ON key_allowances(key_id, kind);
      CREATE TABLE allowance_holds (
        id text COLLATE "C" NOT NULL,
        allowance_id text COLLATE "C" NOT NULL,
        key_id text COLLATE "C" NOT NULL,
        period_start bigint NOT NULL,
        amount text NOT NULL,
        created_at bigint NOT NULL,
        PRIMARY KEY (id, allowance_id)
      );
      CREATE INDEX allowance_holds_key ON allowance_holds(key_id, created_at);
    `,
  },
  {
    // Independent of version 3 (spend allowances): either may be applied first. Anomaly
    // responses live here so that a step-down decided on one node holds on every node.
    version: 4,
    name: 'risk responses in force and alerts, shared by every node',
    sql: `
      CREATE TABLE risk_alerts (
        id text COLLATE "C" PRIMARY KEY,
        state text NOT NULL CHECK (state IN ('open', 'acknowledged', 'resolved')),
        signal text NOT NULL,
        step text NOT NULL,
        environment text NOT NULL CHECK (environment IN ('sandbox', 'production')),
        key_id text,
        account_id text,
        ip_prefix text,
        observed double precision,
        threshold double precision,
        response_id text,
        created_at bigint NOT NULL,
        updated_at bigint NOT NULL,
        updated_by text
      );
      CREATE INDEX risk_alerts_env_created ON risk_alerts(environment, created_at);
      CREATE INDEX risk_alerts_key ON risk_alerts(key_id) WHERE key_id IS NOT NULL;
      CREATE TABLE risk_responses (
        id text COLLATE "C" PRIMARY KEY,
        environment text NOT NULL CHECK (environment IN ('sandbox', 'production')),
        key_id text,
        ip_prefix text,
        action text NOT NULL,
        reason text NOT NULL,
        started_at bigint NOT NULL,
        expires_at bigint,
        lifted_at bigint,
        lifted_by text
      );
      CREATE INDEX risk_responses_active ON risk_responses(lifted_at, expires_at);
    `,
  },
  {
    // First sightings of anomaly detection: shared, so a first use is raised once per cluster.
    version: 5,
    name: 'first sightings of anomaly detection (key prefixes, first sensitive actions)',
    sql: `
      CREATE TABLE risk_sightings (
        environment text NOT NULL CHECK (environment IN ('sandbox', 'production')),
        subject_type text NOT NULL CHECK (subject_type IN ('key', 'account')),
        subject_id text COLLATE "C" NOT NULL,
        kind text NOT NULL CHECK (kind IN ('prefix', 'action')),
        value text COLLATE "C" NOT NULL,
        first_seen bigint NOT NULL,
        last_seen bigint NOT NULL,
        PRIMARY KEY (environment, subject_type, subject_id, kind, value)
      );
    `,
  },
  {
    // GET /v1/audit?action=… walked the primary key from the cursor and filtered (31 ms for a
    // rare action among 200,000 entries, against 1 ms with the index), and a target filter
    // found its rows by target and then sorted them all by seq. With seq second in both
    // indexes, `col = $1 AND seq > $2 ORDER BY seq LIMIT n` is one index range. CREATE INDEX
    // holds off audit appends while it builds (~5 s per million entries here, see
    // docs/deployment.md §2); the migration lock makes one node build it.
    version: 6,
    name: 'audit log indexes by action and by target, in seq order',
    sql: `
      CREATE INDEX audit_log_action ON audit_log(action, seq);
      CREATE INDEX audit_log_target_seq ON audit_log(target, seq);
      DROP INDEX audit_log_target;
    `,
  },
  {
    // GET /v1/accounts lists accounts oldest first, a page at a time: without this index every
    // page sorted the whole table.
    version: 7,
    name: 'accounts in creation order',
    sql: `
      CREATE INDEX accounts_created ON accounts(created_at, id);
    `,
  },
];

/**
 * Applies every migration newer than the schema's. Each one runs in a transaction that first
 * takes a transaction-scoped advisory lock keyed by the schema: nodes starting together queue
 * on it, and the one that comes second sees the version row and skips. A failed migration
 * rolls back whole, version row included. Returns the versions this call applied.
 */
export async function migratePostgres(
  pool: PgPool,
  schema: string,
  nowMs: number,
  migrations: readonly PostgresMigration[] = POSTGRES_MIGRATIONS,
): Promise<number[]> {
  const ran: number[] = [];
  for (const migration of migrations) {
    const client = await pool.connect();
    let broken = false;
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
        `portcullis:migrate:${schema}`,
      ]);
      // Inside the lock: two nodes creating the schema at once would otherwise race on it.
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query(`SET LOCAL search_path TO ${schema}`);
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`);
      const applied = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [
        migration.version,
      ]);
      if (applied.rows.length === 0) {
        await client.query(migration.sql);
        await client.query(
          'INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)',
          [migration.version, migration.name, nowMs],
        );
        ran.push(migration.version);
      }
      await client.query('COMMIT');
    } catch (error) {
      broken = true;
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release(broken);
    }
  }
  return ran;
}
