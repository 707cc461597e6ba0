/**
 * `portcullis withdrawals …` and `portcullis risk prefixes|lift-prefix` against a real runtime
 * (in process, real sockets, manual clock): rules and addresses set through the CLI are what the
 * data plane enforces; bad input exits 2 (USAGE) or 1 with the API's code.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliRun as Run } from '../helpers/cli-in-process.js';
import { CTX, newKey, send, startGateway, type Gateway } from '../server/observability/gateway.js';

let g: Gateway;
beforeAll(async () => {
  g = await startGateway();
}, 60_000);
afterAll(async () => {
  await g?.close();
});

const cli = (...args: string[]): Promise<Run> => runCli(g, ...args);

const json = <T>(run: Run): T => JSON.parse(run.stdout) as T;

describe('portcullis withdrawals', () => {
  it('shows, replaces and lists the rules and address book the data plane enforces', async () => {
    const key = await newKey(g, { scopes: ['read', 'withdraw'] });
    const acc = key.accountId;
    expect(json(await cli('withdrawals', 'rules', acc, '--json'))).toBeNull();
    expect((await cli('withdrawals', 'rules', acc)).stdout).toContain('has no withdrawal rules');

    const set = await cli(
      'withdrawals',
      'set-rules',
      acc,
      '--cool-down',
      '1h',
      '--account-per-day',
      '5000',
      '--key-per-hour',
      '100',
      '--json',
    );
    expect(set.code).toBe(0);
    expect(json(set)).toMatchObject({
      accountId: acc,
      addressBookRequired: true,
      coolDownMs: 3_600_000,
      accountLimits: { perDay: '5000' },
      keyLimits: { perHour: '100' },
    });
    expect(json(await cli('withdrawals', 'rules', acc, '--json'))).toMatchObject({
      coolDownMs: 3_600_000,
    });

    // Off the book: refused before the upstream.
    expect((await send(g, key, 'withdraw')).code).toBe('ADDRESS_NOT_ALLOWED');
    const added = await cli(
      'withdrawals',
      'add-address',
      acc,
      '--asset',
      'USDT',
      '--address',
      'addr-1',
      '--json',
    );
    expect(added.code).toBe(0);
    const entry = json<{ address: { addedAt: string; usableFrom: string } }>(added).address;
    expect(Date.parse(entry.usableFrom) - Date.parse(entry.addedAt)).toBe(3_600_000);
    const listed = json<{ address: string }[]>(
      await cli('withdrawals', 'addresses', acc, '--json'),
    );
    expect(listed.map((a) => a.address)).toEqual(['addr-1']);
    expect((await cli('withdrawals', 'addresses', acc)).stdout).toContain('addr-1');

    expect((await send(g, key, 'withdraw')).code).toBe('ADDRESS_COOLING_DOWN');
    g.clock.advance(3_600_000);
    const after = await send(g, key, 'withdraw');
    expect(after.code).not.toBe('ADDRESS_COOLING_DOWN');
    expect(after.code).not.toBe('ADDRESS_NOT_ALLOWED');
  });

  it('--file gives the base and flags override it', async () => {
    const acc = (await g.runtime.keys.createAccount('cli-file', CTX)).id;
    const dir = mkdtempSync(join(tmpdir(), 'pc-wd-'));
    try {
      const file = join(dir, 'rules.json');
      writeFileSync(
        file,
        JSON.stringify({ addressBookRequired: true, accountLimits: { perTransaction: '10' } }),
      );
      const run = await cli(
        'withdrawals',
        'set-rules',
        acc,
        '--file',
        file,
        '--address-book',
        'off',
        '--json',
      );
      expect(json(run)).toMatchObject({
        addressBookRequired: false,
        accountLimits: { perTransaction: '10' },
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [['withdrawals', 'set-rules', 'acc_x'], 'nothing to set'],
    [['withdrawals', 'set-rules'], 'no account'],
    [['withdrawals', 'set-rules', 'acc_x', '--address-book', 'maybe'], 'a bad --address-book'],
    [['withdrawals', 'set-rules', 'acc_x', '--address-approval-quorum', 'two'], 'a bad quorum'],
    [['withdrawals', 'add-address', 'acc_x', '--asset', 'USDT'], 'no --address'],
    [['withdrawals', 'rules', 'acc_x', '--colour', 'red'], 'an unknown option'],
  ])('%j exits 2 with USAGE (%s)', async (args) => {
    const run = await cli(...args, '--json');
    expect(run.code).toBe(2);
    expect(JSON.parse(run.stderr)).toMatchObject({ error: { code: 'USAGE' } });
  });

  it('an unknown account exits 1 with ACCOUNT_NOT_FOUND', async () => {
    const run = await cli('withdrawals', 'set-rules', 'acc_missing', '--cool-down', '1h', '--json');
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stderr)).toMatchObject({ error: { code: 'ACCOUNT_NOT_FOUND' } });
  });

  it('a bad amount exits 1 with the API validation code', async () => {
    const acc = (await g.runtime.keys.createAccount('cli-bad', CTX)).id;
    const run = await cli('withdrawals', 'set-rules', acc, '--account-per-day', '1e5', '--json');
    expect(run.code).toBe(1);
    expect(JSON.parse(run.stderr)).toMatchObject({ error: { code: 'VALIDATION_FAILED' } });
  });
});

describe('portcullis risk', () => {
  it('prefixes lists nothing in force; lift-prefix of a clean prefix lifts nothing', async () => {
    expect(json(await cli('risk', 'prefixes', '--json'))).toEqual([]);
    const run = await cli('risk', 'lift-prefix', '198.51.100.0/24');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('nothing in force');
  });
});
