import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SANDBOX_ERROR_CATALOG } from '../../src/sandbox/sandbox-fault.js';
import { SANDBOX_ROUTES } from '../../src/sandbox/routes.js';

const DOC = readFileSync(new URL('../../docs/sandbox.md', import.meta.url), 'utf8');

describe('docs/sandbox.md', () => {
  it('lists every native error code with its status, and no other', () => {
    const documented = new Map<string, number>();
    for (const match of DOC.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)) {
      documented.set(match[1] ?? '', Number(match[2]));
    }
    const catalog = new Map(
      Object.entries(SANDBOX_ERROR_CATALOG).map(([code, entry]) => [code, entry.status]),
    );
    expect(documented).toEqual(catalog);
  });

  it.each(SANDBOX_ROUTES)('mentions $method $path', (route) => {
    expect(DOC).toContain(`${route.method} ${route.path}`);
  });
});
