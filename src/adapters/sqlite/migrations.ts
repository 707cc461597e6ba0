import type { Database } from 'better-sqlite3';

/** Versioned schema migrations; each runs once, in order, inside a transaction. */
export const SQLITE_MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'accounts, keys, secrets, admin tokens, audit log',
    sql: `
      CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL
      );
      CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        account_id TEXT NOT NULL REFERENCES accounts(id),
        label TEXT NOT NULL,
        environment TEXT NOT NULL CHECK (environment IN ('sandbox', 'production')),
        scheme TEXT NOT NULL CHECK (scheme IN ('hmac', 'ed25519')),
        scopes TEXT NOT NULL,
        ip_allowlist TEXT NOT NULL,
        passphrase_hash TEXT,
        public_key_pem TEXT,
        status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        revoked_at INTEGER,
        last_used_at INTEGER,
        epoch INTEGER NOT NULL,
        secret_version INTEGER NOT NULL
      );
      CREATE INDEX api_keys_account ON api_keys(account_id);
      CREATE TABLE key_secrets (
        key_id TEXT NOT NULL REFERENCES api_keys(id),
        version INTEGER NOT NULL,
        ciphertext BLOB NOT NULL,
        iv BLOB NOT NULL,
        tag BLOB NOT NULL,
        wrapped_dek BLOB NOT NULL,
        dek_iv BLOB NOT NULL,
        dek_tag BLOB NOT NULL,
        kek_id TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        not_after INTEGER,
        PRIMARY KEY (key_id, version)
      );
      CREATE INDEX key_secrets_kek ON key_secrets(kek_id);
      CREATE TABLE admin_tokens (
        id TEXT PRIMARY KEY,
        role TEXT NOT NULL,
        label TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL,
        expires_at INTEGER,
        revoked_at INTEGER,
        created_by TEXT NOT NULL
      );
      CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        request_id TEXT NOT NULL,
        data TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        seal TEXT NOT NULL
      );
      CREATE INDEX audit_log_target ON audit_log(target);
      CREATE TABLE meta (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
    `,
  },
];

/** Applies every migration newer than the database's, each atomically with its version row. */
export function migrateSqlite(db: Database, nowMs: number): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
  const applied = new Set(
    db
      .prepare<[], { version: number }>('SELECT version FROM schema_migrations')
      .all()
      .map((row) => row.version),
  );
  const ran: number[] = [];
  for (const migration of SQLITE_MIGRATIONS) {
    if (applied.has(migration.version)) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        migration.version,
        migration.name,
        nowMs,
      );
    }).immediate();
    ran.push(migration.version);
  }
  return ran;
}
