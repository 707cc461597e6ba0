/**
 * SQLite store of each key's last use (time and client IP), beside the traffic log in the
 * observability database. Created here, idempotently, like the traffic log: the control store's
 * versioned migrations stay untouched. Written in batches off the request path.
 */
import type { Database } from 'better-sqlite3';
import type { KeyUse, KeyUseStore } from '../../services/key-use.js';

/** Creates the `key_last_use` table if absent and returns the store over it. */
export function createSqliteKeyUseStore(db: Database): KeyUseStore {
  db.exec(`
    CREATE TABLE IF NOT EXISTS key_last_use (
      key_id TEXT PRIMARY KEY,
      at INTEGER NOT NULL,
      ip TEXT NOT NULL
    );
  `);
  // Only ever moves forward: a late batch from a slower path never overwrites a newer use.
  const upsert = db.prepare(
    `INSERT INTO key_last_use (key_id, at, ip) VALUES (?, ?, ?)
     ON CONFLICT (key_id) DO UPDATE SET at = excluded.at, ip = excluded.ip
     WHERE excluded.at >= key_last_use.at`,
  );
  const select = db.prepare<[string], { at: number; ip: string }>(
    'SELECT at, ip FROM key_last_use WHERE key_id = ?',
  );
  const writeBatch = db.transaction((uses: readonly (KeyUse & { keyId: string })[]) => {
    for (const u of uses) upsert.run(u.keyId, u.at, u.ip);
  });
  return {
    write: (uses) => writeBatch(uses),
    read: (keyId) => select.get(keyId),
  };
}
