/**
 * `npm run bench -- --cluster [--scale-keys N] [--json]` (issue 7), every figure from one run:
 *  - throughput of one node on SQLite (in-memory limits and replay guard) against one node on
 *    PostgreSQL + Redis (rate limits, replay guard and change events in Redis), same load, same
 *    number of keys, hot keys served from each node's cache: `cluster_to_single` (target ≥ 0.7);
 *  - revocation propagation across three nodes on that PostgreSQL store and Redis: a key revoked
 *    through node A while two client loops each hammer B and C (bench/revocation.ts, as in
 *    test/e2e/cluster/three-nodes.test.ts); ms from the revoke call to the first KEY_REVOKED
 *    answered by B and by C: `revocation_p50_ms`, `revocation_p99_ms`;
 *  - scale (bench/cluster-scale.ts): a node on a store of N keys (default 1,000,000).
 * The PostgreSQL schemas are the bench's own (`pc_bench_…`), dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import type { BenchKey } from './fixtures.js';
import { benchScale, type ScaleFigures } from './cluster-scale.js';
import {
  adminTokenOf,
  limitsConfig,
  runLoad,
  startGateway,
  type Gateway,
  type LoadResult,
} from './processes.js';
import {
  percentile,
  revocationTimes,
  revokeUnderLoad,
  type RevocationTimes,
} from './revocation.js';
import { seedDataDir } from './seed-data-dir.js';
import { seedPostgres, type SeededPostgres } from './seed-postgres.js';
import { signedRead } from './signed-read.js';

export interface ClusterFigures extends ScaleFigures {
  readonly sqlite_rps: number;
  readonly cluster_rps: number;
  readonly cluster_to_single: number;
  readonly cluster_failed_requests: number;
  readonly revocation_samples: number;
  readonly revocation_p50_ms: number;
  readonly revocation_p99_ms: number;
  readonly revocation_max_ms: number;
  readonly revocation_after_ack_p50_ms: number;
  readonly revocation_after_ack_p99_ms: number;
  readonly revocation_usable_after_ack_max_ms: number;
}

const THROUGHPUT_KEYS = 100;
const TRIALS = 20;
const LOAD = { path: '/api/v1/balances', connections: 32, durationMs: 5_000, warmupMs: 1_000 };

const best = (runs: LoadResult[]): LoadResult => runs.reduce((a, b) => (b.rps > a.rps ? b : a));

export async function benchCluster(
  log: (line: string) => void,
  options: { scaleKeys: number },
): Promise<ClusterFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-cluster-'));
  const gateways: Gateway[] = [];
  let small: SeededPostgres | undefined;
  try {
    small = await seedPostgres({ hot: 10_000 + TRIALS, filler: 0 });
    // One configuration file per cluster: one store, one Redis, one prefix of this run's.
    const clusterConfig = (name: string, store: string) =>
      limitsConfig(dir, name, true, {
        store,
        cluster: { keyPrefix: `pc:bench:cluster:${randomBytes(6).toString('hex')}:` },
      });
    const config = clusterConfig('cluster', small.storeUrl);
    const env = { PORTCULLIS_MASTER_KEY: small.masterKey };
    const startNode = async (name: string) => {
      const node = await startGateway(join(dir, name), env, ['--config', config]);
      gateways.push(node);
      return node;
    };
    const nodeA = await startNode('a');
    const throughput = await throughputFigures(log, dir, nodeA, small);
    const nodes = await Promise.all(['b', 'c'].map(startNode));
    const revocation = await revocationFigures(log, nodeA, nodes, small, join(dir, 'a'));
    await Promise.all([nodeA, ...nodes].map((node) => node.stop()));
    const scale = await benchScale(log, {
      dir,
      keys: options.scaleKeys,
      small,
      start: (name, seeded) =>
        startGateway(join(dir, name), { PORTCULLIS_MASTER_KEY: seeded.masterKey }, [
          '--config',
          clusterConfig(name, seeded.storeUrl),
        ]),
    });
    return { ...throughput, ...revocation, ...scale };
  } finally {
    await Promise.all(gateways.map((gateway) => gateway.stop()));
    await small?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One node on SQLite against node A, the same load, alternated; the best of three each. */
async function throughputFigures(
  log: (line: string) => void,
  dir: string,
  nodeA: Gateway,
  small: SeededPostgres,
) {
  const sqlite = await seedDataDir(join(dir, 'sqlite'), 1_000);
  const keysFile = (name: string, keys: readonly BenchKey[]) => {
    const file = join(dir, `${name}-keys.json`);
    writeFileSync(file, JSON.stringify(keys.slice(0, THROUGHPUT_KEYS)));
    return file;
  };
  const files = {
    single: keysFile('sqlite', sqlite.keys),
    cluster: keysFile('cluster', small.keys),
  };
  const single = await startGateway(
    join(dir, 'sqlite'),
    { PORTCULLIS_MASTER_KEY: sqlite.masterKey },
    ['--config', limitsConfig(dir, 'single', false)],
  );
  const runs = { single: [] as LoadResult[], cluster: [] as LoadResult[] };
  try {
    // Alternated so that drift in the machine's load affects both alike.
    for (let i = 0; i < 3; i++) {
      runs.single.push(await runLoad({ ...LOAD, url: single.sandboxUrl, keysFile: files.single }));
      runs.cluster.push(await runLoad({ ...LOAD, url: nodeA.sandboxUrl, keysFile: files.cluster }));
    }
  } finally {
    await single.stop();
  }
  const one = best(runs.single);
  const cluster = best(runs.cluster);
  log(`  one node, SQLite (signed GET, forwarded)      ${one.rps.toFixed(0)} req/s`);
  log(
    `  one node, PostgreSQL + Redis                  ${cluster.rps.toFixed(0)} req/s   (${(cluster.rps / one.rps).toFixed(2)} × SQLite; p99 ${cluster.p99_ms.toFixed(1)} ms; failed ${cluster.failed})`,
  );
  return {
    sqlite_rps: Math.round(one.rps),
    cluster_rps: Math.round(cluster.rps),
    cluster_to_single: Number((cluster.rps / one.rps).toFixed(3)),
    cluster_failed_requests: cluster.failed,
  };
}

/** Revocation through A while B and C are hammered: `TRIALS` keys, two samples each. */
async function revocationFigures(
  log: (line: string) => void,
  nodeA: Gateway,
  hammered: readonly Gateway[],
  small: SeededPostgres,
  dataDirA: string,
) {
  const trials = await revocations(nodeA, hammered, small.keys.slice(10_000), dataDirA);
  const fromCall = trials.flatMap((t) => t.fromCallMs);
  const afterAck = trials.flatMap((t) => t.afterAckMs);
  const round = (n: number) => Number(n.toFixed(1));
  const figures = {
    revocation_samples: fromCall.length,
    revocation_p50_ms: round(percentile(fromCall, 50)),
    revocation_p99_ms: round(percentile(fromCall, 99)),
    revocation_max_ms: round(Math.max(...fromCall)),
    revocation_after_ack_p50_ms: round(percentile(afterAck, 50)),
    revocation_after_ack_p99_ms: round(percentile(afterAck, 99)),
    revocation_usable_after_ack_max_ms: round(
      Math.max(...trials.flatMap((t) => t.usableAfterAckMs)),
    ),
  };
  log(
    `  revocation through A, refused by B and C      p50 ${figures.revocation_p50_ms} ms, p99 ${figures.revocation_p99_ms} ms from the revoke call (${fromCall.length} samples; after the acknowledgement p50 ${figures.revocation_after_ack_p50_ms} ms, p99 ${figures.revocation_after_ack_p99_ms} ms)`,
  );
  return figures;
}

/** `TRIALS` revocations through A's admin API while B and C are hammered, one key each. */
async function revocations(
  nodeA: Gateway,
  hammered: readonly Gateway[],
  keys: readonly BenchKey[],
  dataDirA: string,
): Promise<RevocationTimes[]> {
  const token = adminTokenOf(dataDirA);
  const results: RevocationTimes[] = [];
  for (const key of keys.slice(0, TRIALS)) {
    const run = await revokeUnderLoad({
      targets: hammered.map((node) => () => signedRead(node.sandboxUrl, key)),
      revoke: async () => {
        const response = await request(`${nodeA.adminUrl}/v1/keys/${key.id}/revoke`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}` },
        });
        await response.body.dump();
        return response.statusCode;
      },
    });
    results.push(revocationTimes(run));
  }
  return results;
}
