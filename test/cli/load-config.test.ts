import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig, readConfigFile } from '../../src/config/config.js';
import { PortcullisError } from '../../src/core/errors.js';
import { createTempDir } from '../helpers/temp-dir.js';

const BASE = '/srv/portcullis';
const dirs: (() => void)[] = [];
afterEach(() => {
  for (const remove of dirs.splice(0)) remove();
});

function configError(fn: () => unknown): PortcullisError {
  try {
    fn();
  } catch (error) {
    if (error instanceof PortcullisError) return error;
    throw error;
  }
  throw new Error('expected a PortcullisError');
}

function tempFile(name: string, text: string): string {
  const dir = createTempDir();
  dirs.push(() => dir.remove());
  const path = join(dir.path, name);
  writeFileSync(path, text);
  return path;
}

describe('loadConfig defaults', () => {
  const config = loadConfig({}, {}, BASE);

  it('puts the data directory and SQLite store under ./data', () => {
    expect(config.dataDir).toBe(`${BASE}/data`);
    expect(config.store).toBe(`sqlite:${BASE}/data/portcullis.db`);
  });

  it('listens on 127.0.0.1:8081 for the admin API', () => {
    expect(config.admin.listen).toEqual({ host: '127.0.0.1', port: 8081 });
  });

  it('listens on 8080 (production) and 8090 (sandbox) with the builtin upstream', () => {
    expect(config.environments.production.listen.port).toBe(8080);
    expect(config.environments.sandbox.listen.port).toBe(8090);
    expect(config.environments.sandbox.upstream).toBe('builtin');
  });

  it('has no Redis', () => {
    expect(config.redis).toBeNull();
  });

  it('is frozen', () => {
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.admin)).toBe(true);
  });
});

describe('loadConfig validation', () => {
  it('reports every problem at once', () => {
    const error = configError(() =>
      loadConfig(
        {
          logLevel: 'chatty',
          admin: { listen: { port: 70000 } },
          dataPlane: { trustedProxies: ['10.0.0.0/33'], headersTimeout: '10 seconds' },
          environments: { production: { upstream: 'ftp://engine' } },
        },
        {},
        BASE,
      ),
    );
    expect(error.code).toBe('CONFIG_INVALID');
    const details = error.details ?? [];
    expect(details.some((d) => d.startsWith('/logLevel'))).toBe(true);
    expect(details.some((d) => d.startsWith('/admin/listen/port'))).toBe(true);
    expect(details.some((d) => d.startsWith('/dataPlane/trustedProxies'))).toBe(true);
    expect(details.some((d) => d.startsWith('/dataPlane/headersTimeout'))).toBe(true);
    expect(details.some((d) => d.startsWith('/environments/production/upstream'))).toBe(true);
  });

  it('refuses unknown fields, naming each', () => {
    const error = configError(() =>
      loadConfig({ colour: 'red', admin: { listen: { hots: 'x' } } }, {}, BASE),
    );
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.details?.join('\n')).toContain("'colour'");
    expect(error.details?.join('\n')).toContain("'hots'");
  });

  it('refuses an unsupported store URL scheme', () => {
    expect(configError(() => loadConfig({ store: 'mysql://x' }, {}, BASE)).code).toBe(
      'CONFIG_INVALID',
    );
  });
});

describe('environment overrides', () => {
  it('apply over the file', () => {
    const config = loadConfig(
      { admin: { listen: { port: 9000 } } },
      {
        PORTCULLIS_ADMIN_PORT: '0',
        PORTCULLIS_ADMIN_HOST: '::1',
        PORTCULLIS_DATA_DIR: '/var/lib/pc',
        PORTCULLIS_SANDBOX_PORT: '0',
        PORTCULLIS_PRODUCTION_UPSTREAM: 'https://engine.internal',
        PORTCULLIS_REDIS_URL: 'redis://cache:6379',
        PORTCULLIS_LOG_LEVEL: 'warn',
      },
      BASE,
    );
    expect(config.admin.listen).toEqual({ host: '::1', port: 0 });
    expect(config.dataDir).toBe('/var/lib/pc');
    expect(config.environments.sandbox.listen.port).toBe(0);
    expect(config.environments.production.upstream).toBe('https://engine.internal');
    expect(config.redis).toBe('redis://cache:6379');
    expect(config.logLevel).toBe('warn');
  });

  it('ignore empty values', () => {
    expect(loadConfig({}, { PORTCULLIS_ADMIN_PORT: '' }, BASE).admin.listen.port).toBe(8081);
  });

  it('report a non-integer port as a problem of that field', () => {
    const error = configError(() => loadConfig({}, { PORTCULLIS_ADMIN_PORT: 'eighty' }, BASE));
    expect(error.details?.some((d) => d.startsWith('/admin/listen/port'))).toBe(true);
  });

  it('do not mutate the raw configuration', () => {
    const raw = { admin: { listen: { port: 9000 } } };
    loadConfig(raw, { PORTCULLIS_ADMIN_PORT: '1' }, BASE);
    expect(raw.admin.listen.port).toBe(9000);
  });
});

describe('configuration files', () => {
  it('reads YAML', () => {
    const path = tempFile('c.yaml', 'admin:\n  listen:\n    port: 9100\nlogLevel: debug\n');
    const config = loadConfig(readConfigFile(path), {}, BASE);
    expect([config.admin.listen.port, config.logLevel]).toEqual([9100, 'debug']);
  });

  it('reads JSON', () => {
    const path = tempFile('c.json', JSON.stringify({ admin: { listen: { port: 9200 } } }));
    expect(loadConfig(readConfigFile(path), {}, BASE).admin.listen.port).toBe(9200);
  });

  it('refuses duplicate keys with CONFIG_INVALID', () => {
    const path = tempFile('c.yaml', 'logLevel: info\nlogLevel: debug\n');
    expect(configError(() => readConfigFile(path)).code).toBe('CONFIG_INVALID');
  });

  it('refuses a missing file with CONFIG_INVALID', () => {
    expect(configError(() => readConfigFile('/nonexistent/portcullis.yaml')).code).toBe(
      'CONFIG_INVALID',
    );
  });
});
