/**
 * Two real gateway processes sharing one Redis (127.0.0.1:6379) and one SQLite database (WAL
 * allows several processes), each with its own data dir for runtime.json and its admin token,
 * and one master key. A client spraying both nodes alternately gets its per-key limit once
 * across the cluster (within 2 %), not once per node (issue 5, "Two gateway processes on one
 * Redis"). A fresh key prefix per run keeps runs and other tests apart.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cliCreateAccount, cliCreateKey, type CliKey } from '../../helpers/cli-keys.js';
import { startServer, type ServerHandle } from '../../helpers/server-process.js';
import { createTempDir } from '../../helpers/temp-dir.js';
import { codeOf, send, signed, writeConfig, type Answer } from '../data-plane/helpers.js';

const LIMIT = 200;
const BURST = 320;
const roomy = [{ window: '1m', limit: 100_000 }];
const shared = createTempDir('portcullis-rl-cluster-');
const nodes: ServerHandle[] = [];
let urls: string[] = [];
let trader: CliKey;

beforeAll(async () => {
  const config = writeConfig(shared.path, {
    store: `sqlite:${join(shared.path, 'shared.db')}`,
    redis: 'redis://127.0.0.1:6379',
    rateLimits: {
      backend: 'redis',
      onRedisDown: 'fail-closed',
      keyPrefix: `pc:e2e:${randomBytes(6).toString('hex')}:`,
    },
    environments: {
      sandbox: {
        limits: {
          perKey: [{ window: '1m', limit: LIMIT }],
          perAccount: roomy,
          perIp: roomy,
          orders: [{ window: '10s', limit: 100_000 }],
          // Refusals here are expected; a ban would only refuse more, but keep the count clean.
          bans: { refusalThreshold: 1_000_000 },
        },
      },
    },
  });
  const env = { PORTCULLIS_MASTER_KEY: randomBytes(32).toString('base64') };
  // One after the other: the first creates the schema and the bootstrap owner token; the second
  // finds a token in the shared database and writes none, so it gets a copy of the first's.
  const first = await startServer({ env, args: ['--config', config] });
  nodes.push(first);
  const secondDir = join(shared.path, 'node-b');
  mkdirSync(secondDir, { mode: 0o700 });
  copyFileSync(join(first.dataDir, 'admin-token'), join(secondDir, 'admin-token'));
  nodes.push(await startServer({ env, dataDir: secondDir, args: ['--config', config] }));
  urls = nodes.map((node) => (node.info.dataPlanes.sandbox as { url: string }).url);
  const accountId = await cliCreateAccount(nodes[0]?.dataDir ?? '', 'cluster');
  trader = await cliCreateKey(nodes[0]?.dataDir ?? '', { accountId });
}, 90_000);

afterAll(async () => {
  await Promise.all(nodes.map((node) => node.cleanup()));
  shared.remove();
});

it('a key spraying two nodes on one Redis gets its limit once, not once per node', async () => {
  // Weight 1 (order.cancel), so the count of admitted requests is the weight admitted.
  const fire = (i: number) =>
    send(signed(urls[i % 2] ?? '', 'DELETE', `/api/v1/orders/ord_${i}`, undefined, trader));
  const answers: Answer[] = [];
  for (let i = 0; i < BURST; i += 8) {
    answers.push(...(await Promise.all(Array.from({ length: 8 }, (_, k) => fire(i + k)))));
  }
  // Every answer is the engine's or a limit refusal: both nodes know the key (shared database).
  expect(answers.filter((a) => a.status === 401 || a.status >= 500)).toEqual([]);
  const refused = answers.filter((a) => a.status === 429);
  expect(new Set(refused.map(codeOf))).toEqual(new Set(['RATE_LIMITED']));
  const admitted = answers.length - refused.length;
  expect(Math.abs(admitted - LIMIT)).toBeLessThanOrEqual(LIMIT * 0.02);
  // Both nodes admitted part of it: the limit is shared, not pinned to one node.
  const perNode = [0, 1].map((n) => answers.filter((a, i) => i % 2 === n && a.status !== 429));
  expect(perNode.every((list) => list.length > 0)).toBe(true);
}, 60_000);
