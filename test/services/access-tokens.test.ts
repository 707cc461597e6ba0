import { createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import { decodeProtectedHeader, SignJWT, type JWTPayload } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createSqliteControlStore,
  type SqliteControlStore,
} from '../../src/adapters/sqlite/sqlite-control-store.js';
import type { ApiKey } from '../../src/core/keys/model.js';
import type { CachedKey, KeyLookup } from '../../src/core/pipeline.js';
import {
  createAccessTokenService,
  type AccessTokenService,
} from '../../src/services/access-tokens.js';
import { createKeyring, masterKeyFromBytes } from '../../src/services/envelope.js';
import {
  createSigningKeyring,
  type SigningKeyring,
} from '../../src/services/oauth/signing-keys.js';
import { createManualClock, type ManualClock } from '../helpers/manual-clock.js';

const OPTIONS = {
  issuer: 'https://auth.test',
  audiences: { production: 'portcullis:production', sandbox: 'portcullis:sandbox' },
  tokenTtlMs: 600_000,
  ticketTtlMs: 30_000,
  signingKeyRotationMs: 86_400_000,
  maxTickets: 1000,
} as const;
const SANDBOX = { environment: 'sandbox' } as const;

function apiKey(overrides: Partial<ApiKey> = {}): ApiKey {
  return {
    id: 'pk_test_alpha',
    accountId: 'acc_1',
    label: 'bot',
    environment: 'sandbox',
    scheme: 'ed25519',
    scopes: ['read', 'trade'],
    ipAllowlist: [],
    hasPassphrase: false,
    status: 'active',
    createdAt: 0,
    expiresAt: null,
    revokedAt: null,
    lastUsedAt: null,
    epoch: 1,
    secretVersion: 1,
    ...overrides,
  };
}

/** A key lookup over a mutable map: tests change a key the way the key cache would see it. */
function mapLookup(keys: Map<string, ApiKey>): KeyLookup {
  return {
    get: (id) => {
      const key = keys.get(id);
      return key === undefined ? undefined : ({ key } as unknown as CachedKey);
    },
  };
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');

let store: SqliteControlStore;
let clock: ManualClock;
let keys: Map<string, ApiKey>;
let ring: SigningKeyring;
let service: AccessTokenService;
const keyring = createKeyring(masterKeyFromBytes(randomBytes(32)));

function newService(signingKeys?: SigningKeyring): AccessTokenService {
  return createAccessTokenService(
    {
      store,
      keyring: () => keyring,
      keys: mapLookup(keys),
      clock,
      ...(signingKeys !== undefined ? { signingKeys } : {}),
    },
    OPTIONS,
  );
}

beforeEach(() => {
  clock = createManualClock();
  store = createSqliteControlStore({ path: ':memory:', clock });
  keys = new Map([['pk_test_alpha', apiKey()]]);
  ring = createSigningKeyring(
    { store, keyring: () => keyring, clock },
    { rotationMs: OPTIONS.signingKeyRotationMs },
  );
  service = newService(ring);
});
afterEach(async () => {
  await store.close();
});

/** Claims exactly as the server writes them, for forging variants with the real signing key. */
function claims(overrides: JWTPayload = {}): JWTPayload {
  const iat = Math.floor(clock.now() / 1000);
  return {
    iss: OPTIONS.issuer,
    aud: OPTIONS.audiences.sandbox,
    sub: 'pk_test_alpha',
    acct: 'acc_1',
    env: 'sandbox',
    scope: 'read trade',
    jti: 'jti-forged',
    iat,
    nbf: iat,
    exp: iat + 600,
    ...overrides,
  };
}

async function signWithRealKey(payload: JWTPayload, header: Record<string, unknown> = {}) {
  const signer = await ring.current();
  return new SignJWT(payload)
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: signer.kid, ...header })
    .sign(signer.privateKey);
}

describe('issue', () => {
  it('signs an at+jwt with EdDSA carrying sub, acct, env, scope, aud, iss, jti, iat, nbf, exp', async () => {
    const issued = await service.issue(apiKey(), { scopes: ['read'] });
    expect(issued).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: 'read' });
    const [header, payload] = issued.access_token
      .split('.')
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()) as JWTPayload);
    expect(header).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt' });
    expect(typeof header?.kid).toBe('string');
    const iat = Math.floor(clock.now() / 1000);
    expect(payload).toMatchObject({
      iss: OPTIONS.issuer,
      aud: 'portcullis:sandbox',
      sub: 'pk_test_alpha',
      acct: 'acc_1',
      env: 'sandbox',
      scope: 'read',
      iat,
      nbf: iat,
      exp: iat + 600,
    });
    expect(typeof payload?.jti).toBe('string');
  });

  it('refuses to widen the key scopes', async () => {
    await expect(service.issue(apiKey(), { scopes: ['withdraw'] })).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
  });

  it('verifies its own token with the current grant', async () => {
    const issued = await service.issue(apiKey());
    const verdict = await service.verify(issued.access_token, SANDBOX);
    expect(verdict).toMatchObject({
      ok: true,
      keyId: 'pk_test_alpha',
      accountId: 'acc_1',
      environment: 'sandbox',
      scopes: ['read', 'trade'],
    });
  });

  it('shrinks the verified scopes when the key loses one after issuance', async () => {
    const issued = await service.issue(apiKey());
    keys.set('pk_test_alpha', apiKey({ scopes: ['read'], epoch: 2 }));
    expect(await service.verify(issued.access_token, SANDBOX)).toMatchObject({
      ok: true,
      scopes: ['read'],
    });
  });
});

describe('RFC 8725 attacks are refused with their reason', () => {
  const reasonOf = async (token: string, environment: 'sandbox' | 'production' = 'sandbox') => {
    const verdict = await service.verify(token, { environment });
    return verdict.ok ? 'ALLOWED' : verdict.reason;
  };

  it('alg none (unsigned token)', async () => {
    const signer = await ring.current();
    const token = `${b64({ alg: 'none', typ: 'at+jwt', kid: signer.kid })}.${b64(claims())}.`;
    expect(await reasonOf(token)).toBe('TOKEN_ALGORITHM_REFUSED');
  });

  it('key confusion: HS256 with the published public key bytes as the HMAC secret', async () => {
    const signer = await ring.current();
    const jwk = (await service.jwks()).keys.find((k) => k.kid === signer.kid);
    const secrets = [Buffer.from(jwk?.x ?? '', 'base64url'), Buffer.from(JSON.stringify(jwk))];
    for (const secret of secrets) {
      const token = await new SignJWT(claims())
        .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: signer.kid })
        .sign(secret);
      expect(await reasonOf(token)).toBe('TOKEN_ALGORITHM_REFUSED');
    }
  });

  it('wrong key type: an ES256 / RS256 token under a published kid', async () => {
    const signer = await ring.current();
    for (const [alg, type] of [
      ['ES256', 'ec'],
      ['RS256', 'rsa'],
    ] as const) {
      const pair =
        type === 'ec'
          ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
          : generateKeyPairSync('rsa', { modulusLength: 2048 });
      const token = await new SignJWT(claims())
        .setProtectedHeader({ alg, typ: 'at+jwt', kid: signer.kid })
        .sign(pair.privateKey);
      expect(await reasonOf(token)).toBe('TOKEN_ALGORITHM_REFUSED');
    }
  });

  it('an EdDSA token signed by another Ed25519 key under a published kid', async () => {
    const signer = await ring.current();
    const other = generateKeyPairSync('ed25519');
    const token = await new SignJWT(claims())
      .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: signer.kid })
      .sign(other.privateKey);
    expect(await reasonOf(token)).toBe('TOKEN_SIGNATURE_INVALID');
  });

  it('wrong audience (another environment, or a foreign audience)', async () => {
    const sandboxToken = (await service.issue(apiKey())).access_token;
    expect(await reasonOf(sandboxToken, 'production')).toBe('TOKEN_AUDIENCE_MISMATCH');
    const foreign = (await service.issue(apiKey(), { audience: 'someone-else' })).access_token;
    expect(await reasonOf(foreign)).toBe('TOKEN_AUDIENCE_MISMATCH');
  });

  it('wrong issuer', async () => {
    expect(await reasonOf(await signWithRealKey(claims({ iss: 'https://evil.test' })))).toBe(
      'TOKEN_ISSUER_MISMATCH',
    );
  });

  it('expired (past exp plus the 5 s tolerance)', async () => {
    const token = (await service.issue(apiKey())).access_token;
    clock.advance(600_000 + 4_000);
    expect(await reasonOf(token)).toBe('ALLOWED');
    clock.advance(2_000);
    expect(await reasonOf(token)).toBe('TOKEN_EXPIRED');
  });

  it('not yet valid (nbf, or iat, in the future)', async () => {
    const iat = Math.floor(clock.now() / 1000);
    expect(await reasonOf(await signWithRealKey(claims({ nbf: iat + 60 })))).toBe(
      'TOKEN_NOT_YET_VALID',
    );
    expect(await reasonOf(await signWithRealKey(claims({ iat: iat + 60 })))).toBe(
      'TOKEN_NOT_YET_VALID',
    );
  });

  it('tampered payload (scope widened) and tampered signature', async () => {
    const [header, payload, signature] = (
      await service.issue(apiKey(), { scopes: ['read'] })
    ).access_token.split('.') as [string, string, string];
    const widened = { ...(JSON.parse(Buffer.from(payload, 'base64url').toString()) as object) };
    const tamperedPayload = `${header}.${b64({ ...widened, scope: 'read trade' })}.${signature}`;
    expect(await reasonOf(tamperedPayload)).toBe('TOKEN_SIGNATURE_INVALID');
    const flipped = `${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
    expect(await reasonOf(`${header}.${payload}.${flipped}`)).toBe('TOKEN_SIGNATURE_INVALID');
  });

  it('unknown kid and missing kid', async () => {
    const token = (await service.issue(apiKey())).access_token;
    const [, payload, signature] = token.split('.') as [string, string, string];
    const unknown = `${b64({ alg: 'EdDSA', typ: 'at+jwt', kid: 'nope' })}.${payload}.${signature}`;
    expect(await reasonOf(unknown)).toBe('TOKEN_KID_UNKNOWN');
    const missing = `${b64({ alg: 'EdDSA', typ: 'at+jwt' })}.${payload}.${signature}`;
    expect(await reasonOf(missing)).toBe('TOKEN_KID_UNKNOWN');
  });

  it('missing or different typ (a JWT of another kind)', async () => {
    expect(await reasonOf(await signWithRealKey(claims(), { typ: 'JWT' }))).toBe(
      'TOKEN_TYPE_REFUSED',
    );
  });

  it('a token whose env claim contradicts its audience', async () => {
    expect(await reasonOf(await signWithRealKey(claims({ env: 'production' })))).toBe(
      'TOKEN_CLAIMS_INVALID',
    );
  });

  it('malformed input: garbage, JWE-shaped, oversize, empty', async () => {
    expect(await reasonOf('not-a-token')).toBe('TOKEN_MALFORMED');
    expect(await reasonOf('a.b.c.d.e')).toBe('TOKEN_MALFORMED');
    expect(await reasonOf('!!!.???.###')).toBe('TOKEN_MALFORMED');
    expect(await reasonOf(`${'a'.repeat(5000)}.b.c`)).toBe('TOKEN_MALFORMED');
    expect(await reasonOf('')).toBe('TOKEN_MISSING');
  });

  it('a revoked token, on this node and on another node sharing the store', async () => {
    const token = (await service.issue(apiKey())).access_token;
    const inspected = await service.inspect(token, SANDBOX);
    if (!inspected.ok) throw new Error('expected an active token');
    await service.revoke(inspected.claims);
    expect(await reasonOf(token)).toBe('TOKEN_REVOKED');
    const otherNode = newService();
    const verdict = await otherNode.verify(token, SANDBOX);
    expect(verdict).toEqual({ ok: false, reason: 'TOKEN_REVOKED' });
  });

  it('a revoked key, an expired key, a key gone from the store', async () => {
    const token = (await service.issue(apiKey())).access_token;
    keys.set('pk_test_alpha', apiKey({ status: 'revoked', revokedAt: clock.now() }));
    expect(await reasonOf(token)).toBe('KEY_REVOKED');
    keys.set('pk_test_alpha', apiKey({ expiresAt: clock.now() }));
    expect(await reasonOf(token)).toBe('KEY_EXPIRED');
    keys.delete('pk_test_alpha');
    expect(await reasonOf(token)).toBe('KEY_UNKNOWN');
  });

  it('a forged HMAC over the header and payload is not a signature either', async () => {
    const signer = await ring.current();
    const input = `${b64({ alg: 'EdDSA', typ: 'at+jwt', kid: signer.kid })}.${b64(claims())}`;
    const mac = createHmac('sha256', 'guess').update(input).digest('base64url');
    expect(await reasonOf(`${input}.${mac}`)).toBe('TOKEN_SIGNATURE_INVALID');
  });
});

describe('signing keys', () => {
  it('are shared through the store: a second node verifies the first node’s tokens', async () => {
    const token = (await newService().issue(apiKey())).access_token;
    expect(await newService().verify(token, SANDBOX)).toMatchObject({ ok: true });
  });

  it('are stored sealed: the row holds no private key material in the clear', async () => {
    await service.issue(apiKey());
    const period = Math.floor(clock.now() / OPTIONS.signingKeyRotationMs);
    const row = await store.getMeta(`oauth.signing-key.${OPTIONS.signingKeyRotationMs}.${period}`);
    const signer = await ring.current();
    const d = (signer.privateKey.export({ format: 'jwk' }) as { d: string }).d;
    expect(row).toBeDefined();
    expect(row).not.toContain(d);
    expect(row).not.toContain(Buffer.from(d, 'base64url').toString('base64'));
    expect(JSON.parse(row ?? '{}')).not.toHaveProperty('d');
  });

  it('rotate on schedule, with the previous key published until its tokens expired', async () => {
    const period = OPTIONS.signingKeyRotationMs;
    clock.set(Math.ceil(clock.now() / period) * period + period - 60_000);
    const oldToken = (await service.issue(apiKey())).access_token;
    const oldKid = (await ring.current()).kid;
    clock.advance(120_000); // into the next period, the old token still valid
    const newKid = (await ring.current()).kid;
    expect(newKid).not.toBe(oldKid);
    expect((await service.jwks()).keys.map((k) => k.kid)).toEqual([newKid, oldKid]);
    expect(await service.verify(oldToken, SANDBOX)).toMatchObject({ ok: true });
    const newToken = (await service.issue(apiKey())).access_token;
    expect(newToken.split('.')[0]).not.toBe(oldToken.split('.')[0]);
    clock.advance(period); // two periods on: the old key is no longer published
    expect((await service.jwks()).keys.map((k) => k.kid)).not.toContain(oldKid);
  });

  it('two nodes racing to create a period key: tokens of both verify on both', async () => {
    // Each node reads "no key yet" once, as both would at a period start before either writes.
    const nodeOf = () => {
      let hidden = 1;
      const racing = {
        getMeta: (name: string) =>
          name.startsWith(`oauth.signing-key.${OPTIONS.signingKeyRotationMs}.`) && hidden-- > 0
            ? Promise.resolve(undefined)
            : store.getMeta(name),
        setMeta: (name: string, value: string) => store.setMeta(name, value),
      };
      return createAccessTokenService(
        { store: racing, keyring: () => keyring, keys: mapLookup(keys), clock },
        OPTIONS,
      );
    };
    const nodeA = nodeOf();
    const nodeB = nodeOf();
    const fromA = await nodeA.issue(apiKey());
    const fromB = await nodeB.issue(apiKey());
    const kidOf = (token: string) => decodeProtectedHeader(token).kid;
    expect(kidOf(fromA.access_token)).not.toBe(kidOf(fromB.access_token));
    for (const node of [nodeA, nodeB, newService()]) {
      for (const issued of [fromA, fromB]) {
        expect(await node.verify(issued.access_token, SANDBOX)).toMatchObject({ ok: true });
      }
    }
  });

  it('answers the public JWKS without a store read per request', async () => {
    await service.jwks();
    let reads = 0;
    const counting = {
      getMeta: (name: string) => {
        reads += 1;
        return store.getMeta(name);
      },
      setMeta: (name: string, value: string) => store.setMeta(name, value),
    };
    const node = createAccessTokenService(
      { store: counting, keyring: () => keyring, keys: mapLookup(keys), clock },
      OPTIONS,
    );
    await node.jwks();
    const first = reads;
    for (let i = 0; i < 20; i++) await node.jwks();
    expect(first).toBeGreaterThan(0);
    expect(reads).toBe(first);
  });

  it('publishes only public Ed25519 JWKs', async () => {
    const { keys: published } = await service.jwks();
    expect(published).toHaveLength(1);
    expect(Object.keys(published[0] ?? {}).sort()).toEqual([
      'alg',
      'crv',
      'kid',
      'kty',
      'use',
      'x',
    ]);
    expect(published[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', use: 'sig' });
  });
});

describe('connection tickets', () => {
  const grant = () => ({
    keyId: 'pk_test_alpha',
    accountId: 'acc_1',
    environment: 'sandbox' as const,
    scopes: ['read' as const],
    exp: Math.floor(clock.now() / 1000) + 600,
    jti: 'jti-1',
  });

  it('redeem exactly once', async () => {
    const { ticket, expires_in } = await service.issueTicket(grant());
    expect(expires_in).toBe(30);
    expect(ticket).toMatch(/^pwt_[A-Za-z0-9_-]{43}$/);
    expect(await service.redeemTicket(ticket, SANDBOX)).toMatchObject({
      ok: true,
      keyId: 'pk_test_alpha',
      scopes: ['read'],
    });
    expect(await service.redeemTicket(ticket, SANDBOX)).toEqual({
      ok: false,
      reason: 'TICKET_INVALID',
    });
  });

  it('expire after the ticket ttl', async () => {
    const { ticket } = await service.issueTicket(grant());
    clock.advance(30_000);
    expect(await service.redeemTicket(ticket, SANDBOX)).toEqual({
      ok: false,
      reason: 'TICKET_INVALID',
    });
  });

  it('are bound to the client address (IPv6: its /64) and the environment', async () => {
    const first = await service.issueTicket(grant(), { clientIp: '203.0.113.7' });
    expect(
      await service.redeemTicket(first.ticket, { ...SANDBOX, clientIp: '198.51.100.7' }),
    ).toEqual({ ok: false, reason: 'TICKET_INVALID' });
    // The IPv4 address itself; an IPv6 /64 (one subscriber's prefix).
    const second = await service.issueTicket(grant(), { clientIp: '::ffff:203.0.113.7' });
    expect(
      await service.redeemTicket(second.ticket, { ...SANDBOX, clientIp: '203.0.113.7' }),
    ).toMatchObject({ ok: true });
    const v6 = await service.issueTicket(grant(), { clientIp: '2001:db8:0:1::10' });
    expect(
      await service.redeemTicket(v6.ticket, { ...SANDBOX, clientIp: '2001:db8:0:1:ffff::2' }),
    ).toMatchObject({ ok: true });
    const third = await service.issueTicket(grant());
    expect(await service.redeemTicket(third.ticket, { environment: 'production' })).toEqual({
      ok: false,
      reason: 'TICKET_INVALID',
    });
  });

  it('are refused when the key was revoked after the ticket was issued', async () => {
    const { ticket } = await service.issueTicket(grant());
    keys.set('pk_test_alpha', apiKey({ status: 'revoked', revokedAt: clock.now() }));
    expect(await service.redeemTicket(ticket, SANDBOX)).toEqual({
      ok: false,
      reason: 'KEY_REVOKED',
    });
  });

  it('answer TICKET_UNAVAILABLE when the shared ticket store cannot be reached', async () => {
    const failing = createAccessTokenService(
      {
        store,
        keyring: () => keyring,
        keys: mapLookup(keys),
        clock,
        tickets: {
          put: () => Promise.reject(new Error('down')),
          take: () => Promise.reject(new Error('down')),
          close: () => Promise.resolve(),
        },
      },
      OPTIONS,
    );
    expect(await failing.redeemTicket('pwt_any', SANDBOX)).toEqual({
      ok: false,
      reason: 'TICKET_UNAVAILABLE',
    });
    await expect(failing.issueTicket(grant())).rejects.toThrow();
  });

  it('refuse made-up and oversize tickets', async () => {
    expect(await service.redeemTicket('pwt_madeup', SANDBOX)).toEqual({
      ok: false,
      reason: 'TICKET_INVALID',
    });
    expect(await service.redeemTicket('x'.repeat(500), SANDBOX)).toEqual({
      ok: false,
      reason: 'TICKET_INVALID',
    });
  });
});
