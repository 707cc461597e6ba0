/**
 * `store: postgres://…` is all it takes: the same scenario runs against a real `portcullis start`
 * on SQLite and on PostgreSQL (its own schema) and must give the same answers — keys from the
 * CLI, policies from the CLI (permit and forbid), withdrawal rules from the admin API, and all of
 * it still in force after the node restarts.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropSchema,
  POSTGRES_URL,
  randomSchema,
} from '../../adapters/postgres/postgres-harness.js';
import { cliCreateAccount, cliCreateKey, cliJson, type CliKey } from '../../helpers/cli-keys.js';
import { adminRequest, startServer, type ServerHandle } from '../../helpers/server-process.js';
import { createTempDir } from '../../helpers/temp-dir.js';
import {
  codeOf,
  NO_LIMITS,
  send,
  signed,
  writeConfig,
  type Answer,
} from '../data-plane/helpers.js';

const order = (symbol: string) => ({ symbol, side: 'buy', type: 'market', quantity: '0.01' });

describe.each(['sqlite', 'postgres'] as const)('a node on %s', (kind) => {
  const dir = createTempDir('portcullis-e2e-store-');
  const dataDir = join(dir.path, 'data');
  const schema = randomSchema();
  const storeEnv: Record<string, string> =
    kind === 'postgres' ? { PORTCULLIS_STORE: `${POSTGRES_URL}?schema=${schema}` } : {};
  let config: string;
  let server: ServerHandle;
  let sandboxUrl: string;
  let trader: CliKey;
  let accountId: string;

  const start = async () => {
    server = await startServer({ env: storeEnv, args: ['--config', config], dataDir });
    sandboxUrl = (server.info.dataPlanes.sandbox as { url: string }).url;
  };
  const call = (method: string, target: string, body: unknown, key: CliKey): Promise<Answer> =>
    send(signed(sandboxUrl, method, target, body, key));

  beforeAll(async () => {
    config = writeConfig(dir.path, {
      environments: { sandbox: { ...NO_LIMITS }, production: { ...NO_LIMITS } },
    });
    await start();
    accountId = await cliCreateAccount(server.dataDir, 'store');
    trader = await cliCreateKey(server.dataDir, { accountId, scopes: 'read,trade,withdraw' });
  }, 60_000);

  afterAll(async () => {
    await server?.cleanup();
    dir.remove();
    if (kind === 'postgres') await dropSchema(schema);
  });

  it('forwards a signed order of a key made with the CLI', async () => {
    const answer = await call('POST', '/api/v1/orders', order('BTCUSDT'), trader);
    expect(answer.status).toBe(201);
  });

  it(
    'enforces policies made with the CLI: the forbidden order is refused, the other passes',
    {
      timeout: 90_000,
    },
    async () => {
      const file = (name: string, policy: unknown) => writeConfig(dir.path, policy, name);
      await cliJson(
        [
          'policy',
          'create',
          '--file',
          file('permit.json', {
            id: 'orders-baseline',
            effect: 'permit',
            target: { actions: ['order.place'] },
            condition: 'true',
          }),
        ],
        server.dataDir,
      );
      await cliJson(
        [
          'policy',
          'create',
          '--file',
          file('forbid.json', {
            id: 'no-eth',
            effect: 'forbid',
            target: { actions: ['order.place'] },
            condition: 'params.symbol == "ETHUSDT"',
          }),
        ],
        server.dataDir,
      );
      expect(codeOf(await call('POST', '/api/v1/orders', order('ETHUSDT'), trader))).toBe(
        'POLICY_DENIED',
      );
      expect((await call('POST', '/api/v1/orders', order('BTCUSDT'), trader)).status).toBe(201);
    },
  );

  it('holds a withdrawal limit under 10 concurrent withdrawals: exactly 5 of 100 against 500/h', async () => {
    const rules = await adminRequest(server, 'PUT', `/v1/accounts/${accountId}/withdrawal-rules`, {
      addressBookRequired: false,
      accountLimits: { perHour: '500' },
    });
    expect(rules.status).toBe(200);
    const answers = await Promise.all(
      Array.from({ length: 10 }, () =>
        call(
          'POST',
          '/api/v1/withdrawals',
          { asset: 'USDT', amount: '100', address: 'addr-e2e-0001' },
          trader,
        ),
      ),
    );
    expect(answers.filter((a) => a.status === 201)).toHaveLength(5);
    expect(answers.filter((a) => a.status !== 201).map(codeOf)).toEqual(
      Array<string>(5).fill('AMOUNT_LIMIT_EXCEEDED'),
    );
  });

  it('keeps keys, policies and limits after a restart, with one chain that verifies', async () => {
    expect(await server.stop()).toBe(0);
    await start();
    expect(codeOf(await call('POST', '/api/v1/orders', order('ETHUSDT'), trader))).toBe(
      'POLICY_DENIED',
    );
    expect((await call('POST', '/api/v1/orders', order('BTCUSDT'), trader)).status).toBe(201);
    const over = await call(
      'POST',
      '/api/v1/withdrawals',
      { asset: 'USDT', amount: '100', address: 'addr-e2e-0001' },
      trader,
    );
    expect(codeOf(over)).toBe('AMOUNT_LIMIT_EXCEEDED');
    const verified = await adminRequest(server, 'GET', '/v1/audit/verify');
    expect(verified.body).toMatchObject({ ok: true });
    // The traffic log (node-local on every store) kept what was flushed at the stop.
    const traffic = await adminRequest(server, 'GET', `/v1/traffic?keyId=${trader.id}&limit=100`);
    expect((traffic.body.records as unknown[]).length).toBeGreaterThanOrEqual(3);
  }, 90_000);
});
