/**
 * Structured logs: JSON lines (pino) where every line written while serving requests carries
 * the request id, and no secret reaches a line (redaction as a last defence).
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { LOG_REDACTIONS, createRuntime, type Runtime } from '../../../src/app/runtime.js';
import { loadConfig } from '../../../src/config/config.js';
import { createManualClock } from '../../helpers/manual-clock.js';
import { createTempDir } from '../../helpers/temp-dir.js';
import { CTX, send, type Gateway } from './gateway.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, stream };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

describe('JSON logs', () => {
  it('redacts secret-named fields', () => {
    const { lines, stream } = capture();
    const logger = pino({ redact: LOG_REDACTIONS }, stream);
    logger.info({ secret: 's3cret-value', nested: { token: 'tok-value' } }, 'x');
    expect(lines.join('\n')).not.toMatch(/s3cret-value|tok-value/);
    expect(lines.join('\n')).toContain('[redacted]');
  });

  it('puts the request id on every line written while serving data-plane requests', async () => {
    const { lines, stream } = capture();
    const dir = createTempDir();
    const clock = createManualClock(Math.floor(Date.now() / 1000) * 1000);
    const config = loadConfig(
      {
        dataDir: dir.path,
        admin: { listen: { host: '127.0.0.1', port: 0 } },
        environments: {
          production: { enabled: false },
          sandbox: { listen: { host: '127.0.0.1', port: 0 } },
        },
      },
      {},
    );
    const runtime: Runtime = await createRuntime(config, {
      clock,
      logger: pino({ level: 'info', redact: LOG_REDACTIONS }, stream),
      env: { PORTCULLIS_MASTER_KEY: randomBytes(32).toString('base64') },
    });
    const info = await runtime.start();
    cleanups.push(async () => {
      await runtime.stop();
      dir.remove();
    });
    const account = await runtime.keys.createAccount('logs', CTX);
    const created = await runtime.keys.createKey(
      { accountId: account.id, environment: 'sandbox', scheme: 'hmac', scopes: ['read'] },
      CTX,
    );
    const key = {
      id: created.key.id,
      secret: created.secret ?? '',
      accountId: account.id,
      environment: 'sandbox' as const,
    };
    const g = {
      clock,
      urls: { sandbox: info.dataPlanes.sandbox?.url ?? '', production: '' },
    } as unknown as Gateway;
    lines.length = 0;
    await send(g, key, 'balance', { secret: 'wrong' });
    await send(g, key, 'order');
    await send(g, key, 'balance');
    const dataPlaneLines = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(dataPlaneLines.length).toBeGreaterThan(0);
    for (const line of dataPlaneLines) expect(line.reqId).toMatch(/^req_/);
    expect(lines.join('\n')).not.toContain(key.secret);
  });
});
