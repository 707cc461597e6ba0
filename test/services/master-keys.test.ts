import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PortcullisError } from '../../src/core/errors.js';
import { loadKeyring } from '../../src/services/master-keys.js';
import {
  TEST_CTX,
  createTestControlPlane,
  type TestControlPlane,
} from '../helpers/control-plane.js';
import { createTempDir } from '../helpers/temp-dir.js';
import { countTurns } from '../helpers/event-loop-turns.js';

const HOUR_MS = 3_600_000;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = createTempDir();
  cleanups.push(() => dir.remove());
  return dir.path;
}

async function faultCode(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
    return 'NO_ERROR';
  } catch (error) {
    return error instanceof PortcullisError ? error.code : `OTHER: ${String(error)}`;
  }
}

describe('loadKeyring', () => {
  it('generates a key file with mode 0600 when PORTCULLIS_MASTER_KEY is unset', () => {
    const path = join(tempDir(), 'master.key');
    const loaded = loadKeyring({ envValue: undefined, keyFilePath: path });
    expect(loaded.generated).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('reads the same key back from the file', () => {
    const path = join(tempDir(), 'master.key');
    const first = loadKeyring({ envValue: undefined, keyFilePath: path });
    const second = loadKeyring({ envValue: undefined, keyFilePath: path });
    expect(second.generated).toBe(false);
    expect(second.keyring.active.key.equals(first.keyring.active.key)).toBe(true);
  });

  it.each([
    ['base64', randomBytes(32).toString('base64')],
    ['hex', randomBytes(32).toString('hex')],
  ])('takes PORTCULLIS_MASTER_KEY in %s', (_encoding, value) => {
    const loaded = loadKeyring({ envValue: value, keyFilePath: join(tempDir(), 'unused') });
    expect(loaded.source.kind).toBe('env');
    expect(loaded.keyring.active.key).toHaveLength(32);
  });

  it('makes the first of several comma-separated keys active', () => {
    const [a, b] = [randomBytes(32), randomBytes(32)];
    const loaded = loadKeyring({
      envValue: `${a.toString('base64')},${b.toString('base64')}`,
      keyFilePath: join(tempDir(), 'unused'),
    });
    expect(loaded.keyring.active.key.equals(a)).toBe(true);
    expect(loaded.keyring.keys.size).toBe(2);
  });

  it('refuses a master key that is not 32 bytes with CONFIG_INVALID', async () => {
    expect(
      await faultCode(() =>
        Promise.resolve(loadKeyring({ envValue: 'c2hvcnQ=', keyFilePath: join(tempDir(), 'x') })),
      ),
    ).toBe('CONFIG_INVALID');
  });

  it('refuses a key file that is not JSON with CONFIG_INVALID', async () => {
    const path = join(tempDir(), 'master.key');
    writeFileSync(path, 'garbage');
    expect(
      await faultCode(() =>
        Promise.resolve(loadKeyring({ envValue: undefined, keyFilePath: path })),
      ),
    ).toBe('CONFIG_INVALID');
  });
});

describe('a wrong master key fails loudly', () => {
  it('with MASTER_KEY_MISMATCH when PORTCULLIS_MASTER_KEY is another key', async () => {
    const dataDir = tempDir();
    const first = await createTestControlPlane({
      dataDir,
      masterKeyEnv: randomBytes(32).toString('base64'),
    });
    await first.close();
    expect(
      await faultCode(() =>
        createTestControlPlane({ dataDir, masterKeyEnv: randomBytes(32).toString('base64') }),
      ),
    ).toBe('MASTER_KEY_MISMATCH');
  });

  it('with MASTER_KEY_MISMATCH when the key file holds another key', async () => {
    const dataDir = tempDir();
    const first = await createTestControlPlane({ dataDir });
    await first.close();
    const other = tempDir();
    loadKeyring({ envValue: undefined, keyFilePath: join(other, 'master.key') });
    writeFileSync(join(dataDir, 'master.key'), readFileSync(join(other, 'master.key')));
    expect(await faultCode(() => createTestControlPlane({ dataDir }))).toBe('MASTER_KEY_MISMATCH');
  });

  it('with MASTER_KEY_MISMATCH when a file-keyed store is opened with an env key', async () => {
    const dataDir = tempDir();
    const first = await createTestControlPlane({ dataDir });
    await first.close();
    expect(
      await faultCode(() =>
        createTestControlPlane({ dataDir, masterKeyEnv: randomBytes(32).toString('hex') }),
      ),
    ).toBe('MASTER_KEY_MISMATCH');
  });
});

describe('master-key rotation', () => {
  async function planeWithSecrets(): Promise<{
    plane: TestControlPlane;
    secrets: Map<string, string[]>;
    oldKekId: string;
  }> {
    const dataDir = tempDir();
    const plane = await createTestControlPlane({ dataDir });
    cleanups.push(() => plane.close({ keepDir: true }));
    const account = await plane.keys.createAccount('a', TEST_CTX);
    const secrets = new Map<string, string[]>();
    for (let i = 0; i < 3; i++) {
      const created = await plane.keys.createKey(
        { accountId: account.id, environment: 'sandbox', scheme: 'hmac', scopes: ['read'] },
        TEST_CTX,
      );
      const rotated = await plane.keys.rotateKey(created.key.id, HOUR_MS, TEST_CTX);
      secrets.set(created.key.id, [rotated.secret ?? '', created.secret ?? '']);
    }
    return { plane, secrets, oldKekId: plane.keyring().active.id };
  }

  it('re-wraps every record under the new active key', async () => {
    const { plane, oldKekId } = await planeWithSecrets();
    const result = await plane.rotateMasterKey();
    expect(result.rewrapped).toBe(6);
    expect(result.activeKeyId).not.toBe(oldKekId);
    expect(await plane.store.listKekIds()).toEqual([result.activeKeyId]);
  });

  it('keeps every secret version decrypting to the same bytes', async () => {
    const { plane, secrets } = await planeWithSecrets();
    await plane.rotateMasterKey();
    for (const [keyId, expected] of secrets) {
      const material = await plane.keys.loadVerificationMaterial(keyId);
      expect(material?.secrets.map((s) => s.bytes.toString('utf8'))).toEqual(expected);
    }
  });

  it('drops the old key from the key file', async () => {
    const { plane, oldKekId } = await planeWithSecrets();
    const { activeKeyId } = await plane.rotateMasterKey();
    const file = JSON.parse(readFileSync(plane.keyFilePath, 'utf8')) as {
      active: string;
      keys: { id: string }[];
    };
    expect(file.active).toBe(activeKeyId);
    expect(file.keys.map((k) => k.id)).toEqual([activeKeyId]);
    expect(file.keys.map((k) => k.id)).not.toContain(oldKekId);
  });

  it('keeps the audit key opening after a restart with the new key file', async () => {
    const { plane } = await planeWithSecrets();
    await plane.rotateMasterKey();
    await plane.close({ keepDir: true });
    const reopened = await createTestControlPlane({ dataDir: plane.dataDir });
    cleanups.push(() => reopened.close({ keepDir: true }));
    expect(await reopened.audit.verify()).toMatchObject({ ok: true });
  });

  it('seals new secrets under the new key', async () => {
    const { plane, secrets } = await planeWithSecrets();
    const { activeKeyId } = await plane.rotateMasterKey();
    const [keyId] = [...secrets.keys()];
    await plane.keys.rotateKey(keyId ?? '', 0, TEST_CTX);
    const [newest] = await plane.store.getSecrets(keyId ?? '');
    expect(newest?.sealed.kekId).toBe(activeKeyId);
  });

  it('is audited, and the chain still verifies', async () => {
    const { plane } = await planeWithSecrets();
    await plane.rotateMasterKey();
    expect(await plane.store.listAudit({ limit: 10, action: 'master-key.rotate' })).toHaveLength(1);
    expect(await plane.audit.verify()).toMatchObject({ ok: true });
  });

  it('re-wraps in batches, one transaction each, with an event-loop turn between them', async () => {
    const plane = await createTestControlPlane({ dataDir: tempDir() });
    cleanups.push(() => plane.close({ keepDir: true }));
    const account = await plane.keys.createAccount('a', TEST_CTX);
    for (let i = 0; i < 1_001; i++) {
      await plane.keys.createKey(
        { accountId: account.id, environment: 'sandbox', scheme: 'hmac', scopes: ['read'] },
        TEST_CTX,
      );
    }
    const turns = countTurns();
    const batches: { size: number; turn: number }[] = [];
    const replace = plane.store.replaceSealed.bind(plane.store);
    plane.store.replaceSealed = (envelopes) => {
      batches.push({ size: envelopes.length, turn: turns.count() });
      return replace(envelopes);
    };
    const result = await plane.rotateMasterKey();
    turns.stop();
    expect(result.rewrapped).toBe(1_001);
    expect(batches.map((b) => b.size)).toEqual([500, 500, 1]);
    expect(batches[1]?.turn).toBeGreaterThan(batches[0]?.turn ?? Infinity);
    expect(batches[2]?.turn).toBeGreaterThan(batches[1]?.turn ?? Infinity);
    expect(await plane.store.listKekIds()).toEqual([result.activeKeyId]);
  });
});
