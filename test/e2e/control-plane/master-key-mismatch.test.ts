/** A wrong master key must stop a real server at start-up, loudly and with a non-zero exit. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  adminRequest,
  runServerToExit,
  startServer,
  type ServerHandle,
} from '../../helpers/server-process.js';

const rightKey = randomBytes(32).toString('base64');
let server: ServerHandle;

beforeAll(async () => {
  server = await startServer({ env: { PORTCULLIS_MASTER_KEY: rightKey } });
  const account = await adminRequest(server, 'POST', '/v1/accounts', { name: 'a' });
  const created = await adminRequest(server, 'POST', '/v1/keys', {
    accountId: account.body.id,
    environment: 'sandbox',
    scopes: ['read'],
  });
  expect(created.status).toBe(201);
  await server.stop();
});
afterAll(async () => {
  await server.cleanup();
});

describe('start-up with the wrong master key', () => {
  it('exits non-zero naming MASTER_KEY_MISMATCH', async () => {
    const result = await runServerToExit({
      dataDir: server.dataDir,
      env: { PORTCULLIS_MASTER_KEY: randomBytes(32).toString('base64') },
    });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('MASTER_KEY_MISMATCH');
  });

  it('exits non-zero naming MASTER_KEY_MISMATCH when the key is unset and a new key file is generated', async () => {
    const result = await runServerToExit({ dataDir: server.dataDir });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('MASTER_KEY_MISMATCH');
  });

  it('starts again with the right key', async () => {
    const again = await startServer({
      dataDir: server.dataDir,
      env: { PORTCULLIS_MASTER_KEY: rightKey },
    });
    try {
      expect((await adminRequest(again, 'GET', '/v1/audit/verify')).body).toMatchObject({
        ok: true,
      });
    } finally {
      await again.stop();
    }
  });
});
