/**
 * The admin API through `inject()`: real services over a temp SQLite store. Role separation as
 * a table, authentication faults, every validation fault (4xx, envelope, nothing half-written),
 * the OpenAPI document, and secrets only ever in create/rotate responses.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_CATALOG, type ErrorCode } from '../../../src/core/errors.js';
import type { AdminRole } from '../../../src/ports.js';
import {
  TEST_CTX,
  createTestControlPlane,
  snapshotCounts,
  type TestControlPlane,
} from '../../helpers/control-plane.js';

const ROLES: readonly AdminRole[] = ['owner', 'operator', 'auditor', 'approver'];

let plane: TestControlPlane;
let accountId: string;
const tokens = {} as Record<AdminRole, string>;
/** Every secret and token issued in this file: none may appear where it should not. */
const issued: string[] = [];

beforeAll(async () => {
  plane = await createTestControlPlane();
  for (const role of ROLES) {
    tokens[role] = await plane.tokenFor(role);
    issued.push(tokens[role]);
  }
  accountId = (await plane.keys.createAccount('desk', TEST_CTX)).id;
});
afterAll(async () => {
  await plane.close();
});

async function freshKeyId(): Promise<string> {
  const { key, secret } = await plane.keys.createKey(
    { accountId, environment: 'sandbox', scheme: 'hmac', scopes: ['read'] },
    TEST_CTX,
  );
  if (secret) issued.push(secret);
  return key.id;
}

interface Call {
  readonly method: 'GET' | 'POST' | 'PATCH';
  readonly url: string;
  readonly payload?: unknown;
  readonly headers?: Record<string, string>;
}

function call(request: Call, role?: AdminRole): Promise<LightMyRequestResponse> {
  return plane.app.inject({
    method: request.method,
    url: request.url,
    ...(request.payload !== undefined ? { payload: request.payload as string } : {}),
    headers: {
      ...(role ? { authorization: `Bearer ${tokens[role]}` } : {}),
      ...request.headers,
    },
  });
}

/** Asserts the error envelope with `code`, its catalog status, and a request id. */
function expectError(response: LightMyRequestResponse, code: ErrorCode): void {
  const body = response.json<{ error: { code: string; message: string; requestId: string } }>();
  expect(body.error.code).toBe(code);
  expect(response.statusCode).toBe(ERROR_CATALOG[code].status);
  expect(typeof body.error.message).toBe('string');
  expect(body.error.requestId).toMatch(/^req_/);
  expect(response.headers['x-request-id']).toBe(body.error.requestId);
}

interface Endpoint {
  readonly name: string;
  /** Path as registered (for the OpenAPI check). */
  readonly route: string;
  readonly allowed: readonly AdminRole[];
  readonly ok: number;
  readonly secretInResponse?: boolean;
  build(): Promise<Call>;
}

const everyone = ROLES;
const writers: readonly AdminRole[] = ['owner', 'operator'];
const readersNotApprover: readonly AdminRole[] = ['owner', 'operator', 'auditor'];
const ownerOnly: readonly AdminRole[] = ['owner'];

/** The specification of who may do what, written out independently of the code's table. */
const ENDPOINTS: readonly Endpoint[] = [
  {
    name: 'POST /v1/accounts',
    route: 'post /v1/accounts',
    allowed: writers,
    ok: 201,
    build: () => Promise.resolve({ method: 'POST', url: '/v1/accounts', payload: { name: 'n' } }),
  },
  {
    name: 'GET /v1/accounts',
    route: 'get /v1/accounts',
    allowed: everyone,
    ok: 200,
    build: () => Promise.resolve({ method: 'GET', url: '/v1/accounts' }),
  },
  {
    name: 'POST /v1/keys',
    route: 'post /v1/keys',
    allowed: writers,
    ok: 201,
    secretInResponse: true,
    build: () =>
      Promise.resolve({
        method: 'POST',
        url: '/v1/keys',
        payload: { accountId, environment: 'sandbox', scopes: ['read'] },
      }),
  },
  {
    name: 'GET /v1/keys',
    route: 'get /v1/keys',
    allowed: everyone,
    ok: 200,
    build: () => Promise.resolve({ method: 'GET', url: '/v1/keys' }),
  },
  {
    name: 'GET /v1/keys/:id',
    route: 'get /v1/keys/{id}',
    allowed: everyone,
    ok: 200,
    build: async () => ({ method: 'GET', url: `/v1/keys/${await freshKeyId()}` }),
  },
  {
    name: 'PATCH /v1/keys/:id',
    route: 'patch /v1/keys/{id}',
    allowed: writers,
    ok: 200,
    build: async () => ({
      method: 'PATCH',
      url: `/v1/keys/${await freshKeyId()}`,
      payload: { label: 'changed' },
    }),
  },
  {
    name: 'POST /v1/keys/:id/rotate',
    route: 'post /v1/keys/{id}/rotate',
    allowed: writers,
    ok: 200,
    secretInResponse: true,
    build: async () => ({
      method: 'POST',
      url: `/v1/keys/${await freshKeyId()}/rotate`,
      payload: { grace: '1h' },
    }),
  },
  {
    name: 'POST /v1/keys/:id/revoke',
    route: 'post /v1/keys/{id}/revoke',
    allowed: writers,
    ok: 200,
    build: async () => ({ method: 'POST', url: `/v1/keys/${await freshKeyId()}/revoke` }),
  },
  {
    name: 'GET /v1/audit',
    route: 'get /v1/audit',
    allowed: readersNotApprover,
    ok: 200,
    build: () => Promise.resolve({ method: 'GET', url: '/v1/audit?limit=1000' }),
  },
  {
    name: 'GET /v1/audit/verify',
    route: 'get /v1/audit/verify',
    allowed: readersNotApprover,
    ok: 200,
    build: () => Promise.resolve({ method: 'GET', url: '/v1/audit/verify' }),
  },
  {
    name: 'POST /v1/admin-tokens',
    route: 'post /v1/admin-tokens',
    allowed: ownerOnly,
    ok: 201,
    secretInResponse: true,
    build: () =>
      Promise.resolve({ method: 'POST', url: '/v1/admin-tokens', payload: { role: 'auditor' } }),
  },
  {
    name: 'GET /v1/admin-tokens',
    route: 'get /v1/admin-tokens',
    allowed: ownerOnly,
    ok: 200,
    build: () => Promise.resolve({ method: 'GET', url: '/v1/admin-tokens' }),
  },
  {
    name: 'POST /v1/master-key/rotate',
    route: 'post /v1/master-key/rotate',
    allowed: ownerOnly,
    ok: 200,
    build: () => Promise.resolve({ method: 'POST', url: '/v1/master-key/rotate' }),
  },
  {
    name: 'GET /v1/bans',
    route: 'get /v1/bans',
    allowed: readersNotApprover,
    ok: 200,
    build: () => Promise.resolve({ method: 'GET', url: '/v1/bans' }),
  },
  {
    name: 'POST /v1/bans/lift',
    route: 'post /v1/bans/lift',
    allowed: writers,
    ok: 200,
    build: () =>
      Promise.resolve({ method: 'POST', url: '/v1/bans/lift', payload: { prefix: '192.0.2.1' } }),
  },
  {
    name: 'GET /v1/whoami',
    route: 'get /v1/whoami',
    allowed: everyone,
    ok: 200,
    build: () => Promise.resolve({ method: 'GET', url: '/v1/whoami' }),
  },
];

const MATRIX = ENDPOINTS.flatMap((endpoint) =>
  ROLES.map((role) => ({
    endpoint,
    role,
    verdict: endpoint.allowed.includes(role) ? 'allowed' : 'ROLE_FORBIDDEN',
  })),
);

describe('role separation', () => {
  it.each(MATRIX.map((c) => [c.endpoint.name, c.role, c.verdict, c] as const))(
    '%s as %s: %s',
    async (_name, role, verdict, { endpoint }) => {
      const request = await endpoint.build();
      const before = await snapshotCounts(plane);
      const response = await call(request, role);
      if (verdict === 'allowed') {
        expect(response.statusCode).toBe(endpoint.ok);
        const body = response.json<Record<string, unknown>>();
        if (typeof body.secret === 'string') issued.push(body.secret);
        if (!endpoint.secretInResponse) expect(response.body).not.toContain('"secret"');
      } else {
        expectError(response, 'ROLE_FORBIDDEN');
        expect(await snapshotCounts(plane)).toEqual(before);
      }
    },
  );

  it('lets the approver decide nothing the owner administers (whoami shows the role)', async () => {
    const response = await call({ method: 'GET', url: '/v1/whoami' }, 'approver');
    expect(response.json()).toMatchObject({ role: 'approver' });
  });
});

describe('authentication', () => {
  const request: Call = { method: 'GET', url: '/v1/keys' };

  it('answers ADMIN_TOKEN_MISSING without an Authorization header', async () => {
    expectError(await call(request), 'ADMIN_TOKEN_MISSING');
  });

  it.each([
    ['an unknown well-formed token', `Bearer pct_${'A'.repeat(43)}`],
    ['a malformed token', 'Bearer not-a-token'],
    ['another scheme', `Basic ${Buffer.from('a:b').toString('base64')}`],
    ['a bare Bearer', 'Bearer'],
    ['a token with a trailing part', `Bearer pct_${'A'.repeat(43)} extra`],
  ])('answers ADMIN_TOKEN_INVALID for %s', async (_what, header) => {
    expectError(
      await call({ ...request, headers: { authorization: header } }),
      'ADMIN_TOKEN_INVALID',
    );
  });

  it('answers ADMIN_TOKEN_EXPIRED once the token expiry passes (injected clock)', async () => {
    const own = await createTestControlPlane();
    try {
      const token = await own.tokenFor('owner', own.clock.now() + 60_000);
      const headers = { authorization: `Bearer ${token}` };
      expect((await own.app.inject({ method: 'GET', url: '/v1/keys', headers })).statusCode).toBe(
        200,
      );
      own.clock.advance(60_000);
      const response = await own.app.inject({ method: 'GET', url: '/v1/keys', headers });
      expect(response.json()).toMatchObject({ error: { code: 'ADMIN_TOKEN_EXPIRED' } });
      expect(response.statusCode).toBe(401);
    } finally {
      await own.close();
    }
  });

  it('checks the token before the body, so an anonymous bad body is still 401', async () => {
    const response = await call({
      method: 'POST',
      url: '/v1/accounts',
      payload: '{"oops',
      headers: { 'content-type': 'application/json' },
    });
    expectError(response, 'ADMIN_TOKEN_MISSING');
  });

  it.each(['/health', '/openapi.json'])('serves %s without a token', async (url) => {
    expect((await call({ method: 'GET', url })).statusCode).toBe(200);
  });
});

describe('bad input: a 4xx with a stable code and nothing half-written', () => {
  const json = { 'content-type': 'application/json' };

  const cases: readonly {
    name: string;
    code: ErrorCode;
    build: () => Promise<Call>;
    check?: (body: { error: { details?: string[] } }) => void;
  }[] = [
    {
      name: 'several bad CIDRs on create, all reported',
      code: 'INVALID_CIDR',
      build: () =>
        Promise.resolve({
          method: 'POST',
          url: '/v1/keys',
          payload: {
            accountId,
            environment: 'sandbox',
            scopes: ['read'],
            ipAllowlist: [
              '10.0.0.0/33',
              '192.0.2.1',
              'not-an-ip',
              '10.0.0.1/8',
              '::1/129',
              'fe80::1%eth0',
              '',
            ],
          },
        }),
      check: (body) =>
        expect(body.error.details?.map((d) => /^entry (\d+)/.exec(d)?.[1])).toEqual([
          '0',
          '2',
          '3',
          '4',
          '5',
          '6',
        ]),
    },
    {
      name: 'a bad CIDR on update',
      code: 'INVALID_CIDR',
      build: async () => ({
        method: 'PATCH',
        url: `/v1/keys/${await freshKeyId()}`,
        payload: { ipAllowlist: ['300.1.1.1/32'] },
      }),
    },
    {
      name: 'an unknown scope on create',
      code: 'UNKNOWN_SCOPE',
      build: () =>
        Promise.resolve({
          method: 'POST',
          url: '/v1/keys',
          payload: { accountId, environment: 'sandbox', scopes: ['read', 'margin'] },
        }),
    },
    {
      name: 'an unknown scope on update',
      code: 'UNKNOWN_SCOPE',
      build: async () => ({
        method: 'PATCH',
        url: `/v1/keys/${await freshKeyId()}`,
        payload: { scopes: ['admin'] },
      }),
    },
    {
      name: 'a malformed rotation grace',
      code: 'INVALID_DURATION',
      build: async () => ({
        method: 'POST',
        url: `/v1/keys/${await freshKeyId()}/rotate`,
        payload: { grace: '1 hour' },
      }),
    },
    {
      name: 'a malformed expiresIn on create',
      code: 'INVALID_DURATION',
      build: () =>
        Promise.resolve({
          method: 'POST',
          url: '/v1/keys',
          payload: { accountId, environment: 'sandbox', scopes: ['read'], expiresIn: '90 days' },
        }),
    },
    {
      name: 'a zero expiresIn on update',
      code: 'INVALID_DURATION',
      build: async () => ({
        method: 'PATCH',
        url: `/v1/keys/${await freshKeyId()}`,
        payload: { expiresIn: '0s' },
      }),
    },
    {
      name: 'a malformed admin-token expiresIn',
      code: 'INVALID_DURATION',
      build: () =>
        Promise.resolve({
          method: 'POST',
          url: '/v1/admin-tokens',
          payload: { role: 'auditor', expiresIn: 'soon' },
        }),
    },
    {
      name: 'an unknown field',
      code: 'UNKNOWN_FIELD',
      build: () =>
        Promise.resolve({
          method: 'POST',
          url: '/v1/accounts',
          payload: { name: 'a', colour: 'red' },
        }),
    },
    {
      name: 'an unknown field on update',
      code: 'UNKNOWN_FIELD',
      build: async () => ({
        method: 'PATCH',
        url: `/v1/keys/${await freshKeyId()}`,
        payload: { status: 'active' },
      }),
    },
    {
      name: 'an unknown query parameter',
      code: 'UNKNOWN_FIELD',
      build: () => Promise.resolve({ method: 'GET', url: '/v1/keys?owner=me' }),
    },
    {
      name: 'an accounts cursor that names no account',
      code: 'ACCOUNT_NOT_FOUND',
      build: () => Promise.resolve({ method: 'GET', url: '/v1/accounts?after=acc_none' }),
    },
    {
      name: 'an accounts page size that is not 1-9999',
      code: 'VALIDATION_FAILED',
      build: () => Promise.resolve({ method: 'GET', url: '/v1/accounts?limit=0' }),
    },
    {
      name: 'a missing required field',
      code: 'VALIDATION_FAILED',
      build: () =>
        Promise.resolve({
          method: 'POST',
          url: '/v1/keys',
          payload: { accountId, scopes: ['read'] },
        }),
    },
    {
      name: 'a field of the wrong type',
      code: 'VALIDATION_FAILED',
      build: () => Promise.resolve({ method: 'POST', url: '/v1/accounts', payload: { name: 42 } }),
    },
    {
      name: 'an empty update',
      code: 'VALIDATION_FAILED',
      build: async () => ({ method: 'PATCH', url: `/v1/keys/${await freshKeyId()}`, payload: {} }),
    },
    {
      name: 'an unknown environment',
      code: 'VALIDATION_FAILED',
      build: () =>
        Promise.resolve({
          method: 'POST',
          url: '/v1/keys',
          payload: { accountId, environment: 'staging', scopes: ['read'] },
        }),
    },
    {
      name: 'expiresIn and expiresAt together',
      code: 'VALIDATION_FAILED',
      build: () =>
        Promise.resolve({
          method: 'POST',
          url: '/v1/keys',
          payload: {
            accountId,
            environment: 'sandbox',
            scopes: ['read'],
            expiresIn: '1d',
            expiresAt: '2099-01-01T00:00:00Z',
          },
        }),
    },
    {
      name: 'malformed JSON',
      code: 'MALFORMED_JSON',
      build: () =>
        Promise.resolve({
          method: 'POST',
          url: '/v1/accounts',
          payload: '{"name": "a"',
          headers: json,
        }),
    },
    {
      name: 'a text/plain body',
      code: 'UNSUPPORTED_MEDIA_TYPE',
      build: () =>
        Promise.resolve({
          method: 'POST',
          url: '/v1/accounts',
          payload: 'name=a',
          headers: { 'content-type': 'text/plain' },
        }),
    },
    {
      name: 'a body over the limit',
      code: 'PAYLOAD_TOO_LARGE',
      build: () =>
        Promise.resolve({
          method: 'POST',
          url: '/v1/accounts',
          payload: JSON.stringify({ name: 'a'.repeat(70_000) }),
          headers: json,
        }),
    },
    {
      name: 'an unknown endpoint',
      code: 'NOT_FOUND',
      build: () => Promise.resolve({ method: 'GET', url: '/v1/nothing-here' }),
    },
    {
      name: 'an unknown key on show',
      code: 'KEY_NOT_FOUND',
      build: () => Promise.resolve({ method: 'GET', url: '/v1/keys/pk_test_missing' }),
    },
    {
      name: 'an unknown key on update',
      code: 'KEY_NOT_FOUND',
      build: () =>
        Promise.resolve({
          method: 'PATCH',
          url: '/v1/keys/pk_test_missing',
          payload: { label: 'x' },
        }),
    },
    {
      name: 'an unknown key on rotate',
      code: 'KEY_NOT_FOUND',
      build: () => Promise.resolve({ method: 'POST', url: '/v1/keys/pk_test_missing/rotate' }),
    },
    {
      name: 'an unknown key on revoke',
      code: 'KEY_NOT_FOUND',
      build: () => Promise.resolve({ method: 'POST', url: '/v1/keys/pk_test_missing/revoke' }),
    },
    {
      name: 'an unknown account',
      code: 'ACCOUNT_NOT_FOUND',
      build: () =>
        Promise.resolve({
          method: 'POST',
          url: '/v1/keys',
          payload: { accountId: 'acc_missing', environment: 'sandbox', scopes: ['read'] },
        }),
    },
    {
      name: 'an unknown admin role',
      code: 'INVALID_ROLE',
      build: () =>
        Promise.resolve({ method: 'POST', url: '/v1/admin-tokens', payload: { role: 'root' } }),
    },
    {
      name: 'an unparseable Ed25519 public key',
      code: 'INVALID_PUBLIC_KEY',
      build: () =>
        Promise.resolve({
          method: 'POST',
          url: '/v1/keys',
          payload: {
            accountId,
            environment: 'sandbox',
            scopes: ['read'],
            scheme: 'ed25519',
            publicKey: generateKeyPairSync('x25519')
              .publicKey.export({ format: 'pem', type: 'spki' })
              .toString(),
          },
        }),
    },
    {
      name: 'a change to a revoked key',
      code: 'KEY_NOT_ACTIVE',
      build: async () => {
        const id = await freshKeyId();
        await plane.keys.revokeKey(id, TEST_CTX);
        return { method: 'POST', url: `/v1/keys/${id}/revoke` };
      },
    },
  ];

  it.each(cases.map((c) => [c.name, c.code, c] as const))('%s → %s', async (_n, code, c) => {
    const request = await c.build();
    const before = await snapshotCounts(plane);
    const response = await call(request, 'owner');
    expect(response.statusCode).toBeGreaterThanOrEqual(400);
    expect(response.statusCode).toBeLessThan(500);
    expectError(response, code);
    c.check?.(response.json());
    expect(await snapshotCounts(plane)).toEqual(before);
  });

  it('every case above is a distinct documented code (coverage of the catalog)', () => {
    const covered = new Set(cases.map((c) => c.code));
    for (const code of [
      'INVALID_CIDR',
      'UNKNOWN_SCOPE',
      'INVALID_DURATION',
      'UNKNOWN_FIELD',
      'VALIDATION_FAILED',
      'MALFORMED_JSON',
      'UNSUPPORTED_MEDIA_TYPE',
      'PAYLOAD_TOO_LARGE',
      'NOT_FOUND',
      'KEY_NOT_FOUND',
      'ACCOUNT_NOT_FOUND',
      'INVALID_ROLE',
    ] as const) {
      expect(covered.has(code)).toBe(true);
    }
  });
});

describe('GET /v1/accounts pages', () => {
  it('walks every account once, oldest first, following next', async () => {
    for (let i = 0; i < 4; i++) await plane.keys.createAccount(`page-${i}`, TEST_CTX);
    const all = await plane.store.listAccounts({ limit: 1_000_000 });
    const seen: string[] = [];
    let url = '/v1/accounts?limit=2';
    for (let pages = 0; pages < 10; pages++) {
      const response = await call({ method: 'GET', url }, 'auditor');
      expect(response.statusCode).toBe(200);
      const body = response.json<{ accounts: { id: string }[]; next: string | null }>();
      expect(body.accounts.length).toBeLessThanOrEqual(2);
      seen.push(...body.accounts.map((a) => a.id));
      if (body.next === null) break;
      expect(body.next).toBe(body.accounts.at(-1)?.id);
      url = `/v1/accounts?limit=2&after=${body.next}`;
    }
    expect(seen).toEqual(all.map((a) => a.id));
    expect(seen.length).toBeGreaterThanOrEqual(5);
  });

  it('answers 100 accounts by default and says where the rest start', async () => {
    const existing = (await plane.store.listAccounts({ limit: 1_000_000 })).length;
    for (let i = existing; i < 101; i++) await plane.keys.createAccount(`bulk-${i}`, TEST_CTX);
    const response = await call({ method: 'GET', url: '/v1/accounts' }, 'auditor');
    const body = response.json<{ accounts: { id: string }[]; next: string | null }>();
    expect(body.accounts.length).toBe(100);
    expect(body.next).toBe(body.accounts[99]?.id);
  });
});

describe('the OpenAPI document', () => {
  it('lists every /v1 route, and only those, with their methods', async () => {
    const doc = (await call({ method: 'GET', url: '/openapi.json' })).json<{
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    }>();
    // Governance routes (policies, approvals, withdrawal rules, allowances) need a store with the
    // governance ports, which this control plane does not wire; test/services/governance.test.ts
    // and test/cli/allowance-commands.test.ts cover them.
    // Observability routes (traffic, alerts, key risk, keys report, risk prefixes) are covered by
    // test/server/observability/admin-observability.test.ts.
    const governance =
      /^\/v1\/(policies|approvals|traffic|alerts|risk)|^\/v1\/accounts\/\{id\}\/(addresses|withdrawal-rules)|^\/v1\/keys\/(report|\{id\}\/(risk|allowances))/;
    const listed = Object.entries(doc.paths)
      .filter(([path]) => path.startsWith('/v1/') && !governance.test(path))
      .flatMap(([path, methods]) => Object.keys(methods).map((method) => `${method} ${path}`));
    expect(new Set(listed)).toEqual(new Set(ENDPOINTS.map((e) => e.route)));
    expect(doc.openapi).toMatch(/^3\./);
  });

  it('marks every /v1 route as needing a bearer token', async () => {
    const doc = (await call({ method: 'GET', url: '/openapi.json' })).json<{
      paths: Record<string, Record<string, { security?: unknown }>>;
    }>();
    for (const [path, methods] of Object.entries(doc.paths)) {
      if (!path.startsWith('/v1/')) continue;
      for (const operation of Object.values(methods)) expect(operation.security).toBeDefined();
    }
  });
});

describe('secrets in responses', () => {
  it('returns the secret from POST /v1/keys and never from GET /v1/keys/:id', async () => {
    const created = await call(
      {
        method: 'POST',
        url: '/v1/keys',
        payload: { accountId, environment: 'production', scopes: ['read'] },
      },
      'owner',
    );
    const { key, secret } = created.json<{ key: { id: string }; secret: string }>();
    expect(secret).toMatch(/^psk_/);
    const shown = await call({ method: 'GET', url: `/v1/keys/${key.id}` }, 'owner');
    expect(shown.body).not.toContain(secret);
    expect(shown.json()).not.toHaveProperty('secret');
    expect(shown.json()).not.toHaveProperty('key.secret');
  });

  it('never shows an issued secret or token in the audit log, keys or tokens lists', async () => {
    await freshKeyId();
    for (const url of ['/v1/audit?limit=1000', '/v1/keys?limit=1000', '/v1/admin-tokens']) {
      const { body } = await call({ method: 'GET', url }, 'owner');
      for (const secret of issued) expect(body).not.toContain(secret);
      expect(body).not.toContain('"secret"');
      expect(body).not.toContain('tokenHash');
      expect(body).not.toContain('"seal"');
    }
  });
});
