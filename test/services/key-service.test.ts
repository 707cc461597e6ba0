import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PortcullisError, type ErrorCode } from '../../src/core/errors.js';
import { verifyPassphrase } from '../../src/services/passphrase.js';
import {
  TEST_CTX,
  createTestControlPlane,
  snapshotCounts,
  type TestControlPlane,
} from '../helpers/control-plane.js';

const HOUR_MS = 3_600_000;

/** Resolves to the fault code a promise rejects with. */
async function codeOf(promise: Promise<unknown>): Promise<ErrorCode | 'NO_ERROR'> {
  try {
    await promise;
    return 'NO_ERROR';
  } catch (error) {
    if (error instanceof PortcullisError) return error.code;
    throw error;
  }
}

/** Every byte the store wrote: the database file and its WAL/SHM companions. */
function storeBytes(plane: TestControlPlane): Buffer {
  return Buffer.concat(
    readdirSync(plane.dataDir)
      .filter((name) => name.startsWith('portcullis.db'))
      .map((name) => readFileSync(join(plane.dataDir, name))),
  );
}

let plane: TestControlPlane;
let accountId: string;

beforeEach(async () => {
  plane = await createTestControlPlane();
  accountId = (await plane.keys.createAccount('desk one', TEST_CTX)).id;
});
afterEach(async () => {
  await plane.close();
});

const createHmac = (extra: Record<string, unknown> = {}) =>
  plane.keys.createKey(
    { accountId, environment: 'sandbox', scheme: 'hmac', scopes: ['read', 'trade'], ...extra },
    TEST_CTX,
  );

describe('key creation', () => {
  it('prefixes sandbox key ids with pk_test_', async () => {
    expect((await createHmac()).key.id).toMatch(/^pk_test_[A-Za-z0-9]{20}$/);
  });

  it('prefixes production key ids with pk_live_', async () => {
    const { key } = await plane.keys.createKey(
      { accountId, environment: 'production', scheme: 'hmac', scopes: ['read'] },
      TEST_CTX,
    );
    expect(key.id).toMatch(/^pk_live_/);
  });

  it('generates an hmac secret of at least 256 bits', async () => {
    const { secret } = await createHmac();
    const body = /^psk_([A-Za-z0-9]+)$/.exec(secret ?? '')?.[1] ?? '';
    expect(body.length * Math.log2(62)).toBeGreaterThanOrEqual(256);
  });

  it('generates a different secret for every key', async () => {
    expect((await createHmac()).secret).not.toBe((await createHmac()).secret);
  });

  it('normalises IPv4-mapped IPv6 allowlist entries to IPv4', async () => {
    const { key } = await createHmac({ ipAllowlist: ['::ffff:10.1.2.3', '2001:db8::/32'] });
    expect(key.ipAllowlist).toEqual(['10.1.2.3/32', '2001:db8::/32']);
  });

  it.each([
    [{ scopes: ['read', 'admin'] }, 'UNKNOWN_SCOPE'],
    [{ scopes: [] }, 'VALIDATION_FAILED'],
    [{ ipAllowlist: ['10.0.0.0/33'] }, 'INVALID_CIDR'],
    [{ accountId: 'acc_missing' }, 'ACCOUNT_NOT_FOUND'],
    [{ label: 'bad\u0007label' }, 'VALIDATION_FAILED'],
    [{ passphrase: 'abc' }, 'VALIDATION_FAILED'],
    [{ publicKey: 'AAAA' }, 'VALIDATION_FAILED'],
  ])('refuses %j with %s and writes nothing', async (extra, code) => {
    const before = await snapshotCounts(plane);
    expect(await codeOf(createHmac(extra))).toBe(code);
    expect(await snapshotCounts(plane)).toEqual(before);
  });

  it('refuses an expiry in the past', async () => {
    expect(await codeOf(createHmac({ expiresAt: plane.clock.now() - 1 }))).toBe(
      'VALIDATION_FAILED',
    );
  });
});

describe('a secret is shown exactly once', () => {
  it('is absent from get, list, update and revoke results', async () => {
    const { key, secret } = await createHmac();
    const results = [
      await plane.keys.getKey(key.id),
      await plane.keys.listKeys({}),
      await plane.keys.updateKey(key.id, { label: 'x' }, TEST_CTX),
      await plane.keys.revokeKey(key.id, TEST_CTX),
    ];
    for (const result of results) {
      const text = JSON.stringify(result);
      expect(text).not.toContain(secret);
      expect(text).not.toContain('"secret"');
    }
  });

  it('never enters the audit log', async () => {
    const { key, secret } = await createHmac();
    const rotated = await plane.keys.rotateKey(key.id, HOUR_MS, TEST_CTX);
    const log = JSON.stringify(await plane.store.listAudit({ limit: 1000 }));
    expect(log).not.toContain(secret);
    expect(log).not.toContain(rotated.secret);
  });

  it('is never stored in plaintext in the SQLite files', async () => {
    const { key, secret } = await createHmac();
    const rotated = await plane.keys.rotateKey(key.id, HOUR_MS, TEST_CTX);
    const bytes = storeBytes(plane);
    expect(bytes.includes(Buffer.from(secret ?? 'missing'))).toBe(false);
    expect(bytes.includes(Buffer.from(rotated.secret ?? 'missing'))).toBe(false);
  });

  it('decrypts back to the same bytes for verification', async () => {
    const { key, secret } = await createHmac();
    const material = await plane.keys.loadVerificationMaterial(key.id);
    expect(material?.secrets.map((s) => s.bytes.toString('utf8'))).toEqual([secret]);
  });
});

describe('rotation with grace', () => {
  it('issues a new, different secret under the same key id', async () => {
    const { key, secret } = await createHmac();
    const rotated = await plane.keys.rotateKey(key.id, HOUR_MS, TEST_CTX);
    expect(rotated.key.id).toBe(key.id);
    expect(rotated.secret).toMatch(/^psk_/);
    expect(rotated.secret).not.toBe(secret);
  });

  it('keeps the old secret verifying within the grace period', async () => {
    const { key, secret } = await createHmac();
    const rotated = await plane.keys.rotateKey(key.id, HOUR_MS, TEST_CTX);
    plane.clock.advance(HOUR_MS - 1);
    const material = await plane.keys.loadVerificationMaterial(key.id);
    expect(material?.secrets.map((s) => s.bytes.toString('utf8'))).toEqual([
      rotated.secret,
      secret,
    ]);
  });

  it('stops the old secret once the grace period ends', async () => {
    const { key } = await createHmac();
    const rotated = await plane.keys.rotateKey(key.id, HOUR_MS, TEST_CTX);
    plane.clock.advance(HOUR_MS);
    const material = await plane.keys.loadVerificationMaterial(key.id);
    expect(material?.secrets.map((s) => s.bytes.toString('utf8'))).toEqual([rotated.secret]);
  });

  it('stops the old secret at once with a grace of 0', async () => {
    const { key } = await createHmac();
    const rotated = await plane.keys.rotateKey(key.id, 0, TEST_CTX);
    const material = await plane.keys.loadVerificationMaterial(key.id);
    expect(material?.secrets.map((s) => s.bytes.toString('utf8'))).toEqual([rotated.secret]);
  });

  it('does not extend an earlier version already past its grace on a second rotation', async () => {
    const { key } = await createHmac();
    await plane.keys.rotateKey(key.id, 0, TEST_CTX);
    plane.clock.advance(1);
    const second = await plane.keys.rotateKey(key.id, HOUR_MS, TEST_CTX);
    const material = await plane.keys.loadVerificationMaterial(key.id);
    expect(material?.secrets).toHaveLength(2);
    expect(material?.secrets[0]?.bytes.toString('utf8')).toBe(second.secret);
  });

  it('bumps the epoch and the secret version and publishes a change event', async () => {
    const { key } = await createHmac();
    const rotated = await plane.keys.rotateKey(key.id, HOUR_MS, TEST_CTX);
    expect(rotated.key).toMatchObject({ epoch: 2, secretVersion: 2 });
    expect(plane.events).toContainEqual({ type: 'key.changed', keyId: key.id, epoch: 2 });
  });

  it('refuses a negative grace with INVALID_DURATION', async () => {
    const { key } = await createHmac();
    expect(await codeOf(plane.keys.rotateKey(key.id, -1, TEST_CTX))).toBe('INVALID_DURATION');
  });

  it('refuses to rotate an unknown key with KEY_NOT_FOUND', async () => {
    expect(await codeOf(plane.keys.rotateKey('pk_test_nope', 0, TEST_CTX))).toBe('KEY_NOT_FOUND');
  });
});

describe('revocation and expiry', () => {
  it('revokes immediately', async () => {
    const { key } = await createHmac();
    const revoked = await plane.keys.revokeKey(key.id, TEST_CTX);
    expect(revoked).toMatchObject({ status: 'revoked', state: 'revoked' });
    expect(revoked.revokedAt).toBe(plane.clock.now());
  });

  it.each(['update', 'rotate', 'revoke'] as const)(
    'refuses to %s a revoked key with KEY_NOT_ACTIVE',
    async (operation) => {
      const { key } = await createHmac();
      await plane.keys.revokeKey(key.id, TEST_CTX);
      const attempt = {
        update: () => plane.keys.updateKey(key.id, { label: 'x' }, TEST_CTX),
        rotate: () => plane.keys.rotateKey(key.id, 0, TEST_CTX),
        revoke: () => plane.keys.revokeKey(key.id, TEST_CTX),
      }[operation];
      expect(await codeOf(attempt())).toBe('KEY_NOT_ACTIVE');
    },
  );

  it('shows a key as expired once its expiry passes', async () => {
    const { key } = await createHmac({ expiresAt: plane.clock.now() + HOUR_MS });
    plane.clock.advance(HOUR_MS);
    expect((await plane.keys.getKey(key.id)).state).toBe('expired');
  });

  it('shows a key as active one millisecond before expiry', async () => {
    const { key } = await createHmac({ expiresAt: plane.clock.now() + HOUR_MS });
    plane.clock.advance(HOUR_MS - 1);
    expect((await plane.keys.getKey(key.id)).state).toBe('active');
  });

  it.each(['update', 'rotate'] as const)(
    'refuses to %s an expired key with KEY_NOT_ACTIVE',
    async (operation) => {
      const { key } = await createHmac({ expiresAt: plane.clock.now() + HOUR_MS });
      plane.clock.advance(HOUR_MS);
      const attempt =
        operation === 'update'
          ? plane.keys.updateKey(key.id, { scopes: ['read'] }, TEST_CTX)
          : plane.keys.rotateKey(key.id, 0, TEST_CTX);
      expect(await codeOf(attempt)).toBe('KEY_NOT_ACTIVE');
    },
  );
});

describe('updates', () => {
  it('changes scopes, allowlist and label and bumps the epoch', async () => {
    const { key } = await createHmac();
    const updated = await plane.keys.updateKey(
      key.id,
      { scopes: ['read'], ipAllowlist: ['192.0.2.0/24'], label: 'bot' },
      TEST_CTX,
    );
    expect(updated).toMatchObject({
      scopes: ['read'],
      ipAllowlist: ['192.0.2.0/24'],
      label: 'bot',
      epoch: 2,
    });
  });

  it('audits the change with before and after', async () => {
    const { key } = await createHmac();
    await plane.keys.updateKey(key.id, { scopes: ['read'] }, TEST_CTX);
    const [entry] = await plane.store.listAudit({ limit: 10, action: 'key.update' });
    expect(entry?.data).toMatchObject({
      before: { scopes: ['read', 'trade'] },
      after: { scopes: ['read'] },
    });
  });

  it('refuses an unknown scope with UNKNOWN_SCOPE and leaves the key unchanged', async () => {
    const { key } = await createHmac();
    expect(await codeOf(plane.keys.updateKey(key.id, { scopes: ['moon'] }, TEST_CTX))).toBe(
      'UNKNOWN_SCOPE',
    );
    expect((await plane.keys.getKey(key.id)).epoch).toBe(1);
  });
});

describe('ed25519 keys', () => {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pem = publicKey.export({ format: 'pem', type: 'spki' }).toString();
  const spkiDer = publicKey.export({ format: 'der', type: 'spki' });
  const raw = spkiDer.subarray(spkiDer.length - 32);

  it.each([
    ['SPKI PEM', pem],
    ['base64 of the raw 32 bytes', raw.toString('base64')],
    ['base64 of the SPKI DER', spkiDer.toString('base64')],
  ])('accepts the public key as %s and verifies its signatures', async (_form, text) => {
    const { key, secret } = await plane.keys.createKey(
      {
        accountId,
        environment: 'production',
        scheme: 'ed25519',
        scopes: ['read'],
        publicKey: text,
      },
      TEST_CTX,
    );
    expect(secret).toBeUndefined();
    const material = await plane.keys.loadVerificationMaterial(key.id);
    const message = Buffer.from('GET /v1/orders');
    expect(material?.publicKey).not.toBeNull();
    expect(
      verify(null, message, material?.publicKey ?? publicKey, sign(null, message, privateKey)),
    ).toBe(true);
    expect(material?.stored.publicKeyPem).toBe(pem);
  });

  it.each([
    ['garbage', 'not a key'],
    [
      'an X25519 key',
      generateKeyPairSync('x25519').publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    ],
    [
      'an EC P-256 key',
      generateKeyPairSync('ec', { namedCurve: 'P-256' })
        .publicKey.export({ format: 'pem', type: 'spki' })
        .toString(),
    ],
    ['31 raw bytes', Buffer.alloc(31, 1).toString('base64')],
  ])('refuses %s with INVALID_PUBLIC_KEY', async (_what, text) => {
    const attempt = plane.keys.createKey(
      { accountId, environment: 'sandbox', scheme: 'ed25519', scopes: ['read'], publicKey: text },
      TEST_CTX,
    );
    expect(await codeOf(attempt)).toBe('INVALID_PUBLIC_KEY');
  });

  it('refuses an ed25519 key without a public key with INVALID_PUBLIC_KEY', async () => {
    const attempt = plane.keys.createKey(
      { accountId, environment: 'sandbox', scheme: 'ed25519', scopes: ['read'] },
      TEST_CTX,
    );
    expect(await codeOf(attempt)).toBe('INVALID_PUBLIC_KEY');
  });

  it('refuses to rotate an ed25519 key', async () => {
    const { key } = await plane.keys.createKey(
      { accountId, environment: 'sandbox', scheme: 'ed25519', scopes: ['read'], publicKey: pem },
      TEST_CTX,
    );
    expect(await codeOf(plane.keys.rotateKey(key.id, 0, TEST_CTX))).toBe('VALIDATION_FAILED');
  });
});

describe('passphrases', () => {
  it('stores only an scrypt hash that verifies the passphrase', async () => {
    const { key } = await createHmac({ passphrase: 'correct horse' });
    const stored = await plane.store.getKey(key.id);
    expect(stored?.passphraseHash).toMatch(/^scrypt\$16384\$8\$1\$/);
    expect(verifyPassphrase('correct horse', stored?.passphraseHash ?? '')).toBe(true);
    expect(verifyPassphrase('wrong horse', stored?.passphraseHash ?? '')).toBe(false);
  });

  it('shows only that a passphrase is set', async () => {
    const { key } = await createHmac({ passphrase: 'correct horse' });
    expect(key.hasPassphrase).toBe(true);
    expect(JSON.stringify(await plane.keys.getKey(key.id))).not.toContain('correct horse');
  });

  it('never writes the passphrase in plaintext to the SQLite files', async () => {
    await createHmac({ passphrase: 'correct horse battery' });
    expect(storeBytes(plane).includes(Buffer.from('correct horse battery'))).toBe(false);
  });
});
