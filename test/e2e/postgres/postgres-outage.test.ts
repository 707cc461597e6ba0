/**
 * PostgreSQL down, made for real without stopping the shared server: the node reaches PostgreSQL
 * through a TCP proxy the test cuts (connections reset, or a silent partition) and restores.
 * While it is down the data plane keeps serving the keys it has cached, refuses keys it cannot
 * load, and the admin API answers 503 STORE_UNAVAILABLE without writing anything half; once the
 * link is back everything works again without a restart. `GET /readyz` (admin and data-plane
 * listeners) answers 503 STORE_UNAVAILABLE during the cut and 200 again after it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropSchema,
  POSTGRES_URL,
  randomSchema,
} from '../../adapters/postgres/postgres-harness.js';
import type { CliKey } from '../../helpers/cli-keys.js';
import { adminRequest, startServer, type ServerHandle } from '../../helpers/server-process.js';
import { startTcpProxy, type CutMode, type TcpProxy } from '../../helpers/tcp-proxy.js';
import { createTempDir } from '../../helpers/temp-dir.js';
import {
  codeOf,
  NO_LIMITS,
  send,
  signed,
  writeConfig,
  type Answer,
} from '../data-plane/helpers.js';

const schema = randomSchema();
const dir = createTempDir('portcullis-e2e-pg-outage-');
let proxy: TcpProxy;
let server: ServerHandle;
let sandboxUrl: string;
let accountId: string;

const balances = (key: CliKey) =>
  send(signed(sandboxUrl, 'GET', '/api/v1/balances', undefined, key));

const usdtFree = (answer: Answer): string | undefined =>
  (answer.body.balances as { asset: string; free: string }[]).find((b) => b.asset === 'USDT')?.free;

async function createKey(): Promise<CliKey> {
  const created = await adminRequest(server, 'POST', '/v1/keys', {
    accountId,
    environment: 'sandbox',
    scopes: ['read', 'withdraw'],
  });
  expect(created.status).toBe(201);
  return { ...(created.body.key as CliKey), secret: created.body.secret as string };
}

async function keyCount(): Promise<number> {
  const listed = await adminRequest(server, 'GET', `/v1/keys?accountId=${accountId}&limit=1000`);
  return (listed.body.keys as unknown[]).length;
}

/** Polls the admin API until it answers 200 again; each attempt is bounded by the store's timeouts. */
async function untilAdminAnswers(): Promise<number> {
  for (let attempt = 1; attempt <= 40; attempt++) {
    if ((await adminRequest(server, 'GET', '/v1/accounts')).status === 200) return attempt;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error('the admin API did not recover');
}

beforeAll(async () => {
  const target = new URL(POSTGRES_URL);
  proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const viaProxy = new URL(POSTGRES_URL);
  viaProxy.host = `127.0.0.1:${proxy.port}`;
  viaProxy.searchParams.set('schema', schema);
  const config = writeConfig(dir.path, {
    environments: { sandbox: { ...NO_LIMITS }, production: { ...NO_LIMITS } },
  });
  server = await startServer({
    env: { PORTCULLIS_STORE: viaProxy.toString() },
    args: ['--config', config],
  });
  sandboxUrl = (server.info.dataPlanes.sandbox as { url: string }).url;
  const account = await adminRequest(server, 'POST', '/v1/accounts', { name: 'outage' });
  accountId = account.body.id as string;
}, 60_000);

afterAll(async () => {
  proxy?.restore();
  await server?.cleanup();
  await proxy?.close();
  await dropSchema(schema);
  dir.remove();
});

/** What must hold while PostgreSQL cannot be reached. */
async function whileDown(cached: CliKey, uncached: CliKey): Promise<void> {
  // Data plane: the cached key keeps working, several times over.
  for (let i = 0; i < 3; i++) expect((await balances(cached)).status).toBe(200);
  // A key that is not cached cannot be loaded: refused (fail closed), never forwarded.
  const refused = await balances(uncached);
  expect(refused.status).toBe(401);
  // KEY_UNKNOWN inside, answered exactly as SIGNATURE_INVALID (no key-existence oracle).
  expect(codeOf(refused)).toBe('SIGNATURE_INVALID');
  // Admin API: reads and writes answer 503 with a stable code.
  const read = await adminRequest(server, 'GET', '/v1/accounts');
  expect(read.status).toBe(503);
  expect((read.body.error as { code: string }).code).toBe('STORE_UNAVAILABLE');
  const write = await adminRequest(server, 'POST', '/v1/keys', {
    accountId,
    environment: 'sandbox',
    scopes: ['read'],
  });
  expect(write.status).toBe(503);
  expect((write.body.error as { code: string }).code).toBe('STORE_UNAVAILABLE');
  // A withdrawal needs the store (its rules and reservation): refused with 503
  // STORE_UNAVAILABLE, never forwarded (the balance is checked after recovery).
  const withdrawal = await send(
    signed(
      sandboxUrl,
      'POST',
      '/api/v1/withdrawals',
      { asset: 'USDT', amount: '1', address: 'addr-e2e-0001' },
      cached,
    ),
  );
  expect(withdrawal.status).toBe(503);
  expect(codeOf(withdrawal)).toBe('STORE_UNAVAILABLE');
  // Still serving after the admin calls failed.
  expect((await balances(cached)).status).toBe(200);
  // Readiness: a load balancer takes the node out while its store cannot be reached.
  const notReady = await adminRequest(server, 'GET', '/readyz');
  expect(notReady.status).toBe(503);
  expect(notReady.body).toEqual({ status: 'not-ready', reasons: ['STORE_UNAVAILABLE'] });
  // The same answer on the data-plane port a load balancer sends traffic to.
  const planeNotReady = await fetch(`${sandboxUrl}/readyz`);
  expect(planeNotReady.status).toBe(503);
  expect(await planeNotReady.json()).toEqual({
    status: 'not-ready',
    reasons: ['STORE_UNAVAILABLE'],
  });
}

describe.each(['reset', 'blackhole'] as const)('PostgreSQL cut (%s)', (mode: CutMode) => {
  it(
    'serves cached keys, answers 503 on the admin API, and recovers by itself',
    { timeout: 120_000 },
    async () => {
      const cached = await createKey();
      const uncached = await createKey();
      expect((await balances(cached)).status).toBe(200);
      expect((await adminRequest(server, 'GET', '/readyz')).body).toEqual({ status: 'ready' });
      const keysBefore = await keyCount();

      proxy.cut(mode);
      try {
        await whileDown(cached, uncached);
      } finally {
        proxy.restore();
      }

      await untilAdminAnswers();
      const ready = await adminRequest(server, 'GET', '/readyz');
      expect(ready.status).toBe(200);
      const planeReady = await fetch(`${sandboxUrl}/readyz`);
      expect(planeReady.status).toBe(200);
      expect(planeReady.headers.get('cache-control')).toBe('no-store');
      expect(await planeReady.json()).toEqual({ status: 'ready' });
      expect(await keyCount()).toBe(keysBefore); // the refused write left nothing behind
      expect((await balances(uncached)).status).toBe(200);
      expect(usdtFree(await balances(cached))).toBe('100000');
      expect((await balances(await createKey())).status).toBe(200);
      const verified = await adminRequest(server, 'GET', '/v1/audit/verify');
      expect(verified.body).toMatchObject({ ok: true });
    },
  );
});
