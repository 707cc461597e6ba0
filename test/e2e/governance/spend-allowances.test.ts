/**
 * Spend allowances through real processes (`portcullis start` with the built-in sandbox
 * exchange, the CLI, signed native requests), on SQLite and on PostgreSQL: allowances set with
 * `portcullis keys allowance set` hold under concurrency — 20 concurrent orders or withdrawals of
 * 100 against an allowance of 1,000 pass exactly 10 times, the other 10 are refused with
 * ALLOWANCE_EXCEEDED and never reach the exchange — and `keys allowance list` shows the spend.
 * Orders over a WebSocket session are held the same way and settled with the exchange's answer.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dropSchema,
  POSTGRES_URL,
  randomSchema,
} from '../../adapters/postgres/postgres-harness.js';
import { cliCreateAccount, cliCreateKey, cliJson, type CliKey } from '../../helpers/cli-keys.js';
import { startServer, type ServerHandle } from '../../helpers/server-process.js';
import { createTempDir } from '../../helpers/temp-dir.js';
import { nativeLogin, wsUrlOf } from '../ws/helpers.js';
import {
  codeOf,
  NO_LIMITS,
  send,
  signed,
  writeConfig,
  type Answer,
} from '../data-plane/helpers.js';

describe.each(['sqlite', 'postgres'] as const)('spend allowances on %s', (kind) => {
  const dir = createTempDir('portcullis-e2e-allowances-');
  const schema = randomSchema();
  const storeEnv: Record<string, string> =
    kind === 'postgres' ? { PORTCULLIS_STORE: `${POSTGRES_URL}?schema=${schema}` } : {};
  let server: ServerHandle;
  let sandboxUrl: string;

  const call = (method: string, target: string, body: unknown, key: CliKey): Promise<Answer> =>
    send(signed(sandboxUrl, method, target, body, key));

  async function usdt(key: CliKey): Promise<{ free: string; locked: string } | undefined> {
    const answer = await call('GET', '/api/v1/balances', undefined, key);
    const balances = answer.body.balances as { asset: string; free: string; locked: string }[];
    return balances.find((b) => b.asset === 'USDT');
  }

  async function keyWithAllowance(allowance: 'notional' | 'withdrawal'): Promise<CliKey> {
    const accountId = await cliCreateAccount(server.dataDir, `allowance-${allowance}`);
    const key = await cliCreateKey(server.dataDir, { accountId, scopes: 'read,trade,withdraw' });
    // The key is cached by the data plane before its allowance is set: the change must reach it.
    expect((await usdt(key))?.free).toBe('100000');
    const set = await cliJson<{ remaining: string }>(
      ['keys', 'allowance', 'set', key.id, '--kind', allowance, '--asset', 'USDT'].concat([
        '--amount',
        '1000',
        '--period',
        '24h',
        '--expires-in',
        '7d',
      ]),
      server.dataDir,
    );
    expect(set.remaining).toBe('1000');
    return key;
  }

  /** Polls `read` until `holds` (every 50 ms, at most 10 s). */
  async function until<T>(read: () => Promise<T>, holds: (value: T) => boolean): Promise<T> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const value = await read();
      if (holds(value) || Date.now() > deadline) return value;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  const spentOf = async (key: CliKey): Promise<unknown> =>
    (await cliJson<{ spent: string }[]>(['keys', 'allowance', 'list', key.id], server.dataDir)).map(
      (a) => a.spent,
    );

  beforeAll(async () => {
    const config = writeConfig(dir.path, {
      environments: { sandbox: { ...NO_LIMITS }, production: { ...NO_LIMITS } },
    });
    server = await startServer({
      env: storeEnv,
      args: ['--config', config],
      dataDir: join(dir.path, 'data'),
    });
    sandboxUrl = (server.info.dataPlanes.sandbox as { url: string }).url;
  }, 60_000);

  afterAll(async () => {
    await server?.cleanup();
    dir.remove();
    if (kind === 'postgres') await dropSchema(schema);
  });

  it('20 concurrent orders of 100 USDT notional against 1,000/24h: exactly 10 placed', async () => {
    const key = await keyWithAllowance('notional');
    // 1 BTC at 100 USDT: below the market, so each order rests and locks exactly 100 USDT.
    const place = () =>
      call(
        'POST',
        '/api/v1/orders',
        { symbol: 'BTCUSDT', side: 'buy', type: 'limit', quantity: '1', price: '100' },
        key,
      );
    const answers = await Promise.all(Array.from({ length: 20 }, place));
    expect(answers.filter((a) => a.status === 201)).toHaveLength(10);
    const refused = answers.filter((a) => a.status !== 201);
    expect(refused.map((a) => [a.status, codeOf(a)])).toEqual(
      Array(10).fill([403, 'ALLOWANCE_EXCEEDED']),
    );
    // Only the accepted ten reached the exchange.
    expect(await usdt(key)).toEqual({ asset: 'USDT', free: '99000', locked: '1000' });
    expect(await spentOf(key)).toEqual(['1000']);
  });

  it('orders over a WebSocket session are held, and settled with the exchange’s answer', async () => {
    const key = await keyWithAllowance('notional');
    const socket = await nativeLogin(wsUrlOf(sandboxUrl), key);
    const order = (id: unknown, side: string, quantity: string) => ({
      id,
      method: 'order.place',
      params: { symbol: 'BTCUSDT', side, type: 'limit', quantity, price: '100' },
    });
    // A sell of 5 BTC (the account holds 2): held for 500 USDT, refused by the exchange, given back.
    socket.send(order('sell', 'sell', '5'));
    const refused = await socket.nextMatching((m) => m.id === 'sell');
    expect(refused.status).toBeGreaterThanOrEqual(400);
    const given = await until(
      () => spentOf(key),
      (spent) => JSON.stringify(spent) === '["0"]',
    );
    expect(given).toEqual(['0']);
    // Two buys of 4 BTC at 100 (400 USDT each) are placed; a third would pass the 1,000.
    socket.send(order('b1', 'buy', '4'));
    socket.send(order('b2', 'buy', '4'));
    socket.send(order('b3', 'buy', '4'));
    // The refusal comes from the gateway and may arrive before the exchange's answers.
    const byId = new Map<unknown, Record<string, unknown>>();
    while (byId.size < 3) {
      const answer = await socket.next();
      byId.set(answer.id, answer);
    }
    const answers = ['b1', 'b2', 'b3'].map((id) => byId.get(id) ?? {});
    expect(answers.map((a) => a.status)).toEqual([200, 200, 403]);
    expect(answers[2]).toMatchObject({ error: { code: 'ALLOWANCE_EXCEEDED' } });
    expect(await spentOf(key)).toEqual(['800']);
    // An order whose answer could not be told apart (no id) is refused before any hold.
    socket.send(order(null, 'buy', '1'));
    expect(await socket.nextMatching((m) => m.id === null)).toMatchObject({
      status: 400,
      error: { code: 'BAD_REQUEST' },
    });
    socket.close();
    expect(await usdt(key)).toEqual({ asset: 'USDT', free: '99200', locked: '800' });
  }, 60_000);

  it('20 concurrent withdrawals of 100 USDT against 1,000/24h: exactly 10 executed', async () => {
    const key = await keyWithAllowance('withdrawal');
    const withdraw = () =>
      call(
        'POST',
        '/api/v1/withdrawals',
        { asset: 'USDT', amount: '100', address: 'addr-e2e-0001' },
        key,
      );
    const answers = await Promise.all(Array.from({ length: 20 }, withdraw));
    expect(answers.filter((a) => a.status === 201)).toHaveLength(10);
    expect(answers.filter((a) => a.status !== 201).map(codeOf)).toEqual(
      Array<string>(10).fill('ALLOWANCE_EXCEEDED'),
    );
    expect((await usdt(key))?.free).toBe('99000');
    expect(await spentOf(key)).toEqual(['1000']);
  });
});
