/**
 * Documentation kept equal to the code: the error and reason catalogs, every configuration
 * field and environment override, every admin endpoint and every CLI command.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_COMMANDS } from '../src/cli/commands/admin-commands.js';
import { ENV_OVERRIDES } from '../src/config/config.js';
import { CONFIG_SCHEMA } from '../src/config/schema.js';
import { ERROR_CATALOG } from '../src/core/errors.js';
import { REASON_CATALOG } from '../src/core/reasons.js';
import { createTestControlPlane, type TestControlPlane } from './helpers/control-plane.js';

const doc = (name: string): string =>
  readFileSync(new URL(`../docs/${name}`, import.meta.url), 'utf8');

/** The `| `CODE` | status | … |` rows of the table under the heading `## title`. */
function tableRows(markdown: string, title: string): Map<string, number> {
  const start = markdown.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`docs/errors.md has no section "${title}"`);
  const rest = markdown.slice(start + title.length + 5);
  const section = rest.slice(0, rest.search(/\n## |$/));
  const rows = new Map<string, number>();
  for (const match of section.matchAll(/^\|\s*`([A-Z0-9_]+)`\s*\|\s*(\d{3})\s*\|/gm)) {
    const [, code, status] = match;
    if (code === undefined || status === undefined) continue;
    expect(rows.has(code), `${code} listed twice`).toBe(false);
    rows.set(code, Number(status));
  }
  return rows;
}

const catalogRows = (catalog: Record<string, { status: number }>) =>
  new Map(Object.entries(catalog).map(([code, entry]) => [code, entry.status]));

describe('docs/errors.md', () => {
  const markdown = doc('errors.md');

  it('lists every fault code of ERROR_CATALOG with its status, and no other', () => {
    expect(tableRows(markdown, 'Admin API and start-up faults')).toEqual(
      catalogRows(ERROR_CATALOG),
    );
  });

  it('lists every reason code of REASON_CATALOG with its status, and no other', () => {
    expect(tableRows(markdown, 'Data-plane reason codes')).toEqual(catalogRows(REASON_CATALOG));
  });
});

interface SchemaNode {
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly items?: SchemaNode;
}

/** Dotted paths of every property; environment names become `<env>`, array items `[]`. */
function schemaPaths(node: SchemaNode, prefix = ''): string[] {
  const paths: string[] = [];
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    const segment = prefix === 'environments' ? '<env>' : name;
    const path = prefix ? `${prefix}.${segment}` : segment;
    if (!paths.includes(path)) paths.push(path);
    for (const sub of schemaPaths(child, path)) if (!paths.includes(sub)) paths.push(sub);
    if (child.items) {
      for (const sub of schemaPaths(child.items, `${path}[]`)) {
        if (!paths.includes(sub)) paths.push(sub);
      }
    }
  }
  return paths;
}

describe('docs/configuration.md', () => {
  const markdown = doc('configuration.md');

  it.each(schemaPaths(CONFIG_SCHEMA as SchemaNode))('documents the field `%s`', (path) => {
    expect(markdown).toContain(`\`${path}\``);
  });

  it.each(ENV_OVERRIDES.map((o) => o.variable))('documents the variable %s', (variable) => {
    expect(markdown).toContain(`\`${variable}\``);
  });

  it('documents PORTCULLIS_MASTER_KEY', () => {
    expect(markdown).toContain('`PORTCULLIS_MASTER_KEY`');
  });
});

describe('docs/admin-api.md', () => {
  let plane: TestControlPlane;
  beforeAll(async () => {
    plane = await createTestControlPlane();
  });
  afterAll(async () => {
    await plane.close();
  });

  it('documents every endpoint of the OpenAPI document', async () => {
    const markdown = doc('admin-api.md');
    const openapi = (await plane.app.inject({ method: 'GET', url: '/openapi.json' })).json<{
      paths: Record<string, Record<string, unknown>>;
    }>();
    for (const [path, methods] of Object.entries(openapi.paths)) {
      const written = path.replace(/\{(\w+)\}/g, ':$1');
      for (const method of Object.keys(methods)) {
        expect(markdown, `${method} ${written}`).toContain(`${method.toUpperCase()} ${written}`);
      }
    }
  });
});

describe('docs/cli.md', () => {
  it.each(['start', ...Object.keys(ADMIN_COMMANDS)])('documents `portcullis %s`', (command) => {
    expect(doc('cli.md')).toContain(`portcullis ${command}`);
  });
});
