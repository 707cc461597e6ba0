/**
 * Rate limits as real ccxt clients see them against a live gateway with low limits: binance
 * raises DDoSProtection (429 / 418, code -1003), bybit and okx RateLimitExceeded (10006 /
 * 50011), and ccxt's `last_response_headers` carry the dialect's own headers
 * (X-MBX-USED-WEIGHT-1M, X-Bapi-Limit-Status, RateLimit). One key per dialect (per-key limits
 * keep the dialects apart); the tests run in order because bans count per IP prefix.
 */
import ccxt from 'ccxt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliCreateAccount, cliCreateKey, type CliKey } from '../../helpers/cli-keys.js';
import { startServer, type ServerHandle } from '../../helpers/server-process.js';
import { createTempDir } from '../../helpers/temp-dir.js';
import { writeConfig } from '../data-plane/helpers.js';
import {
  binanceClient,
  bybitClient,
  okxClient,
  PASSPHRASE,
  rejectionOf,
} from '../dialects/dialect-gateway.js';

const configDir = createTempDir('portcullis-rl-ccxt-');
let server: ServerHandle;
let base: string;
const keys: Record<'binance' | 'bybit' | 'okx' | 'banned', CliKey> = {} as never;

beforeAll(async () => {
  const config = writeConfig(configDir.path, {
    environments: {
      sandbox: {
        limits: {
          // Two account reads (weight 20) or four balance reads (weight 10) a minute per key.
          perKey: [{ window: '1m', limit: 40 }],
          perAccount: [{ window: '1m', limit: 100_000 }],
          perIp: [{ window: '1m', limit: 100_000 }],
          // Each refusal test below adds one 429; the ban test adds the rest.
          bans: { refusalThreshold: 6, refusalWindow: '1m', firstBan: '2m' },
        },
      },
    },
  });
  server = await startServer({ args: ['--config', config] });
  try {
    base = (server.info.dataPlanes.sandbox as { url: string }).url;
    const accountId = await cliCreateAccount(server.dataDir, 'ccxt-limits');
    const make = () =>
      cliCreateKey(server.dataDir, { accountId, extra: ['--passphrase', PASSPHRASE] });
    const [binance, bybit, okx, banned] = await Promise.all([make(), make(), make(), make()]);
    Object.assign(keys, { binance, bybit, okx, banned });
  } catch (error) {
    await server.cleanup();
    throw error;
  }
}, 90_000);

afterAll(async () => {
  await server?.cleanup();
  configDir.remove();
});

/** A response header as ccxt recorded it, whatever the case of its name. */
function header(client: { last_response_headers: unknown }, name: string): string | undefined {
  const headers = (client.last_response_headers ?? {}) as Record<string, string>;
  const found = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
  return found === undefined ? undefined : headers[found];
}

describe.sequential('rate limits seen by real ccxt clients', () => {
  it('binance: X-MBX-USED-WEIGHT-1M counts the weight; past the limit ccxt raises DDoSProtection', async () => {
    const client = binanceClient(base, keys.binance);
    await client.privateGetAccount();
    expect(header(client, 'X-MBX-USED-WEIGHT-1M')).toBe('20');
    await client.privateGetAccount();
    expect(header(client, 'X-MBX-USED-WEIGHT-1M')).toBe('40');
    const error = await rejectionOf(client.privateGetAccount());
    expect(error).toBeInstanceOf(ccxt.DDoSProtection);
    expect(String((error as Error).message)).toContain('-1003');
    expect(Number(header(client, 'Retry-After'))).toBeGreaterThanOrEqual(1);
  });

  it('bybit: X-Bapi-Limit-Status counts down; past the limit ccxt raises RateLimitExceeded', async () => {
    const client = bybitClient(base, keys.bybit);
    const balance = () => client.privateGetV5AccountWalletBalance({ accountType: 'UNIFIED' });
    const statuses: (string | undefined)[] = [];
    for (let i = 0; i < 4; i++) {
      await balance();
      statuses.push(header(client, 'X-Bapi-Limit-Status'));
    }
    expect(statuses).toEqual(['30', '20', '10', '0']);
    expect(header(client, 'X-Bapi-Limit')).toBe('40');
    const error = await rejectionOf(balance());
    expect(error).toBeInstanceOf(ccxt.RateLimitExceeded);
    expect(String((error as Error).message)).toContain('10006');
  });

  it('okx: RateLimit counts down; past the limit ccxt raises RateLimitExceeded', async () => {
    const client = okxClient(base, keys.okx);
    const balance = () => client.privateGetAccountBalance({ ccy: 'BTC' });
    for (let i = 0; i < 4; i++) await balance();
    expect(header(client, 'RateLimit')).toMatch(/"key-1m";r=0;t=\d+/);
    const error = await rejectionOf(balance());
    expect(error).toBeInstanceOf(ccxt.RateLimitExceeded);
    expect(String((error as Error).message)).toContain('50011');
  });

  it('binance: an IP that keeps going after 429s gets 418, and ccxt raises DDoSProtection', async () => {
    const client = binanceClient(base, keys.banned);
    await client.privateGetAccount();
    await client.privateGetAccount();
    let status: number | undefined;
    for (let i = 0; i < 10 && status !== 418; i++) {
      const error = await rejectionOf(client.privateGetAccount());
      expect(error).toBeInstanceOf(ccxt.DDoSProtection);
      status = (error as Error).message.includes('418') ? 418 : 429;
    }
    expect(status).toBe(418);
    expect(Number(header(client, 'Retry-After'))).toBeGreaterThan(60);
  });
});
