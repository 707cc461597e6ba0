/**
 * The SDK against a real `portcullis start` process on real sockets: keys made by the CLI, a
 * signed order through the gateway to the built-in sandbox exchange and back, HMAC and
 * Ed25519, the gateway's own denials mapped to PortcullisApiError, and fail-over from a
 * refused port to the live listener.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, PortcullisApiError } from '../../src/client/index.js';
import { cliCreateAccount, cliCreateKey, type CliKey } from '../helpers/cli-keys.js';
import { startServer, type ServerHandle } from '../helpers/server-process.js';

let server: ServerHandle;
let sandboxUrl: string;
let hmacKey: CliKey;
let edKey: CliKey;
let edPrivateKey: KeyObject;

/** A loopback port nothing listens on: bound, then released. */
async function refusedUrl(): Promise<string> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return `http://127.0.0.1:${address.port}`;
}

beforeAll(async () => {
  server = await startServer();
  const url = server.info.dataPlanes.sandbox?.url;
  if (url === undefined) throw new Error('no sandbox data plane in runtime.json');
  sandboxUrl = url;
  const accountId = await cliCreateAccount(server.dataDir, 'sdk');
  const pair = generateKeyPairSync('ed25519');
  edPrivateKey = pair.privateKey;
  const publicKeyFile = join(server.dataDir, 'sdk-ed25519.pub');
  writeFileSync(publicKeyFile, pair.publicKey.export({ format: 'pem', type: 'spki' }));
  [hmacKey, edKey] = await Promise.all([
    cliCreateKey(server.dataDir, { accountId }),
    cliCreateKey(server.dataDir, {
      accountId,
      extra: ['--scheme', 'ed25519', '--public-key', publicKeyFile],
    }),
  ]);
});

afterAll(async () => {
  await server?.cleanup();
});

const hmacClient = (baseUrls = [sandboxUrl]) =>
  createClient({ baseUrls, keyId: hmacKey.id, secret: hmacKey.secret, maxRetries: 2 });

describe('SDK through a real gateway', () => {
  it('learns a small clock offset from the gateway', async () => {
    const client = hmacClient();
    expect(Math.abs(await client.syncTime())).toBeLessThan(1_000);
  });

  it('places a signed HMAC order and gets the sandbox fill back', async () => {
    const client = hmacClient();
    const order = await client.placeOrder({
      symbol: 'BTCUSDT',
      side: 'buy',
      type: 'market',
      quantity: '0.01',
    });
    expect(order).toMatchObject({ symbol: 'BTCUSDT', side: 'buy', status: 'filled' });
    expect(order.clientOrderId).toEqual(expect.any(String));
  });

  it('places, lists and cancels a resting order with an Ed25519 key', async () => {
    const client = createClient({
      baseUrls: [sandboxUrl],
      keyId: edKey.id,
      privateKey: edPrivateKey,
    });
    const order = await client.placeOrder({
      symbol: 'ETHUSDT',
      side: 'buy',
      type: 'limit',
      quantity: '1',
      price: '100',
    });
    expect(order.status).toBe('open');
    expect((await client.listOrders({ symbol: 'ETHUSDT' })).map((o) => o.id)).toContain(order.id);
    expect((await client.cancelOrder(order.id)).status).toBe('canceled');
  });

  it('reads balances', async () => {
    const balances = await hmacClient().getBalances();
    expect(balances.map((b) => b.asset)).toContain('USDT');
  });

  it('maps a gateway denial to PortcullisApiError with its reason code', async () => {
    const client = createClient({
      baseUrls: [sandboxUrl],
      keyId: hmacKey.id,
      secret: 'wrong-secret',
    });
    const error = await client.getBalances().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PortcullisApiError);
    expect(error).toMatchObject({ code: 'SIGNATURE_INVALID', status: 401 });
    expect((error as PortcullisApiError).requestId).toMatch(/^req_/);
  });

  it('maps a withdrawal without the withdraw scope to SCOPE_MISSING', async () => {
    const error = await hmacClient()
      .withdraw({ asset: 'BTC', amount: '0.1', address: 'bc1qexampleaddress' })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'SCOPE_MISSING', status: 403 });
  });

  it('fails over from a refused port to the live listener, even for a plain POST', async () => {
    const client = hmacClient([await refusedUrl(), sandboxUrl]);
    // No clientOrderId: not idempotent, moved only because the refusal proves it was not sent.
    const response = await client.post<{ status: string }>('/api/v1/orders', {
      symbol: 'BTCUSDT',
      side: 'sell',
      type: 'market',
      quantity: '0.01',
    });
    expect([response.status, response.body.status]).toEqual([201, 'filled']);
    expect(response.requestId).toMatch(/^req_/);
    expect(client.currentBaseUrl()).toBe(sandboxUrl);
  });
});
