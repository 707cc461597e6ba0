/**
 * Withdrawal reservations around forwarding, through a real runtime in process against an
 * upstream that answers as told: a 2xx commits the amount, any other answer releases it, and a
 * timeout keeps it counted (the upstream may have executed it) until the reservation's ttl.
 * With a 100/h account limit, whether a second withdrawal of 100 passes shows what was kept.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, type Runtime } from '../../../src/app/runtime.js';
import { loadConfig } from '../../../src/config/config.js';
import { signNativeRequest } from '../../../src/core/signing/native/index.js';
import { createManualClock, type ManualClock } from '../../helpers/manual-clock.js';
import { createTempDir } from '../../helpers/temp-dir.js';

const CTX = { actor: 'test', requestId: 'req_test' };
const dir = createTempDir();
let upstream: Server;
/** What the upstream does with the next withdrawal. */
let mode: 'ok' | 'refuse' | 'hang' = 'ok';
let received = 0;
let runtime: Runtime;
let clock: ManualClock;
let url: string;
let adminUrl: string;
let token: string;
let counter = 0;

beforeAll(async () => {
  upstream = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      if (mode === 'hang') return; // never answers: the gateway times out
      res.statusCode = mode === 'ok' ? 201 : 400;
      res.setHeader('content-type', 'application/json');
      res.end(mode === 'ok' ? '{"id":"wd_1"}' : '{"error":{"code":"REFUSED"}}');
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  const port = (upstream.address() as AddressInfo).port;
  clock = createManualClock(Math.floor(Date.now() / 1000) * 1000);
  const config = loadConfig(
    {
      dataDir: dir.path,
      logLevel: 'silent',
      admin: { listen: { host: '127.0.0.1', port: 0 } },
      environments: {
        production: { enabled: false },
        sandbox: {
          listen: { host: '127.0.0.1', port: 0 },
          upstream: `http://127.0.0.1:${port}`,
          upstreamTimeout: '300ms',
          limits: { enabled: false },
        },
      },
    },
    {},
  );
  runtime = await createRuntime(config, {
    clock,
    env: { PORTCULLIS_MASTER_KEY: randomBytes(32).toString('base64') },
  });
  const info = await runtime.start();
  url = info.dataPlanes.sandbox?.url ?? '';
  adminUrl = info.adminUrl;
  const { readFileSync } = await import('node:fs');
  token = readFileSync(info.adminTokenFile, 'utf8').trim();
});

afterAll(async () => {
  await runtime?.stop();
  upstream?.closeAllConnections();
  await new Promise((resolve) => upstream?.close(resolve));
  dir.remove();
});

async function withdrawalKey() {
  const account = (await runtime.keys.createAccount('wd', CTX)).id;
  const created = await runtime.keys.createKey(
    { accountId: account, environment: 'sandbox', scheme: 'hmac', scopes: ['withdraw'] },
    CTX,
  );
  const response = await request(`${adminUrl}/v1/accounts/${account}/withdrawal-rules`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ addressBookRequired: false, accountLimits: { perHour: '100' } }),
  });
  expect(response.statusCode).toBe(200);
  await response.body.text();
  return { id: created.key.id, secret: created.secret ?? '' };
}

async function withdraw(key: { id: string; secret: string }) {
  const path = '/api/v1/withdrawals';
  const body = JSON.stringify({ asset: 'USDT', amount: '100', address: 'addr-test-01' });
  const headers = signNativeRequest({
    method: 'POST',
    path,
    rawQuery: null,
    body,
    keyId: key.id,
    secret: key.secret,
    createdSeconds: Math.floor(clock.now() / 1000),
    nonce: `n${counter++}${randomBytes(8).toString('hex')}`,
  });
  const response = await request(`${url}${path}`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body,
  });
  const text = await response.body.text();
  const code = (JSON.parse(text || '{}') as { error?: { code?: string } }).error?.code;
  return { status: response.statusCode, code };
}

describe('withdrawal reservations around forwarding', () => {
  it('a 2xx commits: the next withdrawal over the limit is refused without forwarding', async () => {
    const key = await withdrawalKey();
    mode = 'ok';
    expect((await withdraw(key)).status).toBe(201);
    const before = received;
    expect((await withdraw(key)).code).toBe('AMOUNT_LIMIT_EXCEEDED');
    expect(received).toBe(before);
  });

  it('a refusal by the upstream releases the amount', async () => {
    const key = await withdrawalKey();
    mode = 'refuse';
    expect((await withdraw(key)).status).toBe(400);
    mode = 'ok';
    expect((await withdraw(key)).status).toBe(201);
  });

  it('a timeout keeps the amount reserved until the reservation lapses', async () => {
    const key = await withdrawalKey();
    mode = 'hang';
    expect((await withdraw(key)).code).toBe('UPSTREAM_TIMEOUT');
    mode = 'ok';
    expect((await withdraw(key)).code).toBe('AMOUNT_LIMIT_EXCEEDED');
    clock.advance(10 * 60_000 + 1);
    expect((await withdraw(key)).status).toBe(201);
  });
});
