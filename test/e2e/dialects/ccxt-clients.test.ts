/**
 * Existing exchange clients work unchanged through the gateway: the real ccxt package (4.5.84)
 * with only `urls.api` overridden, keys made by the real CLI, a real `portcullis start` process
 * and the built-in sandbox exchange behind it. Denials must make ccxt raise the class it raises
 * against the real exchange (the mapping is in docs/dialects.md).
 */
import ccxt from 'ccxt';
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliCreateAccount, cliCreateKey, cliJson, type CliKey } from '../../helpers/cli-keys.js';
import { adminRequest } from '../../helpers/server-process.js';
import {
  binanceClient,
  bybitClient,
  okxClient,
  PASSPHRASE,
  rejectionOf,
  startDialectGateway,
  waitUntilExpired,
  type ClientOptions,
  type DialectGateway,
} from './dialect-gateway.js';

let gateway: DialectGateway;

beforeAll(async () => {
  gateway = await startDialectGateway();
});
afterAll(async () => {
  await gateway?.server.cleanup();
});

type ErrorClass = abstract new (...args: never[]) => Error;

/** One dialect as a ccxt user drives it: raw implicit methods, and what the venue answers. */
interface DialectCase {
  readonly name: 'binance' | 'bybit' | 'okx';
  readonly balance: (base: string, key: CliKey, options?: ClientOptions) => Promise<unknown>;
  readonly placeAndCancel: (
    base: string,
    key: CliKey,
  ) => Promise<{ placed: unknown; canceled: unknown }>;
  readonly place: (base: string, key: CliKey) => Promise<unknown>;
  /** ccxt's `fetchTime()` over the exchange's public time route. */
  readonly fetchTime: (base: string, key: CliKey) => Promise<number | undefined>;
  /** A private call signed with a clock `behindMs` late (ccxt's `options.timeDifference`). */
  readonly lateBalance: (base: string, key: CliKey, behindMs: number) => Promise<unknown>;
  /** What the real venue makes ccxt raise, by failure. */
  readonly raises: {
    readonly wrongSecret: ErrorClass;
    readonly expired: ErrorClass;
    readonly revoked: ErrorClass;
    readonly readOnlyOrder: ErrorClass;
    readonly ipNotAllowed: ErrorClass;
    readonly otherEnvironment: ErrorClass;
    readonly late: ErrorClass;
  };
  /** The code each failure carries on the wire, as the venue writes it. */
  readonly codes: {
    readonly wrongSecret: string;
    readonly expired: string;
    readonly readOnlyOrder: string;
    readonly ipNotAllowed: string;
    readonly otherEnvironment: string;
    readonly late: string;
  };
}

const BINANCE: DialectCase = {
  name: 'binance',
  balance: (base, key, options) => binanceClient(base, key, options).privateGetAccount(),
  async placeAndCancel(base, key) {
    const client = binanceClient(base, key);
    const placed = (await client.privatePostOrder(BINANCE_ORDER)) as { orderId: number };
    const canceled = await client.privateDeleteOrder({
      symbol: 'BTCUSDT',
      orderId: placed.orderId,
    });
    return { placed, canceled };
  },
  place: (base, key) => binanceClient(base, key).privatePostOrder(BINANCE_ORDER),
  fetchTime: (base, key) => binanceClient(base, key).fetchTime(),
  lateBalance(base, key, behindMs) {
    const client = binanceClient(base, key);
    client.options['timeDifference'] = behindMs;
    return client.privateGetAccount();
  },
  raises: {
    wrongSecret: ccxt.AuthenticationError,
    expired: ccxt.AuthenticationError,
    revoked: ccxt.AuthenticationError,
    // Binance answers -2015 for a missing permission too; ccxt maps it to AuthenticationError.
    readOnlyOrder: ccxt.AuthenticationError,
    ipNotAllowed: ccxt.AuthenticationError,
    otherEnvironment: ccxt.AuthenticationError,
    late: ccxt.InvalidNonce,
  },
  codes: {
    wrongSecret: '-1022',
    expired: '-2015',
    readOnlyOrder: '-2015',
    ipNotAllowed: '-2015',
    otherEnvironment: '-2015',
    late: '-1021',
  },
};
const BINANCE_ORDER = {
  symbol: 'BTCUSDT',
  side: 'BUY',
  type: 'LIMIT',
  timeInForce: 'GTC',
  quantity: '0.001',
  price: '40000',
};

const BYBIT_ORDER = {
  category: 'spot',
  symbol: 'BTCUSDT',
  side: 'Buy',
  orderType: 'Limit',
  qty: '0.001',
  price: '40000',
};
const BYBIT: DialectCase = {
  name: 'bybit',
  balance: (base, key, options) =>
    bybitClient(base, key, options).privateGetV5AccountWalletBalance({ accountType: 'UNIFIED' }),
  async placeAndCancel(base, key) {
    const client = bybitClient(base, key);
    const placed = (await client.privatePostV5OrderCreate(BYBIT_ORDER)) as {
      result: { orderId: string };
    };
    const canceled = await client.privatePostV5OrderCancel({
      category: 'spot',
      symbol: 'BTCUSDT',
      orderId: placed.result.orderId,
    });
    return { placed, canceled };
  },
  place: (base, key) => bybitClient(base, key).privatePostV5OrderCreate(BYBIT_ORDER),
  fetchTime: (base, key) => bybitClient(base, key).fetchTime(),
  lateBalance(base, key, behindMs) {
    const client = bybitClient(base, key);
    client.options['timeDifference'] = behindMs;
    return client.privateGetV5AccountWalletBalance({ accountType: 'UNIFIED' });
  },
  raises: {
    wrongSecret: ccxt.AuthenticationError,
    expired: ccxt.AuthenticationError,
    revoked: ccxt.AuthenticationError,
    readOnlyOrder: ccxt.PermissionDenied,
    ipNotAllowed: ccxt.PermissionDenied,
    otherEnvironment: ccxt.AuthenticationError,
    late: ccxt.InvalidNonce,
  },
  codes: {
    wrongSecret: '10004',
    expired: '10003',
    readOnlyOrder: '10005',
    ipNotAllowed: '10010',
    otherEnvironment: '10003',
    late: '10002',
  },
};

const OKX_ORDER = {
  instId: 'BTC-USDT',
  tdMode: 'cash',
  side: 'buy',
  ordType: 'limit',
  px: '40000',
  sz: '0.001',
};
const OKX: DialectCase = {
  name: 'okx',
  balance: (base, key, options) =>
    okxClient(base, key, options).privateGetAccountBalance({ ccy: 'BTC' }),
  async placeAndCancel(base, key) {
    const client = okxClient(base, key);
    const placed = (await client.privatePostTradeOrder(OKX_ORDER)) as {
      data: [{ ordId: string }];
    };
    const canceled = await client.privatePostTradeCancelOrder({
      instId: 'BTC-USDT',
      ordId: placed.data[0].ordId,
    });
    return { placed, canceled };
  },
  place: (base, key) => okxClient(base, key).privatePostTradeOrder(OKX_ORDER),
  fetchTime: (base, key) => okxClient(base, key).fetchTime(),
  lateBalance(base, key, behindMs) {
    const client = okxClient(base, key);
    client.options['timeDifference'] = behindMs;
    return client.privateGetAccountBalance({ ccy: 'BTC' });
  },
  raises: {
    wrongSecret: ccxt.AuthenticationError,
    expired: ccxt.AuthenticationError,
    revoked: ccxt.AuthenticationError,
    // OKX's own 50120 is not in ccxt's table: it raises ExchangeError against okx.com too.
    readOnlyOrder: ccxt.ExchangeError,
    ipNotAllowed: ccxt.PermissionDenied,
    otherEnvironment: ccxt.AuthenticationError,
    late: ccxt.InvalidNonce,
  },
  codes: {
    wrongSecret: '50113',
    expired: '50111',
    readOnlyOrder: '50120',
    ipNotAllowed: '50110',
    otherEnvironment: '50101',
    late: '50102',
  },
};

/**
 * The exact class (not a subclass: PermissionDenied is an AuthenticationError) and the venue's
 * error code, which ccxt puts in the message as `<exchange> <response body>`.
 */
function expectCcxtError(error: unknown, expected: ErrorClass, code: string): void {
  expect(error).toBeInstanceOf(expected);
  expect((error as Error).constructor).toBe(expected);
  const message = (error as Error).message;
  const body = JSON.parse(message.slice(message.indexOf(' ') + 1)) as Record<string, unknown>;
  expect(String(body.code ?? body.retCode)).toBe(code);
}

describe.each([BINANCE, BYBIT, OKX])('ccxt $name through the gateway', (dialect) => {
  const sandbox = () => gateway.sandboxUrl;
  const keys = () => gateway.keys;

  it('reads the balance with a raw private method and gets the sandbox answer', async () => {
    const answer = await dialect.balance(sandbox(), keys().trader);
    expect(JSON.stringify(answer)).toContain('BTC');
  });

  it('places an order and cancels it', async () => {
    const { placed, canceled } = await dialect.placeAndCancel(sandbox(), keys().trader);
    expect(placed).toBeTruthy();
    expect(JSON.stringify(canceled)).toMatch(/CANCELED|"retCode":0|"code":"0"/);
  });

  it("fetches the server time from the exchange's public route", async () => {
    const serverMs = await dialect.fetchTime(sandbox(), keys().trader);
    expect(Math.abs((serverMs ?? 0) - Date.now())).toBeLessThan(60_000);
  });

  it('a wrong secret raises the signature error', async () => {
    const error = await rejectionOf(
      dialect.balance(sandbox(), keys().trader, { secret: 'psk_not-the-secret' }),
    );
    expectCcxtError(error, dialect.raises.wrongSecret, dialect.codes.wrongSecret);
  });

  it('a clock two minutes late raises InvalidNonce', async () => {
    const error = await rejectionOf(dialect.lateBalance(sandbox(), keys().trader, 120_000));
    expectCcxtError(error, dialect.raises.late, dialect.codes.late);
  });

  it('an expired key raises the invalid-key error', async () => {
    await waitUntilExpired(gateway.server, keys().shortLived.id);
    const error = await rejectionOf(dialect.balance(sandbox(), keys().shortLived));
    expectCcxtError(error, dialect.raises.expired, dialect.codes.expired);
  });

  it('a revoked key raises the invalid-key error', async () => {
    const error = await rejectionOf(dialect.balance(sandbox(), keys().revoked));
    expectCcxtError(error, dialect.raises.revoked, dialect.codes.expired);
  });

  it('a read-only key placing an order raises the permission error', async () => {
    const error = await rejectionOf(dialect.place(sandbox(), keys().reader));
    expectCcxtError(error, dialect.raises.readOnlyOrder, dialect.codes.readOnlyOrder);
  });

  it('a read-only key still reads the balance', async () => {
    await expect(dialect.balance(sandbox(), keys().reader)).resolves.toBeTruthy();
  });

  it('a key allowlisted for 10.0.0.0/8 called from 127.0.0.1 raises the IP error', async () => {
    const error = await rejectionOf(dialect.balance(sandbox(), keys().elsewhere));
    expectCcxtError(error, dialect.raises.ipNotAllowed, dialect.codes.ipNotAllowed);
  });

  it('a production key on the sandbox listener raises the wrong-environment error', async () => {
    const error = await rejectionOf(dialect.balance(sandbox(), keys().production));
    expectCcxtError(error, dialect.raises.otherEnvironment, dialect.codes.otherEnvironment);
  });
});

describe('ccxt okx passphrase', () => {
  it('a wrong passphrase raises AuthenticationError with OKX 50105', async () => {
    const error = await rejectionOf(
      OKX.balance(gateway.sandboxUrl, gateway.keys.trader, { passphrase: 'not-the-passphrase' }),
    );
    expectCcxtError(error, ccxt.AuthenticationError, '50105');
  });
});

describe('ccxt binance with an Ed25519 key', () => {
  it('signs with the private key (percent-encoded base64) and the gateway verifies it', async () => {
    const pair = generateKeyPairSync('ed25519');
    const publicKeyFile = join(gateway.server.dataDir, 'ed25519-public.pem');
    writeFileSync(publicKeyFile, pair.publicKey.export({ type: 'spki', format: 'pem' }));
    const key = await cliCreateKey(gateway.server.dataDir, {
      accountId: gateway.keys.trader.accountId,
      extra: ['--scheme', 'ed25519', '--public-key', publicKeyFile],
    });
    // ccxt picks Ed25519 for a PEM secret of at most 120 characters (RSA above).
    const privatePem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const client = binanceClient(gateway.sandboxUrl, key, { secret: privatePem });
    await expect(client.privateGetAccount()).resolves.toHaveProperty('balances');
    const placed = (await client.privatePostOrder(BINANCE_ORDER)) as { orderId: number };
    await expect(
      client.privateDeleteOrder({ symbol: 'BTCUSDT', orderId: placed.orderId }),
    ).resolves.toMatchObject({ status: 'CANCELED' });
  });
});

/**
 * Policies and spend allowances read the same order parameters whatever dialect the client
 * speaks (docs/policies.md §2.1): a notional limit and a no-sell rule written once hold for ccxt
 * binance, bybit and okx, and a notional allowance counts their orders.
 */
const SIZED: Record<
  DialectCase['name'],
  (base: string, key: CliKey, qty: string, sell?: boolean) => Promise<unknown>
> = {
  binance: (base, key, qty, sell) =>
    binanceClient(base, key).privatePostOrder({
      ...BINANCE_ORDER,
      quantity: qty,
      side: sell ? 'SELL' : 'BUY',
    }),
  bybit: (base, key, qty, sell) =>
    bybitClient(base, key).privatePostV5OrderCreate({
      ...BYBIT_ORDER,
      qty,
      side: sell ? 'Sell' : 'Buy',
    }),
  okx: (base, key, qty, sell) =>
    okxClient(base, key).privatePostTradeOrder({
      ...OKX_ORDER,
      sz: qty,
      side: sell ? 'sell' : 'buy',
    }),
};
/**
 * What ccxt raises for POLICY_DENIED and ALLOWANCE_EXCEEDED in each dialect (docs/dialects.md),
 * and the wire code. ccxt binance matches -1002 by its message first, and raises with the
 * message alone, so that is what its error carries.
 */
const NOT_PERMITTED: Record<DialectCase['name'], (error: unknown) => void> = {
  binance(error) {
    expect((error as Error).constructor).toBe(ccxt.PermissionDenied);
    expect((error as Error).message).toBe(
      'binance You are not authorized to execute this request.',
    );
  },
  bybit: (error) => expectCcxtError(error, ccxt.PermissionDenied, '10005'),
  okx: (error) => expectCcxtError(error, ccxt.ExchangeError, '50120'),
};

describe.each([BINANCE, BYBIT, OKX])('policies and allowances on ccxt $name orders', (dialect) => {
  const place = SIZED[dialect.name];
  const refused = NOT_PERMITTED[dialect.name];
  const newKey = async (name: string): Promise<CliKey> => {
    const accountId = await cliCreateAccount(gateway.server.dataDir, `${dialect.name}-${name}`);
    return cliCreateKey(gateway.server.dataDir, {
      accountId,
      extra: ['--passphrase', PASSPHRASE],
    });
  };

  it('one rule over params.notional and params.side decides as it does for native orders', async () => {
    const key = await newKey('policies');
    const target = { actions: ['order.place'], accounts: [key.accountId] };
    for (const policy of [
      { id: `${dialect.name}-orders-baseline`, effect: 'permit', target, condition: 'true' },
      {
        id: `${dialect.name}-orders-small-buys`,
        effect: 'forbid',
        target,
        condition: 'params.side == "sell" || params.orderType != "limit" || params.notional > 50.0',
      },
    ]) {
      expect((await adminRequest(gateway.server, 'POST', '/v1/policies', policy)).status).toBe(201);
    }
    // 0.001 BTC at 40,000: 40 USDT.
    await expect(place(gateway.sandboxUrl, key, '0.001')).resolves.toBeTruthy();
    refused(await rejectionOf(place(gateway.sandboxUrl, key, '0.002')));
    refused(await rejectionOf(place(gateway.sandboxUrl, key, '0.001', true)));
  });

  it('a notional allowance of 100 USDT places two orders of 40 and refuses the third', async () => {
    const key = await newKey('allowance');
    await cliJson(
      ['keys', 'allowance', 'set', key.id, '--kind', 'notional', '--asset', 'USDT'].concat([
        '--amount',
        '100',
        '--period',
        '24h',
        '--expires-in',
        '7d',
      ]),
      gateway.server.dataDir,
    );
    await expect(place(gateway.sandboxUrl, key, '0.001')).resolves.toBeTruthy();
    await expect(place(gateway.sandboxUrl, key, '0.001')).resolves.toBeTruthy();
    refused(await rejectionOf(place(gateway.sandboxUrl, key, '0.001')));
    const listed = await cliJson<{ remaining: string }[]>(
      ['keys', 'allowance', 'list', key.id],
      gateway.server.dataDir,
    );
    expect(listed.map((a) => a.remaining)).toEqual(['20']);
  });
});
