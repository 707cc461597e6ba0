/**
 * Seeds a PostgreSQL schema of the bench's own (created here, dropped by `drop`) with keys the
 * real key loader accepts, fast: one account and one template key through the key service, the
 * keys the bench uses (`hot`) sealed one by one like the key service does (their secrets are
 * real), and `filler` more rows from one `INSERT … SELECT generate_series`. The filler keys share
 * the template's sealed secret, which is bound to the template's id: they make the tables and
 * indexes as large as a real store's, but are never requested.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createPostgresControlStore } from '../src/adapters/postgres/postgres-control-store.js';
import { createLocalEvents } from '../src/app/local-events.js';
import { systemClock } from '../src/core/clock.js';
import { createKeyring, masterKeyFromBytes, sealSecret } from '../src/services/envelope.js';
import { newHmacSecret, newId } from '../src/services/ids.js';
import { createKeyService } from '../src/services/key-service.js';
import { openAuditSealer } from '../src/services/master-keys.js';
import type { BenchKey } from './fixtures.js';

export const BENCH_POSTGRES_URL =
  process.env['POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface SeededPostgres {
  /** `store:` of a gateway configuration: the URL with `?schema=`. */
  readonly storeUrl: string;
  readonly schema: string;
  readonly masterKey: string;
  /** Keys with usable secrets, all `sandbox`, scopes read + trade. */
  readonly keys: BenchKey[];
  /** Rows in api_keys (template + hot + filler). */
  readonly total: number;
  drop(): Promise<void>;
}

const HOT_BATCH = 5_000;
const KEY_COLUMNS = `account_id, label, environment, scheme, scopes, ip_allowlist, passphrase_hash,
  public_key_pem, status, created_at, expires_at, revoked_at, last_used_at, epoch, secret_version`;

async function withClient<T>(schema: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: BENCH_POSTGRES_URL });
  await client.connect();
  try {
    await client.query(`SET search_path TO ${schema}`);
    return await run(client);
  } finally {
    await client.end();
  }
}

/** Creates schema `pc_bench_…`, migrates it (the real store does) and seeds it. */
export async function seedPostgres(options: {
  hot: number;
  filler: number;
}): Promise<SeededPostgres> {
  const schema = `pc_bench_${randomBytes(6).toString('hex')}`;
  const storeUrl = `${BENCH_POSTGRES_URL}?schema=${schema}`;
  const drop = () =>
    withClient('public', (client) => client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)).then(
      () => undefined,
    );
  const masterKeyBytes = randomBytes(32);
  const keyring = createKeyring(masterKeyFromBytes(masterKeyBytes));
  try {
    const store = await createPostgresControlStore({ url: storeUrl, clock: systemClock });
    let templateId: string;
    try {
      store.setAuditSealer(await openAuditSealer(store, keyring));
      const service = createKeyService({
        store,
        clock: systemClock,
        events: createLocalEvents(),
        keyring: () => keyring,
      });
      const ctx = { actor: 'bench', requestId: 'bench' };
      const account = await service.createAccount('bench', ctx);
      const template = await service.createKey(
        {
          accountId: account.id,
          environment: 'sandbox',
          scheme: 'hmac',
          scopes: ['read', 'trade'],
        },
        ctx,
      );
      templateId = template.key.id;
    } finally {
      await store.close();
    }
    const keys = await withClient(schema, async (client) => {
      const hot = await insertHotKeys(client, keyring, templateId, options.hot);
      await insertFiller(client, templateId, options.filler);
      await client.query('ANALYZE api_keys; ANALYZE key_secrets');
      return hot;
    });
    return {
      storeUrl,
      schema,
      masterKey: masterKeyBytes.toString('base64'),
      keys,
      total: 1 + options.hot + options.filler,
      drop,
    };
  } catch (error) {
    await drop();
    throw error;
  }
}

/** Keys sealed exactly as the key service seals them (binding `<id>#1`), in batches. */
async function insertHotKeys(
  client: pg.Client,
  keyring: ReturnType<typeof createKeyring>,
  templateId: string,
  count: number,
): Promise<BenchKey[]> {
  const created: BenchKey[] = [];
  for (let start = 0; start < count; start += HOT_BATCH) {
    const batch = Array.from({ length: Math.min(HOT_BATCH, count - start) }, () => {
      const key = { id: newId('pk_test_'), secret: newHmacSecret() };
      return { key, sealed: sealSecret(keyring, Buffer.from(key.secret, 'utf8'), `${key.id}#1`) };
    });
    const ids = batch.map((b) => b.key.id);
    const column = (pick: (s: (typeof batch)[number]['sealed']) => Buffer) =>
      batch.map((b) => pick(b.sealed));
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO api_keys (id, ${KEY_COLUMNS})
       SELECT k.id, ${KEY_COLUMNS} FROM unnest($1::text[]) AS k(id), api_keys WHERE api_keys.id = $2`,
      [ids, templateId],
    );
    await client.query(
      `INSERT INTO key_secrets (key_id, version, ciphertext, iv, tag, wrapped_dek, dek_iv, dek_tag,
         kek_id, created_at, not_after)
       SELECT u.id, 1, u.ct, u.iv, u.tag, u.wd, u.di, u.dt, t.kek_id, t.created_at, NULL
       FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::bytea[], $5::bytea[], $6::bytea[],
         $7::bytea[]) AS u(id, ct, iv, tag, wd, di, dt), key_secrets t WHERE t.key_id = $8`,
      [
        ids,
        column((s) => s.ciphertext),
        column((s) => s.iv),
        column((s) => s.tag),
        column((s) => s.wrappedDek),
        column((s) => s.dekIv),
        column((s) => s.dekTag),
        templateId,
      ],
    );
    await client.query('COMMIT');
    created.push(...batch.map((b) => b.key));
  }
  return created;
}

/** `count` more keys in two statements; ids `pk_test_f…` cannot collide with random ones. */
async function insertFiller(client: pg.Client, templateId: string, count: number): Promise<void> {
  if (count === 0) return;
  const id = `'pk_test_f' || lpad(g::text, 19, '0')`;
  await client.query('BEGIN');
  await client.query(
    `INSERT INTO api_keys (id, ${KEY_COLUMNS})
     SELECT ${id}, ${KEY_COLUMNS} FROM generate_series(1, $1::int) AS g, api_keys WHERE api_keys.id = $2`,
    [count, templateId],
  );
  await client.query(
    `INSERT INTO key_secrets (key_id, version, ciphertext, iv, tag, wrapped_dek, dek_iv, dek_tag,
       kek_id, created_at, not_after)
     SELECT ${id}, version, ciphertext, iv, tag, wrapped_dek, dek_iv, dek_tag, kek_id, created_at,
       not_after
     FROM generate_series(1, $1::int) AS g, key_secrets WHERE key_secrets.key_id = $2`,
    [count, templateId],
  );
  await client.query('COMMIT');
}
