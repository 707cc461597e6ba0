/**
 * `portcullis accounts list` against a real runtime (in process, real sockets): it follows the
 * admin API's pages, so a venue with more accounts than one page holds sees every one of them,
 * once and oldest first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliRun as Run } from '../helpers/cli-in-process.js';
import { CTX, startGateway, type Gateway } from '../server/observability/gateway.js';

let g: Gateway;
beforeAll(async () => {
  g = await startGateway();
}, 60_000);
afterAll(async () => {
  await g?.close();
});

const cli = (...args: string[]): Promise<Run> => runCli(g, ...args);

describe('portcullis accounts list', () => {
  it('lists every account across pages of 1,000, oldest first, each once', async () => {
    const created: string[] = [];
    for (let i = 0; i < 1_001; i++) {
      created.push((await g.runtime.keys.createAccount(`desk-${i}`, CTX)).id);
      g.clock.advance(1);
    }
    const run = await cli('accounts', 'list', '--json');
    expect(run.code).toBe(0);
    const listed = (JSON.parse(run.stdout) as { id: string }[]).map((a) => a.id);
    expect(listed.slice(-created.length)).toEqual(created);
    expect(new Set(listed).size).toBe(listed.length);
  }, 60_000);
});
