/**
 * Rate limits through a real runtime on real sockets (in process, manual clock): budgets per
 * key, account and IP prefix that rotation, a second key, an IPv6 /64 or a forged
 * X-Forwarded-For cannot raise; order rates; the failure budget; bans through the admin API.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { createRuntime, type Runtime } from '../../../src/app/runtime.js';
import { loadConfig } from '../../../src/config/config.js';
import { signNativeRequest } from '../../../src/core/signing/native/index.js';
import { createManualClock, type ManualClock } from '../../helpers/manual-clock.js';
import { createTempDir } from '../../helpers/temp-dir.js';

const CTX = { actor: 'test', requestId: 'req_test' };

interface Gateway {
  readonly runtime: Runtime;
  readonly clock: ManualClock;
  readonly url: string;
  readonly adminUrl: string;
  readonly token: string;
  readonly close: () => Promise<void>;
}

/** perAccount 100/min = ten balance reads (weight 10); orders 3 per 10 s; 5 failures a minute. */
const LIMITS = {
  perKey: [{ window: '1m', limit: 200 }],
  perAccount: [{ window: '1m', limit: 100 }],
  perIp: [{ window: '1m', limit: 300 }],
  orders: [{ window: '10s', limit: 3 }],
  authFailures: [{ window: '1m', limit: 5 }],
  bans: { refusalThreshold: 3, firstBan: '2m' },
};

const open: Gateway[] = [];

async function startGateway(extra: Record<string, unknown> = {}): Promise<Gateway> {
  const dir = createTempDir();
  const clock = createManualClock(Math.floor(Date.now() / 1000) * 1000);
  const config = loadConfig(
    {
      dataDir: dir.path,
      logLevel: 'silent',
      admin: { listen: { host: '127.0.0.1', port: 0 } },
      environments: {
        production: { enabled: false },
        sandbox: { listen: { host: '127.0.0.1', port: 0 }, limits: LIMITS },
      },
      ...extra,
    },
    {},
  );
  const runtime = await createRuntime(config, {
    clock,
    env: { PORTCULLIS_MASTER_KEY: randomBytes(32).toString('base64') },
  });
  const info = await runtime.start();
  const { readFileSync } = await import('node:fs');
  const gateway: Gateway = {
    runtime,
    clock,
    url: info.dataPlanes.sandbox?.url ?? '',
    adminUrl: info.adminUrl,
    token: readFileSync(info.adminTokenFile, 'utf8').trim(),
    close: async () => {
      await runtime.stop();
      dir.remove();
    },
  };
  open.push(gateway);
  return gateway;
}

afterEach(async () => {
  await Promise.all(open.splice(0).map((g) => g.close()));
});

async function newKey(g: Gateway, accountId?: string) {
  const account = accountId ?? (await g.runtime.keys.createAccount('rl', CTX)).id;
  const created = await g.runtime.keys.createKey(
    { accountId: account, environment: 'sandbox', scheme: 'hmac', scopes: ['read', 'trade'] },
    CTX,
  );
  return { id: created.key.id, secret: created.secret ?? '', accountId: account };
}

type Key = Awaited<ReturnType<typeof newKey>>;
let counter = 0;

/** A signed native request; `forwardedFor` adds X-Forwarded-For (believed only from a trusted peer). */
async function send(
  g: Gateway,
  key: Key,
  options: { order?: boolean; secret?: string; forwardedFor?: string } = {},
) {
  const method = options.order ? 'POST' : 'GET';
  const path = options.order ? '/api/v1/orders' : '/api/v1/balances';
  const body = options.order
    ? JSON.stringify({
        symbol: 'BTCUSDT',
        side: 'buy',
        type: 'limit',
        quantity: '0.01',
        price: '100.00',
        clientOrderId: `rl-${counter}`,
      })
    : '';
  const headers = signNativeRequest({
    method,
    path,
    rawQuery: null,
    body,
    keyId: key.id,
    secret: options.secret ?? key.secret,
    createdSeconds: Math.floor(g.clock.now() / 1000),
    nonce: `n${counter++}${randomBytes(8).toString('hex')}`,
  });
  const response = await request(`${g.url}${path}`, {
    method,
    headers: {
      ...headers,
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...(options.forwardedFor ? { 'x-forwarded-for': options.forwardedFor } : {}),
    },
    ...(body ? { body } : {}),
  });
  const text = await response.body.text();
  const code = (JSON.parse(text || '{}') as { error?: { code?: string } }).error?.code;
  return { status: response.statusCode, headers: response.headers, code };
}

async function statuses(
  g: Gateway,
  count: number,
  next: (i: number) => Promise<{ status: number }>,
) {
  const seen: number[] = [];
  for (let i = 0; i < count; i++) seen.push((await next(i)).status);
  return seen;
}

describe('rate limits through the gateway', () => {
  it('answers RateLimit-Policy and RateLimit on an allowed request', async () => {
    const g = await startGateway();
    const response = await send(g, await newKey(g));
    expect(response.status).toBe(200);
    expect(response.headers['ratelimit-policy']).toContain('"acct-1m";q=100;w=60');
    expect(response.headers.ratelimit).toContain('"acct-1m";r=90;t=60');
  });

  it('refuses the eleventh balance read of an account with RATE_LIMITED and Retry-After', async () => {
    const g = await startGateway();
    const key = await newKey(g);
    expect(await statuses(g, 10, () => send(g, key))).toEqual(Array(10).fill(200));
    const refused = await send(g, key);
    expect([refused.status, refused.code]).toEqual([429, 'RATE_LIMITED']);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('a second key on the same account does not raise the budget', async () => {
    const g = await startGateway();
    const first = await newKey(g);
    const second = await newKey(g, first.accountId);
    await statuses(g, 10, () => send(g, first));
    expect((await send(g, second)).code).toBe('RATE_LIMITED');
  });

  it('rotating the key does not reset the budget', async () => {
    const g = await startGateway();
    const key = await newKey(g);
    await statuses(g, 10, () => send(g, key));
    const rotated = await g.runtime.keys.rotateKey(key.id, 0, CTX);
    expect((await send(g, { ...key, secret: rotated.secret ?? '' })).code).toBe('RATE_LIMITED');
  });

  it('the window slides: a minute later the account may read again', async () => {
    const g = await startGateway();
    const key = await newKey(g);
    await statuses(g, 11, () => send(g, key));
    g.clock.advance(60_000);
    expect((await send(g, key)).status).toBe(200);
  });

  it('1,000 addresses inside one IPv6 /64 share one IP budget', async () => {
    const g = await startGateway({ dataPlane: { trustedProxies: ['127.0.0.1/32'] } });
    // Four accounts could read 40 times; the /64's 300 weight admits 30 reads of weight 10.
    const keys = await Promise.all([1, 2, 3, 4].map(() => newKey(g)));
    const seen = await statuses(g, 1000, (i) =>
      send(g, keys[i % 4] as Key, { forwardedFor: `2001:db8:0:7:${i.toString(16)}::${i + 1}` }),
    );
    expect(seen.filter((s) => s === 200)).toHaveLength(30);
    expect(seen.slice(0, 30)).toEqual(Array(30).fill(200));
  });

  it('another /64 keeps its own budget', async () => {
    const g = await startGateway({ dataPlane: { trustedProxies: ['127.0.0.1/32'] } });
    await statuses(g, 31, async () =>
      send(g, await newKey(g), { forwardedFor: '2001:db8:0:7::1' }),
    );
    const other = await send(g, await newKey(g), { forwardedFor: '2001:db8:0:8::1' });
    expect(other.status).toBe(200);
  });

  it('a client-supplied X-Forwarded-For from an untrusted peer does not raise the budget', async () => {
    const g = await startGateway();
    const seen = await statuses(g, 31, async (i) =>
      send(g, await newKey(g), { forwardedFor: `198.51.100.${i + 1}` }),
    );
    expect(seen[30]).toBe(429);
  });

  it('counts orders per account: the fourth order within 10 s is refused', async () => {
    const g = await startGateway();
    const key = await newKey(g);
    const seen = await statuses(g, 4, () => send(g, key, { order: true }));
    expect(seen.slice(0, 3).every((s) => s !== 429)).toBe(true);
    expect(seen[3]).toBe(429);
  });

  it('does not count reads as orders', async () => {
    const g = await startGateway();
    const key = await newKey(g);
    await statuses(g, 5, () => send(g, key));
    expect((await send(g, key, { order: true })).status).not.toBe(429);
  });

  it('after the failure budget is spent, even a good signature is refused unverified', async () => {
    const g = await startGateway();
    const key = await newKey(g);
    const bad = await statuses(g, 5, () => send(g, key, { secret: 'wrong' }));
    expect(bad).toEqual(Array(5).fill(401));
    expect((await send(g, key, { secret: 'wrong' })).code).toBe('RATE_LIMITED');
    expect((await send(g, key)).code).toBe('RATE_LIMITED');
  });

  it('bans a prefix that keeps going after 429 with IP_BANNED (418), lists and lifts it', async () => {
    const g = await startGateway();
    const key = await newKey(g);
    const seen = await statuses(g, 13, () => send(g, key));
    expect(seen.slice(10)).toEqual([429, 429, 418]);
    const banned = await send(g, key);
    expect([banned.status, banned.code]).toEqual([418, 'IP_BANNED']);
    expect(Number(banned.headers['retry-after'])).toBe(120);

    const auth = { authorization: `Bearer ${g.token}` };
    const list = await request(`${g.adminUrl}/v1/bans`, { headers: auth });
    expect(((await list.body.json()) as { bans: { prefix: string }[] }).bans).toMatchObject([
      { prefix: '127.0.0.1', offences: 1 },
    ]);
    const lift = await request(`${g.adminUrl}/v1/bans/lift`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ prefix: '127.0.0.1' }),
    });
    expect(((await lift.body.json()) as { lifted: string[] }).lifted).toEqual(['sandbox']);
    g.clock.advance(60_000);
    expect((await send(g, key)).status).toBe(200);
    const audit = await g.runtime.store.listAudit({ limit: 100 });
    expect(audit.map((e) => e.action)).toEqual(expect.arrayContaining(['ban.create', 'ban.lift']));
  });

  it('a repeat offender is banned twice as long', async () => {
    const g = await startGateway();
    const key = await newKey(g);
    await statuses(g, 13, () => send(g, key));
    g.clock.advance(120_000);
    await statuses(g, 13, () => send(g, key));
    const banned = await send(g, key);
    expect([banned.status, Number(banned.headers['retry-after'])]).toEqual([418, 240]);
  });
});

describe('rate limits on Redis that cannot be reached', () => {
  // Replay protection stays in memory here (a single node using Redis for limits only), so the
  // answer is the limiter's; with the shared guard the replay check refuses first (cluster tests).
  const unreachable = { redis: 'redis://127.0.0.1:1', cluster: { replay: 'memory' } };

  it('fail-closed answers 503 RATE_LIMIT_UNAVAILABLE, without hanging', async () => {
    const g = await startGateway({
      ...unreachable,
      rateLimits: { backend: 'redis', onRedisDown: 'fail-closed' },
    });
    const response = await send(g, await newKey(g));
    expect([response.status, response.code]).toEqual([503, 'RATE_LIMIT_UNAVAILABLE']);
  });

  it('local-fallback keeps serving', async () => {
    const g = await startGateway({
      ...unreachable,
      rateLimits: { backend: 'redis', onRedisDown: 'local-fallback' },
    });
    expect((await send(g, await newKey(g))).status).toBe(200);
  });
});
