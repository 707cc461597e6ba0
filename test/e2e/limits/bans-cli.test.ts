/**
 * Escalating bans against a real `portcullis start` process, seen and lifted through the real
 * CLI and audited: a client that keeps going after 429s is banned (418 IP_BANNED) for the first
 * ban length; lifted without --forgive and offending again it gets twice that; lifted with
 * --forgive it is back to the first length. `portcullis audit list` shows ban.create (actor
 * system) and ban.lift (the admin token's actor). Memory limiter and ban store (one node).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliCreateAccount, cliCreateKey, cliJson, type CliKey } from '../../helpers/cli-keys.js';
import { startServer, type ServerHandle } from '../../helpers/server-process.js';
import { createTempDir } from '../../helpers/temp-dir.js';
import { codeOf, send, signed, writeConfig } from '../data-plane/helpers.js';

const FIRST_BAN_S = 120;
const configDir = createTempDir('portcullis-rl-bans-');
let server: ServerHandle;
let sandboxUrl: string;
let trader: CliKey;

interface CliBan {
  readonly environment: string;
  readonly prefix: string;
  readonly until: string;
  readonly offences: number;
}

interface AuditEntry {
  readonly actor: string;
  readonly action: string;
  readonly target: string;
}

beforeAll(async () => {
  const config = writeConfig(configDir.path, {
    environments: {
      sandbox: {
        limits: {
          // Two account reads (weight 20) a minute per key.
          perKey: [{ window: '1m', limit: 40 }],
          // Three 429s within a minute make an offence.
          bans: { refusalThreshold: 3, refusalWindow: '1m', firstBan: `${FIRST_BAN_S}s` },
        },
      },
    },
  });
  server = await startServer({ args: ['--config', config] });
  try {
    sandboxUrl = (server.info.dataPlanes.sandbox as { url: string }).url;
    const accountId = await cliCreateAccount(server.dataDir, 'bans');
    trader = await cliCreateKey(server.dataDir, { accountId });
  } catch (error) {
    await server.cleanup();
    throw error;
  }
}, 90_000);

afterAll(async () => {
  await server?.cleanup();
  configDir.remove();
});

/** Sends account reads until one is answered 418; returns the codes seen. */
async function offend(): Promise<(string | undefined)[]> {
  const codes: (string | undefined)[] = [];
  for (let i = 0; i < 20; i++) {
    const answer = await send(signed(sandboxUrl, 'GET', '/api/v1/account', undefined, trader));
    codes.push(answer.status === 418 ? codeOf(answer) : String(answer.status));
    if (answer.status === 418) return codes;
  }
  throw new Error(`no ban after 20 requests: ${codes.join(' ')}`);
}

async function activeBan(): Promise<CliBan> {
  const bans = await cliJson<CliBan[]>(['bans', 'list'], server.dataDir);
  expect(bans.map((b) => [b.environment, b.prefix])).toEqual([['sandbox', '127.0.0.1']]);
  return bans[0] as CliBan;
}

/** Seconds from now to the ban's end, rounded to the nearest 10 s (CLI round trips take ~1 s). */
const banSeconds = (ban: CliBan) => Math.round((Date.parse(ban.until) - Date.now()) / 10_000) * 10;

describe.sequential('bans through the CLI', () => {
  it('a client that keeps going after 429s is banned: 418 IP_BANNED, listed for the first length', async () => {
    const codes = await offend();
    expect(codes.slice(0, 2)).toEqual(['200', '200']);
    expect(codes.at(-1)).toBe('IP_BANNED');
    const ban = await activeBan();
    expect({ offences: ban.offences, seconds: banSeconds(ban) }).toEqual({
      offences: 1,
      seconds: FIRST_BAN_S,
    });
  });

  it('a banned prefix is refused before verification, whatever the request', async () => {
    const answer = await send(signed(sandboxUrl, 'GET', '/api/v1/balances', undefined, trader));
    expect({ status: answer.status, code: codeOf(answer) }).toEqual({
      status: 418,
      code: 'IP_BANNED',
    });
  });

  it('bans lift ends the ban; the next offence is banned twice as long', async () => {
    const lifted = await cliJson<{ prefix: string; lifted: string[] }>(
      ['bans', 'lift', '127.0.0.1'],
      server.dataDir,
    );
    expect(lifted).toEqual({ prefix: '127.0.0.1', lifted: ['sandbox'] });
    expect(await cliJson<CliBan[]>(['bans', 'list'], server.dataDir)).toEqual([]);
    // The key's window is still spent: every request is a 429 until the second offence.
    const codes = await offend();
    expect(codes.at(-1)).toBe('IP_BANNED');
    const ban = await activeBan();
    expect({ offences: ban.offences, seconds: banSeconds(ban) }).toEqual({
      offences: 2,
      seconds: FIRST_BAN_S * 2,
    });
  });

  it('bans lift --forgive resets the escalation: the next ban is the first length again', async () => {
    await cliJson(['bans', 'lift', '127.0.0.1', '--forgive'], server.dataDir);
    await offend();
    const ban = await activeBan();
    expect({ offences: ban.offences, seconds: banSeconds(ban) }).toEqual({
      offences: 1,
      seconds: FIRST_BAN_S,
    });
  });

  it('audit list shows each ban (actor system) and each lift', async () => {
    const entries = await cliJson<AuditEntry[]>(
      ['audit', 'list', '--limit', '1000'],
      server.dataDir,
    );
    const bans = entries
      .filter((e) => e.action.startsWith('ban.'))
      .map((e) => [e.action, e.target, e.actor === 'system' ? 'system' : 'admin']);
    expect(bans).toEqual([
      ['ban.create', '127.0.0.1', 'system'],
      ['ban.lift', '127.0.0.1', 'admin'],
      ['ban.create', '127.0.0.1', 'system'],
      ['ban.lift', '127.0.0.1', 'admin'],
      ['ban.create', '127.0.0.1', 'system'],
    ]);
  });

  it('lifting a prefix that is not banned reports nothing lifted and audits nothing', async () => {
    const result = await cliJson<{ lifted: string[] }>(
      ['bans', 'lift', '198.51.100.7'],
      server.dataDir,
    );
    expect(result.lifted).toEqual([]);
    const entries = await cliJson<AuditEntry[]>(
      ['audit', 'list', '--limit', '1000'],
      server.dataDir,
    );
    expect(entries.filter((e) => e.target === '198.51.100.7')).toEqual([]);
  });
});
