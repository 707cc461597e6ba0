/**
 * `portcullis/fastify` and `portcullis/express` inside a venue's own service, against the store
 * of a separate Portcullis server process (same data directory: same SQLite file, same master
 * key file): signed requests reach the handler with the identity, denied ones never do, and a
 * rotation or revocation through the server's admin API (the CLI) reaches the embedded
 * instance on its next request (`embedded.keyRevalidateInterval: 0ms`: every request re-reads).
 */
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/config.js';
import {
  createEmbeddedPortcullis,
  type EmbeddedPortcullis,
} from '../../../src/embedded/embedded-portcullis.js';
import { portcullisExpress } from '../../../src/embedded/express.js';
import { portcullisFastify } from '../../../src/embedded/fastify.js';
import {
  cliCreateAccount,
  cliCreateKey,
  cliRevokeKey,
  cliRotateKey,
} from '../../helpers/cli-keys.js';
import { startServer, type ServerHandle } from '../../helpers/server-process.js';
import { nativeHeaders } from './helpers.js';

let server: ServerHandle;
let portcullis: EmbeddedPortcullis;
let fastifyApp: FastifyInstance;
let fastifyUrl: string;
let expressUrl: string;
let closeExpress: () => Promise<void>;
const reached: string[] = [];

beforeAll(async () => {
  server = await startServer({ timeoutMs: 60_000 });
  const config = loadConfig(
    {
      dataDir: server.dataDir,
      logLevel: 'silent',
      embedded: { keyRevalidateInterval: '0ms' },
      environments: { production: { enabled: false }, sandbox: { limits: { enabled: false } } },
    },
    {},
  );
  portcullis = await createEmbeddedPortcullis({ config, environment: 'sandbox', env: {} });

  fastifyApp = Fastify();
  await fastifyApp.register(portcullisFastify, { instance: portcullis });
  fastifyApp.get('/api/v1/account', (request) => {
    reached.push(`fastify ${request.portcullis?.keyId ?? ''}`);
    return { account: request.portcullis?.accountId };
  });
  fastifyApp.post('/api/v1/orders', (request) => {
    reached.push(`fastify ${request.portcullis?.keyId ?? ''}`);
    return { order: request.body, account: request.portcullis?.accountId };
  });
  fastifyUrl = await fastifyApp.listen({ host: '127.0.0.1', port: 0 });

  const app = express();
  app.use(portcullisExpress(portcullis));
  app.get('/api/v1/account', (req, res) => {
    reached.push(`express ${req.portcullis?.keyId ?? ''}`);
    res.json({ account: req.portcullis?.accountId });
  });
  app.post('/api/v1/orders', (req, res) => {
    reached.push(`express ${req.portcullis?.keyId ?? ''}`);
    res.json({ order: req.body as unknown, account: req.portcullis?.accountId });
  });
  const listener = app.listen(0, '127.0.0.1');
  await new Promise<void>((resolveListen) => listener.once('listening', () => resolveListen()));
  expressUrl = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
  closeExpress = () => new Promise((resolveClose) => listener.close(() => resolveClose()));
}, 120_000);

afterAll(async () => {
  await closeExpress?.();
  await fastifyApp?.close();
  await portcullis?.close();
  await server?.cleanup();
});

async function newKey(scopes = 'read,trade') {
  const accountId = await cliCreateAccount(server.dataDir, 'embedded');
  const key = await cliCreateKey(server.dataDir, { accountId, scopes });
  return { id: key.id, secret: key.secret ?? '', accountId };
}

const order = () =>
  JSON.stringify({ symbol: 'BTCUSDT', side: 'buy', quantity: '0.01', price: '100.00' });

async function call(
  base: string,
  method: string,
  target: string,
  key: { id: string; secret: string },
  options: { body?: string; secret?: string } = {},
) {
  const body = options.body ?? '';
  const response = await fetch(`${base}${target}`, {
    method,
    headers: nativeHeaders(key, method, target, body, {
      ...(options.secret ? { secret: options.secret } : {}),
    }),
    ...(body.length > 0 ? { body } : {}),
  });
  const json = (await response.json()) as { error?: { code: string } } & Record<string, unknown>;
  return { status: response.status, json };
}

describe.each([
  ['fastify', () => fastifyUrl],
  ['express', () => expressUrl],
])('portcullis/%s', (name, url) => {
  it('hands a signed GET to the handler with the identity', async () => {
    const key = await newKey();
    const answer = await call(url(), 'GET', '/api/v1/account', key);
    expect(answer.status).toBe(200);
    expect(answer.json.account).toBe(key.accountId);
    expect(reached).toContain(`${name} ${key.id}`);
  });

  it('verifies a body-signed POST and gives the handler the parsed body', async () => {
    const key = await newKey();
    const body = order();
    const answer = await call(url(), 'POST', '/api/v1/orders', key, { body });
    expect(answer.status).toBe(200);
    expect(answer.json.order).toEqual(JSON.parse(body));
  });

  it('refuses a bad signature before the handler: 401 SIGNATURE_INVALID', async () => {
    const key = await newKey();
    const before = reached.length;
    const answer = await call(url(), 'GET', '/api/v1/account', key, { secret: 'psk_wrong' });
    expect(answer.status).toBe(401);
    expect(answer.json.error?.code).toBe('SIGNATURE_INVALID');
    expect(reached.length).toBe(before);
  });

  it('refuses a missing scope before the handler: 403 SCOPE_MISSING', async () => {
    const key = await newKey('read');
    const before = reached.length;
    const answer = await call(url(), 'POST', '/api/v1/orders', key, { body: order() });
    expect(answer.status).toBe(403);
    expect(answer.json.error?.code).toBe('SCOPE_MISSING');
    expect(reached.length).toBe(before);
  });

  it('sees a revocation made by the server process on the next request: KEY_REVOKED', async () => {
    const key = await newKey();
    expect((await call(url(), 'GET', '/api/v1/account', key)).status).toBe(200);
    await cliRevokeKey(server.dataDir, key.id);
    const answer = await call(url(), 'GET', '/api/v1/account', key);
    expect(answer.status).toBe(401);
    expect(answer.json.error?.code).toBe('KEY_REVOKED');
  });

  it('sees a rotation without grace on the next request: the old secret is refused', async () => {
    const key = await newKey();
    expect((await call(url(), 'GET', '/api/v1/account', key)).status).toBe(200);
    const rotated = await cliRotateKey(server.dataDir, key.id, '0s');
    const old = await call(url(), 'GET', '/api/v1/account', key);
    expect(old.status).toBe(401);
    expect(old.json.error?.code).toBe('SIGNATURE_INVALID');
    const fresh = await call(url(), 'GET', '/api/v1/account', {
      id: key.id,
      secret: rotated.secret ?? '',
    });
    expect(fresh.status).toBe(200);
  });
});

it('a replayed request is refused by the shared replay guard of the instance', async () => {
  const accountId = await cliCreateAccount(server.dataDir, 'replay');
  const key = await cliCreateKey(server.dataDir, { accountId });
  const headers = nativeHeaders({ id: key.id, secret: key.secret ?? '' }, 'GET', '/api/v1/account');
  const first = await fetch(`${fastifyUrl}/api/v1/account`, { headers });
  expect(first.status).toBe(200);
  // The same signed request at the Express app: one instance, one replay guard.
  const again = await fetch(`${expressUrl}/api/v1/account`, { headers });
  expect(again.status).toBe(401);
  expect(((await again.json()) as { error: { code: string } }).error.code).toBe('NONCE_REPLAYED');
});
