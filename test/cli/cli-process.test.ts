/** The CLI as a process, without a server: start-up faults and an unreachable admin API. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/server-process.js';
import { createTempDir } from '../helpers/temp-dir.js';

const dir = createTempDir();
afterAll(() => dir.remove());

describe('portcullis start', () => {
  it('exits 1 naming CONFIG_INVALID and every problem of a bad configuration file', async () => {
    const file = join(dir.path, 'bad.yaml');
    writeFileSync(file, 'dataPlane:\n  keyCacheSize: 0\n  headersTimeout: soon\ncolour: red\n');
    const result = await runCli(['start', '--config', file], { dataDir: dir.path });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('CONFIG_INVALID');
    expect(result.stderr).toContain('/dataPlane/headersTimeout');
    expect(result.stderr).toContain('/dataPlane/keyCacheSize');
    expect(result.stderr).toContain("'colour'");
  });

  it('exits 2 for an unknown option', async () => {
    expect((await runCli(['start', '--colour', 'red'])).code).toBe(2);
  });
});

describe('admin commands without a server', () => {
  it('exit 1 with ADMIN_UNREACHABLE on stderr', async () => {
    const result = await runCli(
      ['accounts', 'list', '--json', '--admin-url', 'http://127.0.0.1:9', '--token', 'x'],
      { dataDir: dir.path },
    );
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(JSON.parse(result.stderr)).toMatchObject({ error: { code: 'ADMIN_UNREACHABLE' } });
  });

  it('exit 2 with USAGE for an unknown command', async () => {
    const result = await runCli(['keys', 'explode', '--json']);
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stderr)).toMatchObject({ error: { code: 'USAGE' } });
  });
});
