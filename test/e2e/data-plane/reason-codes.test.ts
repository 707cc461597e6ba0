/**
 * Issue 3's data plane against a real `portcullis start` (both listeners, each in front of its
 * own built-in sandbox exchange): a signed order round trip; every reason code the pipeline
 * decides, each from a request built to trigger it; key changes made through the CLI taking
 * effect on the next request; keys refused on the other environment; identity the upstream sees.
 * Bad input (413, 431, duplicates, malformed fields, slow clients) is in bad-input.test.ts.
 */
import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signNativeRequest } from '../../../src/core/signing/native/index.js';
import {
  cliCreateAccount,
  cliCreateKey,
  cliJson,
  cliRevokeKey,
  cliRotateKey,
  type CliKey,
} from '../../helpers/cli-keys.js';
import { startServer, type ServerHandle } from '../../helpers/server-process.js';
import { createTempDir } from '../../helpers/temp-dir.js';
import {
  codeOf,
  comparable,
  NO_LIMITS,
  nonce,
  nowSeconds,
  send,
  signed,
  writeConfig,
  type Answer,
  type SignOptions,
} from './helpers.js';

const ORDER = { symbol: 'BTCUSDT', side: 'buy', type: 'market', quantity: '0.01' };
const PASSPHRASE = 'e2e passphrase';

const configDir = createTempDir('portcullis-dp-config-');
let server: ServerHandle;
let sandboxUrl: string;
let productionUrl: string;
let accountId: string;
let trader: CliKey;
let reader: CliKey;
let liveTrader: CliKey;
let restricted: CliKey;
let okxKey: CliKey;
let edKey: CliKey;
let edPrivateKey: KeyObject;

const call = (
  method: string,
  target: string,
  body: unknown,
  key: Pick<CliKey, 'id' | 'secret'>,
  options: SignOptions & { base?: string } = {},
): Promise<Answer> => send(signed(options.base ?? sandboxUrl, method, target, body, key, options));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  const config = writeConfig(configDir.path, {
    environments: { sandbox: NO_LIMITS, production: NO_LIMITS },
  });
  server = await startServer({ args: ['--config', config] });
  try {
    sandboxUrl = (server.info.dataPlanes.sandbox as { url: string }).url;
    productionUrl = (server.info.dataPlanes.production as { url: string }).url;
    accountId = await cliCreateAccount(server.dataDir, 'reason-codes');
    const pair = generateKeyPairSync('ed25519');
    edPrivateKey = pair.privateKey;
    const pem = join(configDir.path, 'ed25519.pub.pem');
    writeFileSync(pem, pair.publicKey.export({ type: 'spki', format: 'pem' }));
    [trader, reader, liveTrader, restricted, okxKey, edKey] = await Promise.all([
      cliCreateKey(server.dataDir, { accountId, scopes: 'read,trade' }),
      cliCreateKey(server.dataDir, { accountId, scopes: 'read' }),
      cliCreateKey(server.dataDir, { accountId, env: 'production', scopes: 'read,trade' }),
      cliCreateKey(server.dataDir, { accountId, extra: ['--ip', '10.0.0.0/8'] }),
      cliCreateKey(server.dataDir, {
        accountId,
        scopes: 'read',
        extra: ['--passphrase', PASSPHRASE],
      }),
      cliCreateKey(server.dataDir, {
        accountId,
        extra: ['--scheme', 'ed25519', '--public-key', pem],
      }),
    ]);
  } catch (error) {
    await server.cleanup();
    throw error;
  }
}, 90_000);

afterAll(async () => {
  await server?.cleanup();
  configDir.remove();
});

describe('allowed requests', () => {
  it('a signed order reaches the sandbox exchange and its answer comes back', async () => {
    const answer = await call('POST', '/api/v1/orders', ORDER, trader);
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ symbol: 'BTCUSDT', side: 'buy', status: 'filled' });
    const orders = await call('GET', '/api/v1/orders?symbol=BTCUSDT', undefined, trader);
    expect(orders.status).toBe(200);
  });

  it('an Ed25519-signed order is allowed', async () => {
    const bytes = Buffer.from(JSON.stringify(ORDER));
    const headers = signNativeRequest({
      method: 'POST',
      path: '/api/v1/orders',
      rawQuery: null,
      body: bytes,
      keyId: edKey.id,
      privateKey: edPrivateKey,
      createdSeconds: nowSeconds(),
      nonce: nonce(),
    });
    const answer = await send({
      method: 'POST',
      url: `${sandboxUrl}/api/v1/orders`,
      headers: { ...headers, 'content-type': 'application/json' },
      body: bytes,
    });
    expect(answer.status).toBe(201);
  });

  it('a production key works on the production listener', async () => {
    const answer = await call('GET', '/api/v1/balances', undefined, liveTrader, {
      base: productionUrl,
    });
    expect(answer.status).toBe(200);
  });

  it('a public route needs no key', async () => {
    const response = await fetch(`${sandboxUrl}/api/v1/time`);
    expect(response.status).toBe(200);
  });
});

describe('every reason code, from a request built to trigger it', () => {
  const expectDenied = (answer: Answer, status: number, code: string) => {
    expect({ status: answer.status, code: codeOf(answer) }).toEqual({ status, code });
    expect(answer.body.error?.requestId).toMatch(/^req_/);
  };

  it('CREDENTIALS_MISSING: no signature at all', async () => {
    const answer = await send({
      method: 'GET',
      url: `${sandboxUrl}/api/v1/balances`,
      headers: {},
      body: Buffer.alloc(0),
    });
    expectDenied(answer, 401, 'CREDENTIALS_MISSING');
  });

  it('SIGNATURE_MALFORMED: a Signature-Input without its nonce', async () => {
    const request = signed(sandboxUrl, 'GET', '/api/v1/balances', undefined, trader);
    const input = (request.headers['signature-input'] as string).replace(/;nonce="[^"]*"/, '');
    const answer = await send({
      ...request,
      headers: { ...request.headers, 'signature-input': input },
    });
    expectDenied(answer, 400, 'SIGNATURE_MALFORMED');
  });

  it('SIGNATURE_INVALID: signed with the wrong secret', async () => {
    const answer = await call('GET', '/api/v1/balances', undefined, trader, {
      secret: 'psk_wrong',
    });
    expectDenied(answer, 401, 'SIGNATURE_INVALID');
  });

  it('KEY_UNKNOWN is answered exactly like SIGNATURE_INVALID (status and body but the request id)', async () => {
    const unknown = await call('GET', '/api/v1/balances', undefined, trader, {
      keyId: 'pk_test_DoesNotExist00000000',
    });
    const bad = await call('GET', '/api/v1/balances', undefined, trader, { secret: 'psk_wrong' });
    expect(codeOf(bad)).toBe('SIGNATURE_INVALID');
    expect(comparable(unknown)).toEqual(comparable(bad));
    expect(unknown.body.error?.requestId).not.toBe(bad.body.error?.requestId);
  });

  it('TIMESTAMP_OUTSIDE_WINDOW: created a minute ago', async () => {
    const answer = await call('GET', '/api/v1/balances', undefined, trader, {
      createdSeconds: nowSeconds() - 60,
    });
    expectDenied(answer, 401, 'TIMESTAMP_OUTSIDE_WINDOW');
  });

  it('TIMESTAMP_OUTSIDE_WINDOW: created a minute ahead', async () => {
    const answer = await call('GET', '/api/v1/balances', undefined, trader, {
      createdSeconds: nowSeconds() + 60,
    });
    expectDenied(answer, 401, 'TIMESTAMP_OUTSIDE_WINDOW');
  });

  it('NONCE_REPLAYED: the same signed request twice', async () => {
    const request = signed(sandboxUrl, 'GET', '/api/v1/balances', undefined, trader);
    expect((await send(request)).status).toBe(200);
    expectDenied(await send(request), 401, 'NONCE_REPLAYED');
  });

  it('DIGEST_MISMATCH: the body changed after signing', async () => {
    const answer = await call('POST', '/api/v1/orders', ORDER, trader, {
      sendBody: Buffer.from(JSON.stringify({ ...ORDER, quantity: '9.99' })),
    });
    expectDenied(answer, 401, 'DIGEST_MISMATCH');
  });

  it('KEY_REVOKED: a key revoked through the CLI', async () => {
    const key = await cliCreateKey(server.dataDir, { accountId });
    await cliRevokeKey(server.dataDir, key.id);
    expectDenied(await call('GET', '/api/v1/balances', undefined, key), 401, 'KEY_REVOKED');
  });

  it('KEY_EXPIRED: a key past its expiry', async () => {
    const shortLived = await cliCreateKey(server.dataDir, {
      accountId,
      extra: ['--expires-in', '1s'],
    });
    const deadline = Date.now() + 10_000;
    let answer = await call('GET', '/api/v1/balances', undefined, shortLived);
    while (codeOf(answer) !== 'KEY_EXPIRED' && Date.now() < deadline) {
      await sleep(100);
      answer = await call('GET', '/api/v1/balances', undefined, shortLived);
    }
    expectDenied(answer, 401, 'KEY_EXPIRED');
  });

  it('ENV_MISMATCH: a sandbox key on the production listener', async () => {
    const answer = await call('GET', '/api/v1/balances', undefined, trader, {
      base: productionUrl,
    });
    expectDenied(answer, 401, 'ENV_MISMATCH');
  });

  it('ENV_MISMATCH: a production key on the sandbox listener', async () => {
    const answer = await call('GET', '/api/v1/balances', undefined, liveTrader);
    expectDenied(answer, 401, 'ENV_MISMATCH');
  });

  it('IP_NOT_ALLOWED: a 10.0.0.0/8 key from 127.0.0.1, X-Forwarded-For from an untrusted peer ignored', async () => {
    const answer = await call('GET', '/api/v1/balances', undefined, restricted, {
      headers: { 'x-forwarded-for': '10.1.1.1' },
    });
    expectDenied(answer, 403, 'IP_NOT_ALLOWED');
  });

  it('SCOPE_MISSING: a read-only key placing an order', async () => {
    expectDenied(await call('POST', '/api/v1/orders', ORDER, reader), 403, 'SCOPE_MISSING');
  });

  it('ROUTE_UNKNOWN: a signed request to a path no route matches', async () => {
    expectDenied(await call('GET', '/api/v1/nowhere', undefined, trader), 404, 'ROUTE_UNKNOWN');
  });

  it('BAD_REQUEST: a duplicate JSON key on a signed order', async () => {
    const raw = Buffer.from(
      '{"symbol":"BTCUSDT","side":"buy","type":"market","quantity":"0.01","quantity":"100"}',
    );
    expectDenied(
      await call('POST', '/api/v1/orders', undefined, trader, { rawBody: raw }),
      400,
      'BAD_REQUEST',
    );
  });

  it('PASSPHRASE_INVALID: an OKX-signed request with the wrong passphrase', async () => {
    const okx = (passphrase: string) => {
      const timestamp = new Date().toISOString();
      const path = '/api/v5/account/balance';
      const sign = createHmac('sha256', okxKey.secret as string)
        .update(`${timestamp}GET${path}`)
        .digest('base64');
      return fetch(`${sandboxUrl}${path}`, {
        headers: {
          'ok-access-key': okxKey.id,
          'ok-access-sign': sign,
          'ok-access-timestamp': timestamp,
          'ok-access-passphrase': passphrase,
        },
      });
    };
    const refused = await okx('not the passphrase');
    expect(refused.status).toBe(401);
    // The OKX dialect answers in OKX's envelope: {"code":"50105",...} for a wrong passphrase.
    expect(JSON.stringify(await refused.json())).toContain('50105');
    expect((await okx(PASSPHRASE)).status).toBe(200);
  });
});

describe('changes through the CLI take effect on the next request', () => {
  it('a revoked key is refused on the very next request', async () => {
    const key = await cliCreateKey(server.dataDir, { accountId });
    expect((await call('GET', '/api/v1/balances', undefined, key)).status).toBe(200);
    await cliRevokeKey(server.dataDir, key.id);
    expect(codeOf(await call('GET', '/api/v1/balances', undefined, key))).toBe('KEY_REVOKED');
  });

  it('rotation with --grace 0s: the new secret works at once, the old one is refused at once', async () => {
    const key = await cliCreateKey(server.dataDir, { accountId });
    expect((await call('GET', '/api/v1/balances', undefined, key)).status).toBe(200);
    const rotated = await cliRotateKey(server.dataDir, key.id, '0s');
    expect(rotated.secret).toBeDefined();
    expect(rotated.secret).not.toBe(key.secret);
    const fresh = { id: key.id, secret: rotated.secret as string };
    expect((await call('GET', '/api/v1/balances', undefined, fresh)).status).toBe(200);
    expect(codeOf(await call('GET', '/api/v1/balances', undefined, key))).toBe('SIGNATURE_INVALID');
  });

  it('rotation with --grace 2s: the old secret works within the grace and is refused after it', async () => {
    const key = await cliCreateKey(server.dataDir, { accountId });
    const rotated = await cliRotateKey(server.dataDir, key.id, '2s');
    const rotatedAt = Date.now();
    const fresh = { id: key.id, secret: rotated.secret as string };
    expect((await call('GET', '/api/v1/balances', undefined, fresh)).status).toBe(200);
    expect((await call('GET', '/api/v1/balances', undefined, key)).status).toBe(200);
    let answer = await call('GET', '/api/v1/balances', undefined, key);
    let acceptedAfterRotation = answer.status === 200;
    while (answer.status === 200 && Date.now() - rotatedAt < 15_000) {
      await sleep(100);
      answer = await call('GET', '/api/v1/balances', undefined, key);
      if (answer.status === 200) acceptedAfterRotation = true;
    }
    expect(acceptedAfterRotation).toBe(true);
    expect(codeOf(answer)).toBe('SIGNATURE_INVALID');
    // The grace began before the CLI answered: the refusal cannot come much sooner than 2 s.
    expect(Date.now() - rotatedAt).toBeGreaterThanOrEqual(1_000);
    expect((await call('GET', '/api/v1/balances', undefined, fresh)).status).toBe(200);
  });

  it('a scope removed through the CLI is refused on the next request, and restored works', async () => {
    const key = await cliCreateKey(server.dataDir, { accountId, scopes: 'read,trade' });
    expect((await call('POST', '/api/v1/orders', ORDER, key)).status).toBe(201);
    await cliJson(['keys', 'update', key.id, '--scopes', 'read'], server.dataDir);
    expect(codeOf(await call('POST', '/api/v1/orders', ORDER, key))).toBe('SCOPE_MISSING');
    await cliJson(['keys', 'update', key.id, '--scopes', 'read,trade'], server.dataDir);
    expect((await call('POST', '/api/v1/orders', ORDER, key)).status).toBe(201);
  });

  it('an IP allowlist set through the CLI is enforced on the next request', async () => {
    const key = await cliCreateKey(server.dataDir, { accountId });
    expect((await call('GET', '/api/v1/balances', undefined, key)).status).toBe(200);
    await cliJson(['keys', 'update', key.id, '--ip', '10.0.0.0/8'], server.dataDir);
    expect(codeOf(await call('GET', '/api/v1/balances', undefined, key))).toBe('IP_NOT_ALLOWED');
  });
});

describe('identity the upstream sees', () => {
  it('GET /api/v1/account echoes the key’s own account, key and scopes', async () => {
    const answer = await call('GET', '/api/v1/account', undefined, trader);
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ accountId, keyId: trader.id, scopes: ['read', 'trade'] });
  });

  it('a client-sent X-Portcullis-Account (and -Key, -Scopes) does not change the account', async () => {
    const answer = await call('GET', '/api/v1/account', undefined, trader, {
      headers: {
        'x-portcullis-account': 'acc_forged0000000',
        'x-portcullis-key': 'pk_test_forged00000000',
        'x-portcullis-scopes': 'read,trade,withdraw',
      },
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ accountId, keyId: trader.id, canWithdraw: false });
  });

  it('a public route with a forged account header gets no identity', async () => {
    const response = await fetch(`${sandboxUrl}/api/v1/account`, {
      headers: { 'x-portcullis-account': accountId },
    });
    expect(response.status).toBe(401);
  });
});
