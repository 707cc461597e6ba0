/**
 * `store: postgres://…?schema=…` is all a node needs: two runtimes on one schema share the
 * audit key, the bootstrap token and one audit chain.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { splitSchemaParameter } from '../../../src/adapters/postgres/postgres-control-store.js';
import { createRuntime, type Runtime } from '../../../src/app/runtime.js';
import { loadConfig } from '../../../src/config/config.js';
import { createManualClock } from '../../helpers/manual-clock.js';
import { createTempDir } from '../../helpers/temp-dir.js';
import { POSTGRES_URL, dropSchema, randomSchema } from './postgres-harness.js';

const MASTER_KEY = randomBytes(32).toString('base64');

describe('runtime on PostgreSQL', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function startNode(store: string): Promise<Runtime> {
    const dir = createTempDir();
    const config = loadConfig(
      {
        dataDir: dir.path,
        logLevel: 'silent',
        store,
        admin: { listen: { host: '127.0.0.1', port: 0 } },
        environments: { production: { enabled: false }, sandbox: { enabled: false } },
      },
      {},
    );
    const runtime = await createRuntime(config, {
      clock: createManualClock(),
      env: { PORTCULLIS_MASTER_KEY: MASTER_KEY },
    });
    cleanups.push(async () => {
      await runtime.stop();
      dir.remove();
    });
    await runtime.start();
    return runtime;
  }

  it('starts two nodes on one schema with one bootstrap token and one valid chain', async () => {
    const schema = randomSchema();
    cleanups.push(() => dropSchema(schema));
    const store = `${POSTGRES_URL}?schema=${schema}`;
    const a = await startNode(store);
    const b = await startNode(store);
    expect(await b.store.countAdminTokens()).toBe(1);
    await b.store.appendAudit({
      ts: 1,
      actor: 'system',
      action: 'x.node-b',
      target: 'b',
      requestId: 'req_b',
      data: {},
    });
    expect(await a.audit.verify()).toMatchObject({ ok: true });
    expect(await b.audit.verify()).toMatchObject({ ok: true });
  });

  it('removes the schema parameter before the driver sees the URL', () => {
    expect(splitSchemaParameter('postgres://u@h:5432/db?schema=s1&sslmode=disable')).toEqual({
      url: 'postgres://u@h:5432/db?sslmode=disable',
      schema: 's1',
    });
  });

  it('leaves a URL without a schema parameter unchanged', () => {
    expect(splitSchemaParameter('postgresql://u@h/db')).toEqual({
      url: 'postgresql://u@h/db',
      schema: undefined,
    });
  });
});
