/**
 * Loading ioredis leaves String.prototype in V8's dictionary mode (it defines a subclass of
 * String and never instantiates it), which slows every string method call in the process;
 * src/adapters/redis/ioredis.ts puts it back in fast mode. Checked in a child process with V8's
 * natives syntax, on the compiled module (`npm run build` first; npm test does).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../helpers/server-process.js';

const COMPILED = join(REPO_ROOT, 'dist', 'src', 'adapters', 'redis', 'ioredis.js');

/** Whether String.prototype has fast properties after `load` ran in a fresh process. */
function stringPrototypeFastAfter(load: string): boolean {
  const out = execFileSync(
    process.execPath,
    [
      '--allow-natives-syntax',
      '--input-type=module',
      '-e',
      `${load}\nprocess.stdout.write(String(%HasFastProperties(String.prototype)));`,
    ],
    { cwd: REPO_ROOT, encoding: 'utf8' },
  );
  return out === 'true';
}

describe('ioredis as Portcullis loads it', () => {
  it('leaves String.prototype in fast mode', () => {
    if (!existsSync(COMPILED)) throw new Error('dist/ is missing: run `npm run build` first.');
    expect(
      stringPrototypeFastAfter(`await import(${JSON.stringify(pathToFileURL(COMPILED).href)});`),
    ).toBe(true);
  });

  it('is needed: ioredis alone leaves it in dictionary mode (if this fails, drop the workaround)', () => {
    expect(stringPrototypeFastAfter('')).toBe(true);
    expect(stringPrototypeFastAfter("await import('ioredis');")).toBe(false);
  });
});
