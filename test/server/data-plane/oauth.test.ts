/**
 * The authorization server on a real runtime (real sockets, SQLite, manual clock): client
 * credentials with signed requests (native and a dialect) through the data plane's pipeline,
 * RFC 6749 §5.2 errors, JWKS, introspection, revocation and connection tickets.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRuntime, type Runtime } from '../../../src/app/runtime.js';
import { loadConfig } from '../../../src/config/config.js';
import type { Scope } from '../../../src/core/keys/model.js';
import { signNativeRequest } from '../../../src/core/signing/native/index.js';
import { createManualClock, type ManualClock } from '../../helpers/manual-clock.js';
import { createTempDir } from '../../helpers/temp-dir.js';

const CTX = { actor: 'test', requestId: 'req_test' };
const SANDBOX = { environment: 'sandbox' } as const;

let runtime: Runtime;
let clock: ManualClock;
let url: string;
let productionUrl: string;
let adminUrl: string;
let removeDir: () => void;
let counter = 0;

interface Key {
  readonly id: string;
  readonly secret: string;
  readonly accountId: string;
}

beforeAll(async () => {
  const dir = createTempDir();
  removeDir = () => dir.remove();
  clock = createManualClock(Math.floor(Date.now() / 1000) * 1000);
  const config = loadConfig(
    {
      dataDir: dir.path,
      logLevel: 'silent',
      admin: { listen: { host: '127.0.0.1', port: 0 } },
      environments: {
        production: { listen: { host: '127.0.0.1', port: 0 } },
        sandbox: { listen: { host: '127.0.0.1', port: 0 } },
      },
      oauth: { issuer: 'https://auth.test', tokenTtl: '5m' },
    },
    {},
  );
  runtime = await createRuntime(config, {
    clock,
    env: { PORTCULLIS_MASTER_KEY: randomBytes(32).toString('base64') },
  });
  const info = await runtime.start();
  url = info.dataPlanes.sandbox?.url ?? '';
  productionUrl = info.dataPlanes.production?.url ?? '';
  adminUrl = info.adminUrl;
}, 60_000);

afterAll(async () => {
  await runtime.stop();
  removeDir();
});

async function newKey(
  options: {
    scopes?: Scope[];
    ipAllowlist?: string[];
    environment?: 'sandbox' | 'production';
  } = {},
): Promise<Key> {
  const account = (await runtime.keys.createAccount('oauth', CTX)).id;
  const created = await runtime.keys.createKey(
    {
      accountId: account,
      environment: options.environment ?? 'sandbox',
      scheme: 'hmac',
      scopes: options.scopes ?? ['read', 'trade'],
      ...(options.ipAllowlist ? { ipAllowlist: options.ipAllowlist } : {}),
    },
    CTX,
  );
  return { id: created.key.id, secret: created.secret ?? '', accountId: account };
}

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly json: Record<string, unknown>;
}

/** A natively signed form POST; `nonce` lets a test replay one. */
async function signedPost(
  key: Key,
  path: string,
  form: Record<string, string>,
  options: { secret?: string; nonce?: string; base?: string; bearer?: string } = {},
): Promise<Answer> {
  const body = new URLSearchParams(form).toString();
  const contentType = 'application/x-www-form-urlencoded';
  const headers = signNativeRequest({
    method: 'POST',
    path,
    rawQuery: null,
    body,
    headers: { 'content-type': contentType },
    keyId: key.id,
    secret: options.secret ?? key.secret,
    createdSeconds: Math.floor(clock.now() / 1000),
    nonce: options.nonce ?? `n${counter++}${randomBytes(8).toString('hex')}`,
  });
  return send(`${options.base ?? url}${path}`, { ...headers, 'content-type': contentType }, body);
}

async function send(target: string, headers: Record<string, string>, body?: string) {
  const response = await request(target, {
    method: body === undefined ? 'GET' : 'POST',
    headers,
    ...(body !== undefined ? { body } : {}),
  });
  const text = await response.body.text();
  return {
    status: response.statusCode,
    headers: response.headers,
    json: JSON.parse(text || '{}') as Record<string, unknown>,
  };
}

const bearerPost = (token: string, path: string, form: Record<string, string> = {}) =>
  send(
    `${url}${path}`,
    { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
    new URLSearchParams(form).toString(),
  );

async function tokenFor(key: Key, scope?: string): Promise<string> {
  const answer = await signedPost(key, '/oauth/token', {
    grant_type: 'client_credentials',
    ...(scope !== undefined ? { scope } : {}),
  });
  expect(answer.status).toBe(200);
  return answer.json.access_token as string;
}

describe('POST /oauth/token', () => {
  it('issues a Bearer token for a natively signed client-credentials request', async () => {
    const key = await newKey();
    const answer = await signedPost(key, '/oauth/token', { grant_type: 'client_credentials' });
    expect(answer.status).toBe(200);
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(answer.json).toMatchObject({
      token_type: 'Bearer',
      expires_in: 300,
      scope: 'read trade',
    });
    const verdict = await runtime.accessTokens.verify(answer.json.access_token as string, SANDBOX);
    expect(verdict).toMatchObject({ ok: true, keyId: key.id, accountId: key.accountId });
  });

  it('narrows scopes on request and refuses widening with invalid_scope', async () => {
    const key = await newKey();
    const narrowed = await signedPost(key, '/oauth/token', {
      grant_type: 'client_credentials',
      scope: 'read',
    });
    expect(narrowed.json.scope).toBe('read');
    const widened = await signedPost(key, '/oauth/token', {
      grant_type: 'client_credentials',
      scope: 'read withdraw',
    });
    expect(widened.status).toBe(400);
    expect(widened.json.error).toBe('invalid_scope');
    const unknown = await signedPost(key, '/oauth/token', {
      grant_type: 'client_credentials',
      scope: 'admin',
    });
    expect(unknown.json.error).toBe('invalid_scope');
  });

  it('answers RFC 6749 §5.2 errors for grant types and malformed parameters', async () => {
    const key = await newKey();
    const password = await signedPost(key, '/oauth/token', { grant_type: 'password' });
    expect([password.status, password.json.error]).toEqual([400, 'unsupported_grant_type']);
    const missing = await signedPost(key, '/oauth/token', { scope: 'read' });
    expect([missing.status, missing.json.error]).toEqual([400, 'invalid_request']);
    const repeated = await send(
      `${url}/oauth/token`,
      { 'content-type': 'application/x-www-form-urlencoded' },
      'grant_type=client_credentials&grant_type=client_credentials',
    );
    expect([repeated.status, repeated.json.error]).toEqual([400, 'invalid_request']);
  });

  it.each([
    ['a wrong secret', 'SIGNATURE_INVALID', 401],
    ['no credentials at all', 'CREDENTIALS_MISSING', 401],
  ] as const)('refuses %s with invalid_client and reason %s', async (what, reason, status) => {
    const key = await newKey();
    const answer =
      what === 'a wrong secret'
        ? await signedPost(
            key,
            '/oauth/token',
            { grant_type: 'client_credentials' },
            {
              secret: 'not-the-secret',
            },
          )
        : await send(
            `${url}/oauth/token`,
            { 'content-type': 'application/x-www-form-urlencoded' },
            'grant_type=client_credentials',
          );
    expect([answer.status, answer.json.error, answer.json.reason]).toEqual([
      status,
      'invalid_client',
      reason,
    ]);
  });

  it('applies the replay guard, IP allowlist, environment and key state of the pipeline', async () => {
    const key = await newKey();
    const form = { grant_type: 'client_credentials' };
    expect(
      (await signedPost(key, '/oauth/token', form, { nonce: 'same-nonce-12345678' })).status,
    ).toBe(200);
    const replayed = await signedPost(key, '/oauth/token', form, { nonce: 'same-nonce-12345678' });
    expect(replayed.json.reason).toBe('NONCE_REPLAYED');

    const fenced = await newKey({ ipAllowlist: ['10.0.0.0/8'] });
    const outside = await signedPost(fenced, '/oauth/token', form);
    expect([outside.status, outside.json.reason]).toEqual([403, 'IP_NOT_ALLOWED']);

    const live = await newKey({ environment: 'production' });
    const wrongPlane = await signedPost(live, '/oauth/token', form);
    expect(wrongPlane.json.reason).toBe('ENV_MISMATCH');
    const rightPlane = await signedPost(live, '/oauth/token', form, { base: productionUrl });
    expect(rightPlane.status).toBe(200);

    await runtime.keys.revokeKey(key.id, CTX);
    const revoked = await signedPost(key, '/oauth/token', form);
    expect([revoked.status, revoked.json.reason]).toEqual([401, 'KEY_REVOKED']);
  });

  it('accepts a dialect signature (Bybit v5 HMAC over a JSON body)', async () => {
    const key = await newKey();
    const body = JSON.stringify({ grant_type: 'client_credentials', scope: 'read' });
    const timestamp = String(clock.now());
    const sign = createHmac('sha256', key.secret)
      .update(`${timestamp}${key.id}5000${body}`)
      .digest('hex');
    const answer = await send(
      `${url}/oauth/token`,
      {
        'content-type': 'application/json',
        'x-bapi-api-key': key.id,
        'x-bapi-timestamp': timestamp,
        'x-bapi-recv-window': '5000',
        'x-bapi-sign': sign,
      },
      body,
    );
    expect(answer.status).toBe(200);
    expect(answer.json.scope).toBe('read');
  });
});

describe('GET /.well-known/jwks.json', () => {
  it('publishes the key that verifies issued tokens, usable by any JOSE library', async () => {
    const token = await tokenFor(await newKey());
    const jwks = await send(`${url}/.well-known/jwks.json`, {});
    expect(jwks.status).toBe(200);
    const keys = jwks.json.keys as { kid: string; x: string }[];
    const { kid } = decodeProtectedHeader(token);
    const jwk = keys.find((k) => k.kid === kid);
    expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
    expect(jwk).not.toHaveProperty('d');
    const { payload } = await jwtVerify(token, await importJWK(jwk ?? {}, 'EdDSA'), {
      algorithms: ['EdDSA'],
      issuer: 'https://auth.test',
      audience: 'portcullis:sandbox',
      currentDate: new Date(clock.now()),
    });
    expect(payload.env).toBe('sandbox');
  });
});

describe('POST /oauth/introspect and /oauth/revoke', () => {
  it('introspects a token for the key that owns it, and only for it', async () => {
    const owner = await newKey();
    const stranger = await newKey();
    const token = await tokenFor(owner, 'read');
    const mine = await signedPost(owner, '/oauth/introspect', { token });
    expect(mine.json).toMatchObject({
      active: true,
      scope: 'read',
      client_id: owner.id,
      sub: owner.id,
      token_type: 'Bearer',
      aud: 'portcullis:sandbox',
      iss: 'https://auth.test',
      acct: owner.accountId,
      env: 'sandbox',
    });
    expect((await signedPost(stranger, '/oauth/introspect', { token })).json).toEqual({
      active: false,
    });
    expect((await signedPost(owner, '/oauth/introspect', { token: 'junk' })).json).toEqual({
      active: false,
    });
    const unsigned = await send(
      `${url}/oauth/introspect`,
      { 'content-type': 'application/x-www-form-urlencoded' },
      `token=${token}`,
    );
    expect([unsigned.status, unsigned.json.error]).toEqual([401, 'invalid_client']);
  });

  it('revokes by the owner (signed), ignores a stranger, and revokes with the bearer token itself', async () => {
    const owner = await newKey();
    const stranger = await newKey();
    const first = await tokenFor(owner);
    const byStranger = await signedPost(stranger, '/oauth/revoke', { token: first });
    expect(byStranger.status).toBe(200);
    expect(await runtime.accessTokens.verify(first, SANDBOX)).toMatchObject({ ok: true });
    expect((await signedPost(owner, '/oauth/revoke', { token: first })).status).toBe(200);
    expect(await runtime.accessTokens.verify(first, SANDBOX)).toEqual({
      ok: false,
      reason: 'TOKEN_REVOKED',
    });
    expect((await signedPost(owner, '/oauth/introspect', { token: first })).json).toEqual({
      active: false,
    });

    const second = await tokenFor(owner);
    expect((await bearerPost(second, '/oauth/revoke', { token: second })).status).toBe(200);
    const after = await bearerPost(second, '/oauth/ticket');
    expect([after.status, after.json.error, after.json.reason]).toEqual([
      401,
      'invalid_token',
      'TOKEN_REVOKED',
    ]);
    expect(after.headers['www-authenticate']).toBe('Bearer error="invalid_token"');
  });

  it('a token stops verifying the moment its key is revoked', async () => {
    const key = await newKey();
    const token = await tokenFor(key);
    await runtime.keys.revokeKey(key.id, CTX);
    expect(await runtime.accessTokens.verify(token, SANDBOX)).toEqual({
      ok: false,
      reason: 'KEY_REVOKED',
    });
  });
});

describe('POST /oauth/ticket', () => {
  it('trades a bearer token for a single-use ticket bound to the client address', async () => {
    const key = await newKey();
    const token = await tokenFor(key);
    const answer = await bearerPost(token, '/oauth/ticket', { scope: 'read' });
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ expires_in: 30, scope: 'read' });
    const ticket = answer.json.ticket as string;
    const context = { ...SANDBOX, clientIp: '127.0.0.1' };
    expect(await runtime.accessTokens.redeemTicket(ticket, context)).toMatchObject({
      ok: true,
      keyId: key.id,
      scopes: ['read'],
    });
    expect(await runtime.accessTokens.redeemTicket(ticket, context)).toEqual({
      ok: false,
      reason: 'TICKET_INVALID',
    });
  });

  it('issues a ticket for a signed request too, and refuses a widened scope', async () => {
    const key = await newKey({ scopes: ['read'] });
    const answer = await signedPost(key, '/oauth/ticket', {});
    expect(answer.status).toBe(200);
    expect(
      await runtime.accessTokens.redeemTicket(answer.json.ticket as string, {
        ...SANDBOX,
        clientIp: '127.0.0.1',
      }),
    ).toMatchObject({ ok: true, keyId: key.id, scopes: ['read'] });
    const widened = await signedPost(key, '/oauth/ticket', { scope: 'trade' });
    expect([widened.status, widened.json.error]).toEqual([400, 'invalid_scope']);
  });

  it('refuses a forged bearer token with invalid_token', async () => {
    const answer = await bearerPost('eyJhbGciOiJub25lIn0.e30.', '/oauth/ticket');
    expect([answer.status, answer.json.error, answer.json.reason]).toEqual([
      401,
      'invalid_token',
      'TOKEN_ALGORITHM_REFUSED',
    ]);
  });
});

it('an admin token is not an access token', async () => {
  const adminToken = readFileSync(`${runtime.config.dataDir}/admin-token`, 'utf8').trim();
  const answer = await bearerPost(adminToken, '/oauth/ticket');
  expect([answer.status, answer.json.error]).toEqual([401, 'invalid_token']);
});

describe('admin API: /v1/oauth/introspect and /v1/oauth/revoke', () => {
  const ownerToken = () => readFileSync(`${runtime.config.dataDir}/admin-token`, 'utf8').trim();
  const admin = (path: string, token: string | undefined, body: object) =>
    send(
      `${adminUrl}${path}`,
      {
        'content-type': 'application/json',
        ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
      },
      JSON.stringify(body),
    );

  it('introspects any key’s token for an admin with keys:read', async () => {
    const key = await newKey();
    const token = await tokenFor(key, 'trade');
    const answer = await admin('/v1/oauth/introspect', ownerToken(), { token });
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({
      active: true,
      sub: key.id,
      scope: 'trade',
      env: 'sandbox',
    });
    const junk = await admin('/v1/oauth/introspect', ownerToken(), { token: 'junk' });
    expect(junk.json).toEqual({ active: false });
  });

  it('refuses callers without an admin token, and auditors may not revoke', async () => {
    const token = await tokenFor(await newKey());
    expect((await admin('/v1/oauth/introspect', undefined, { token })).status).toBe(401);
    const auditor = await runtime.tokens.issue('auditor', 'audit', null, CTX);
    expect((await admin('/v1/oauth/introspect', auditor.secret, { token })).status).toBe(200);
    const refused = await admin('/v1/oauth/revoke', auditor.secret, { token });
    expect(refused.status).toBe(403);
    expect(await runtime.accessTokens.verify(token, SANDBOX)).toMatchObject({ ok: true });
  });

  it('revokes one token, audited, leaving the key and its other tokens alone', async () => {
    const key = await newKey();
    const doomed = await tokenFor(key);
    const spared = await tokenFor(key);
    const answer = await admin('/v1/oauth/revoke', ownerToken(), { token: doomed });
    expect(answer.json).toMatchObject({ revoked: true, keyId: key.id });
    expect(await runtime.accessTokens.verify(doomed, SANDBOX)).toEqual({
      ok: false,
      reason: 'TOKEN_REVOKED',
    });
    expect(await runtime.accessTokens.verify(spared, SANDBOX)).toMatchObject({ ok: true });
    const audit = await runtime.store.listAudit({ action: 'oauth.token.revoke', limit: 10 });
    expect(audit.map((entry) => entry.target)).toContain(key.id);
    expect(JSON.stringify(audit)).not.toContain(doomed);
  });
});
