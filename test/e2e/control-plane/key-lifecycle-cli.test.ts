/**
 * The control plane end to end: a real `portcullis start` process on ephemeral ports, driven by
 * the real CLI. One server for the file; the tamper test restarts it on the same data dir.
 */
import BetterSqlite3 from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cliCreateAccount,
  cliCreateKey,
  cliJson,
  cliRevokeKey,
  cliRotateKey,
  cliShowKey,
} from '../../helpers/cli-keys.js';
import { createTestControlPlane } from '../../helpers/control-plane.js';
import { runCli, startServer, type ServerHandle } from '../../helpers/server-process.js';

let server: ServerHandle;
let accountId: string;

beforeAll(async () => {
  server = await startServer();
  accountId = await cliCreateAccount(server.dataDir);
});
afterAll(async () => {
  await server.cleanup();
});

const cli = (args: readonly string[]) => runCli(args, { dataDir: server.dataDir });

describe('key lifecycle through the CLI', () => {
  it('create → show without secret → rotate → update → revoke → show revoked', async () => {
    const dir = server.dataDir;
    const created = await cliCreateKey(dir, { accountId, scopes: 'read,trade' });
    expect(created.id).toMatch(/^pk_test_/);
    expect(created.secret).toMatch(/^psk_/);

    const shown = await cliShowKey(dir, created.id);
    expect(shown).not.toHaveProperty('secret');
    expect(JSON.stringify(shown)).not.toContain(created.secret);
    expect(shown.state).toBe('active');

    const rotated = await cliRotateKey(dir, created.id, '1h');
    expect(rotated.id).toBe(created.id);
    expect(rotated.secret).toMatch(/^psk_/);
    expect(rotated.secret).not.toBe(created.secret);
    expect(rotated.secretVersion).toBe(2);

    const updated = await cliJson<typeof shown>(
      ['keys', 'update', created.id, '--scopes', 'read', '--ip', '10.0.0.0/8,::ffff:192.0.2.7'],
      dir,
    );
    expect(updated.scopes).toEqual(['read']);
    expect(updated.ipAllowlist).toEqual(['10.0.0.0/8', '192.0.2.7/32']);
    expect(updated).not.toHaveProperty('secret');

    const revoked = await cliRevokeKey(dir, created.id);
    expect(revoked.state).toBe('revoked');
    expect((await cliShowKey(dir, created.id)).state).toBe('revoked');
  });

  it('prints exactly one JSON document on stdout and nothing on stderr with --json', async () => {
    const result = await cli([
      'keys',
      'create',
      '--account',
      accountId,
      '--env',
      'production',
      '--scopes',
      'read',
      '--json',
    ]);
    expect(result.code).toBe(0);
    expect(result.json).toMatchObject({ id: expect.stringMatching(/^pk_live_/) });
    expect(result.stderr).toBe('');
  });

  it('lists keys without any secret', async () => {
    const created = await cliCreateKey(server.dataDir, { accountId });
    const result = await cli(['keys', 'list', '--json']);
    expect(result.code).toBe(0);
    expect((result.json as { id: string }[]).map((k) => k.id)).toContain(created.id);
    expect(result.stdout).not.toContain(created.secret);
    expect(result.stdout).not.toContain('"secret"');
  });

  it('exits 1 with UNKNOWN_SCOPE on stderr and nothing on stdout for an unknown scope', async () => {
    const result = await cli([
      'keys',
      'create',
      '--account',
      accountId,
      '--env',
      'sandbox',
      '--scopes',
      'read,fly',
      '--json',
    ]);
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(JSON.parse(result.stderr)).toMatchObject({ error: { code: 'UNKNOWN_SCOPE' } });
  });

  it('exits 1 with INVALID_CIDR for a bad allowlist', async () => {
    const result = await cli([
      'keys',
      'create',
      '--account',
      accountId,
      '--env',
      'sandbox',
      '--scopes',
      'read',
      '--ip',
      '10.0.0.0/40',
      '--json',
    ]);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stderr)).toMatchObject({ error: { code: 'INVALID_CIDR' } });
  });

  it('exits 1 with KEY_NOT_FOUND for an unknown key', async () => {
    const result = await cli(['keys', 'show', 'pk_test_missing', '--json']);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stderr)).toMatchObject({ error: { code: 'KEY_NOT_FOUND' } });
  });

  it('exits 2 with a usage error when a required flag is missing', async () => {
    const result = await cli(['keys', 'create', '--env', 'sandbox', '--json']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(JSON.parse(result.stderr)).toMatchObject({ error: { code: 'USAGE' } });
  });

  it('exits 1 with ADMIN_TOKEN_INVALID when given a wrong token', async () => {
    const result = await cli(['accounts', 'list', '--json', '--token', `pct_${'x'.repeat(43)}`]);
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stderr)).toMatchObject({ error: { code: 'ADMIN_TOKEN_INVALID' } });
  });
});

describe('master-key rotation through the CLI', () => {
  it('re-wraps every secret, drops the old key from the key file and is audited', async () => {
    const oldKeyFile = JSON.parse(readFileSync(join(server.dataDir, 'master.key'), 'utf8')) as {
      active: string;
    };
    await cliCreateKey(server.dataDir, { accountId });
    const result = await cliJson<{ activeKeyId: string; rewrapped: number }>(
      ['master-key', 'rotate'],
      server.dataDir,
    );
    expect(result.activeKeyId).not.toBe(oldKeyFile.active);
    expect(result.rewrapped).toBeGreaterThan(0);

    const keyFile = JSON.parse(readFileSync(join(server.dataDir, 'master.key'), 'utf8')) as {
      active: string;
      keys: { id: string }[];
    };
    expect(keyFile.active).toBe(result.activeKeyId);
    expect(keyFile.keys.map((k) => k.id)).toEqual([result.activeKeyId]);

    const db = new BetterSqlite3(join(server.dataDir, 'portcullis.db'), { readonly: true });
    try {
      const kekIds = db.prepare('SELECT DISTINCT kek_id FROM key_secrets').pluck().all();
      expect(kekIds).toEqual([result.activeKeyId]);
    } finally {
      db.close();
    }
    const audit = await cliJson<{ action: string }[]>(
      ['audit', 'list', '--limit', '1000'],
      server.dataDir,
    );
    expect(audit.map((e) => e.action)).toContain('master-key.rotate');
  });
});

describe('audit verify through the CLI against a real server', () => {
  it('exits 0 when the chain is intact', async () => {
    const result = await cli(['audit', 'verify', '--json']);
    expect(result.code).toBe(0);
    expect(result.json).toMatchObject({ ok: true });
  });

  it('after a restart, secrets still decrypt and a tampered entry makes verify exit 1 naming it', async () => {
    const created = await cliCreateKey(server.dataDir, { accountId });
    await server.stop();

    // The store, opened from the test with the server's key file, still decrypts the secret.
    const plane = await createTestControlPlane({ dataDir: server.dataDir });
    const material = await plane.keys.loadVerificationMaterial(created.id);
    expect(material?.secrets.map((s) => s.bytes.toString('utf8'))).toEqual([created.secret]);
    await plane.close({ keepDir: true });

    const db = new BetterSqlite3(join(server.dataDir, 'portcullis.db'));
    db.prepare(`UPDATE audit_log SET actor = 'adm_someone_else' WHERE seq = 3`).run();
    db.close();

    server = await startServer({ dataDir: server.dataDir });
    const json = await runCli(['audit', 'verify', '--json'], { dataDir: server.dataDir });
    expect(json.code).toBe(1);
    expect(json.json).toMatchObject({ ok: false, firstBadSeq: 3 });
    const text = await runCli(['audit', 'verify'], { dataDir: server.dataDir });
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('#3');
  });
});
