/**
 * `portcullis --help` is made from the commands' own usages: it lists every command and every
 * option there is, so that an operator never has to find a command in the source.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ADMIN_COMMANDS } from '../../src/cli/commands/admin-commands.js';
import { main, usageOverview } from '../../src/cli/main.js';

afterEach(() => {
  vi.restoreAllMocks();
});

async function help(...args: string[]): Promise<{ code: number; stdout: string }> {
  let stdout = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  const code = await main(args, {});
  vi.restoreAllMocks();
  return { code, stdout };
}

describe('portcullis --help', () => {
  it('prints the overview and exits 0; with no command at all, exits 2', async () => {
    const shown = await help('--help');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toBe(`${usageOverview()}\n`);
    expect((await help('help')).stdout).toBe(shown.stdout);
    const bare = await help();
    expect(bare.code).toBe(2);
    expect(bare.stdout).toBe(shown.stdout);
  });

  it('lists every admin command with every one of its options', () => {
    const overview = usageOverview();
    const lines = overview.split('\n');
    for (const [name, spec] of Object.entries(ADMIN_COMMANDS)) {
      // Each command starts a line of its own (continuations are indented further).
      expect(lines.some((line) => line.startsWith(`  ${name} `) || line === `  ${name}`)).toBe(
        true,
      );
      for (const option of Object.keys(spec.options)) expect(overview).toContain(`--${option}`);
    }
    expect(overview).toContain('  bans list');
    expect(overview).toContain('  bans lift PREFIX [--forgive]');
    expect(overview).toContain('  start [--config FILE] [--data-dir DIR]');
    expect(overview).toMatch(/^ {2}sign --key-id ID/m);
  });

  it('fits 100 columns and never splits an option from its value', () => {
    const lines = usageOverview().split('\n');
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(100);
    // A continuation line starts a new unit: an option, a bracket or a parenthesis.
    for (const line of lines.filter((l) => l.startsWith('      ')))
      expect(line.trimStart()).toMatch(/^[[(-]/);
    expect(lines.some((line) => line.trimStart() === '[--limit N]')).toBe(true);
  });

  it("each command's own --help prints its usage", async () => {
    const shown = await help('bans', 'lift', '--help');
    expect(shown.code).toBe(0);
    expect(shown.stdout).toBe('portcullis bans lift PREFIX [--forgive]\n');
  });

  it('docs/cli.md documents every admin command', () => {
    const doc = readFileSync(new URL('../../docs/cli.md', import.meta.url), 'utf8');
    const undocumented = Object.keys(ADMIN_COMMANDS).filter(
      (name) => !doc.includes(`portcullis ${name}`),
    );
    expect(undocumented).toEqual([]);
  });
});
