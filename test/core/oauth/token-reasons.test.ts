import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TOKEN_REASON_CATALOG } from '../../../src/core/oauth/token-reasons.js';

const errorsDoc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');

/** The `| `CODE` | status | … |` rows under `## title` (same reading as test/docs.test.ts). */
function tableRows(title: string): Map<string, number> {
  const start = errorsDoc.indexOf(`\n## ${title}\n`);
  expect(start, `docs/errors.md has a "${title}" section`).toBeGreaterThanOrEqual(0);
  const rest = errorsDoc.slice(start + title.length + 5);
  const section = rest.slice(0, rest.search(/\n## |$/));
  const rows = new Map<string, number>();
  for (const match of section.matchAll(/^\|\s*`([A-Z0-9_]+)`\s*\|\s*(\d{3})\s*\|/gm)) {
    const [, code, status] = match;
    if (code !== undefined && status !== undefined) rows.set(code, Number(status));
  }
  return rows;
}

describe('docs/errors.md', () => {
  it('lists every access-token reason code with its status, and no other', () => {
    const expected = new Map(
      Object.entries(TOKEN_REASON_CATALOG).map(([code, entry]) => [code, entry.status]),
    );
    expect(tableRows('Access-token reason codes')).toEqual(expected);
  });
});
