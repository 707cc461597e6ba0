/**
 * The scale part of `npm run bench -- --cluster` (issue 7): a node on a PostgreSQL store of N
 * keys (default 1,000,000) keeps only the keys in use in its bounded key cache
 * (`dataPlane.keyCacheSize`). Reported against a node on a small store (10k keys), same run:
 *  - the node's peak RSS under load with 10k keys in use (target < 500 MB);
 *  - throughput for cached keys, N-key store against the small store;
 *  - the latency a request for a key not in the cache adds: the same key's first request (a
 *    miss: two indexed queries and the secret's unsealing) against its second (a hit), in pairs,
 *    one request at a time (target < 5 ms);
 *  - pipeline_ns_per_op for cached keys, in process, over a key cache loaded from each store.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import { request } from 'undici';
import { createPostgresControlStore } from '../src/adapters/postgres/postgres-control-store.js';
import { createLocalEvents } from '../src/app/local-events.js';
import { createKeyring, masterKeyFromBytes } from '../src/services/envelope.js';
import { createKeyCache } from '../src/services/key-cache.js';
import { createKeyService } from '../src/services/key-service.js';
import { nativeOrderRequest, pipelineDeps, type BenchKey } from './fixtures.js';
import { pipelineNsPerOp, warm } from './micro.js';
import { adminTokenOf, rssMb, runLoad, type Gateway } from './processes.js';
import { percentile } from './revocation.js';
import { seedPostgres, type SeededPostgres } from './seed-postgres.js';
import { signedRead } from './signed-read.js';

export interface ScaleFigures {
  readonly scale_keys: number;
  readonly scale_seed_s: number;
  readonly scale_keys_in_use: number;
  readonly scale_key_cache_entries: number;
  readonly scale_rss_mb: number;
  readonly small_store_rss_mb: number;
  readonly scale_rps: number;
  readonly small_store_rps: number;
  readonly scale_to_small_store: number;
  readonly cache_miss_added_p50_ms: number;
  readonly cache_miss_added_p99_ms: number;
  readonly cache_miss_samples: number;
  readonly pipeline_ns_per_op_small_store: number;
  readonly pipeline_ns_per_op_scale: number;
  readonly scale_pipeline_to_small_store: number;
}

const IN_USE = 10_000;
const MISSES = 200;
const PIPELINE_KEYS = 1_000;
const LOAD = { path: '/api/v1/balances', connections: 32, durationMs: 4_000, warmupMs: 500 };

/** Fail-closed answers of a loaded machine (a Redis reply past its deadline); never allowed. */
const UNAVAILABLE = new Set(['REPLAY_CHECK_UNAVAILABLE', 'RATE_LIMIT_UNAVAILABLE']);

/** Smallest store `--scale-keys` accepts: the keys in use and the cold ones must fit. */
export const MIN_SCALE_KEYS = IN_USE + MISSES + 1;

interface ScaleContext {
  readonly dir: string;
  readonly keys: number;
  /** The small store, with at least IN_USE keys seeded. */
  readonly small: SeededPostgres;
  readonly start: (name: string, seeded: SeededPostgres) => Promise<Gateway>;
}

export async function benchScale(
  log: (line: string) => void,
  ctx: ScaleContext,
): Promise<ScaleFigures> {
  const seedStarted = performance.now();
  const big = await seedPostgres({ hot: IN_USE + MISSES, filler: ctx.keys - IN_USE - MISSES - 1 });
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  log(`  seeded ${big.total} keys in PostgreSQL          ${seedSeconds.toFixed(1)} s`);
  const nodes: Gateway[] = [];
  try {
    // Two fresh nodes, one on each store, started alike.
    const start = async (name: string, seeded: SeededPostgres) => {
      const node = await ctx.start(name, seeded);
      nodes.push(node);
      return node;
    };
    const smallNode = await start('small', ctx.small);
    const scaleNode = await start('scale', big);
    const loads = await cachedThroughput(ctx.dir, {
      small: { node: smallNode, keys: ctx.small.keys.slice(0, IN_USE) },
      scale: { node: scaleNode, keys: big.keys.slice(0, IN_USE) },
    });
    const entries = await keyCacheEntries(scaleNode.adminUrl, adminTokenOf(join(ctx.dir, 'scale')));
    const added = await missAddedMs(scaleNode.sandboxUrl, big.keys.slice(IN_USE, IN_USE + MISSES));
    const pipeline = await cachedPipelines(ctx.small, big);
    const figures: ScaleFigures = {
      scale_keys: big.total,
      scale_seed_s: Number(seedSeconds.toFixed(1)),
      scale_keys_in_use: IN_USE,
      scale_key_cache_entries: entries,
      scale_rss_mb: Number(loads.peakRssMb.scale.toFixed(1)),
      small_store_rss_mb: Number(loads.peakRssMb.small.toFixed(1)),
      scale_rps: Math.round(loads.scale),
      small_store_rps: Math.round(loads.small),
      scale_to_small_store: Number((loads.scale / loads.small).toFixed(3)),
      cache_miss_added_p50_ms: Number(percentile(added, 50).toFixed(2)),
      cache_miss_added_p99_ms: Number(percentile(added, 99).toFixed(2)),
      cache_miss_samples: added.length,
      pipeline_ns_per_op_small_store: Math.round(pipeline.small),
      pipeline_ns_per_op_scale: Math.round(pipeline.scale),
      scale_pipeline_to_small_store: Number((pipeline.scale / pipeline.small).toFixed(3)),
    };
    log(
      `  node on ${big.total} keys, ${IN_USE} in use         RSS ${figures.scale_rss_mb} MB (${figures.small_store_rss_mb} MB on the small store), ${entries} keys cached; ${figures.scale_rps} req/s (${figures.scale_to_small_store} × a 10k-key store)`,
    );
    log(
      `  a key not in the cache adds                   p50 ${figures.cache_miss_added_p50_ms} ms, p99 ${figures.cache_miss_added_p99_ms} ms (${added.length} cold keys)`,
    );
    log(
      `  pipeline, cached keys, ${big.total} stored    ${figures.pipeline_ns_per_op_scale} ns/op   (${figures.scale_pipeline_to_small_store} × ${figures.pipeline_ns_per_op_small_store} ns/op on the small store)`,
    );
    return figures;
  } finally {
    await Promise.all(nodes.map((node) => node.stop()));
    await big.drop();
  }
}

/**
 * Both nodes with the same number of keys in use, each loaded once first so that the loads
 * measure cached keys only; alternated three times, the best of each. Samples the scale node's
 * RSS meanwhile.
 */
async function cachedThroughput(
  dir: string,
  nodes: Record<'small' | 'scale', { node: Gateway; keys: readonly BenchKey[] }>,
): Promise<{ small: number; scale: number; peakRssMb: { small: number; scale: number } }> {
  const { small, scale } = nodes;
  const keysFile = (name: string, keys: readonly BenchKey[]) => {
    const file = join(dir, `${name}-hot.json`);
    writeFileSync(file, JSON.stringify(keys));
    return file;
  };
  const files = { small: keysFile('small', small.keys), scale: keysFile('scale', scale.keys) };
  await Promise.all([
    warmNode(small.node.sandboxUrl, small.keys),
    warmNode(scale.node.sandboxUrl, scale.keys),
  ]);
  const peakRssMb = { small: 0, scale: 0 };
  const sample = () => {
    peakRssMb.small = Math.max(peakRssMb.small, rssMb(small.node.pid));
    peakRssMb.scale = Math.max(peakRssMb.scale, rssMb(scale.node.pid));
  };
  sample();
  const sampler = setInterval(sample, 250);
  const runs = { small: [] as number[], scale: [] as number[] };
  try {
    for (let i = 0; i < 3; i++) {
      const load = (node: Gateway, keysFile: string) =>
        runLoad({ ...LOAD, url: node.sandboxUrl, keysFile }).then((r) => r.rps);
      runs.small.push(await load(small.node, files.small));
      runs.scale.push(await load(scale.node, files.scale));
    }
  } finally {
    clearInterval(sampler);
  }
  sample();
  return { small: Math.max(...runs.small), scale: Math.max(...runs.scale), peakRssMb };
}

/** Requests every key once (32 at a time) and checks each was allowed. */
async function warmNode(url: string, keys: readonly BenchKey[]): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const key = keys[next++] as BenchKey;
      // The key is loaded before the replay check, so a fail-closed 503 still warmed it.
      const answer = await signedRead(url, key);
      if (answer.status !== 200 && !UNAVAILABLE.has(answer.code ?? ''))
        throw new Error(`warming ${key.id}: ${answer.status} ${answer.code}`);
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
}

/**
 * Per cold key: ms of its first request (a cache miss) minus ms of its second (a hit). A pair
 * with a fail-closed 503 (Redis answered the replay check too late) is left out.
 */
async function missAddedMs(url: string, keys: readonly BenchKey[]): Promise<number[]> {
  const timed = async (key: BenchKey) => {
    const started = performance.now();
    const answer = await signedRead(url, key);
    if (answer.status !== 200 && !UNAVAILABLE.has(answer.code ?? ''))
      throw new Error(`${key.id}: ${answer.status} ${answer.code}`);
    return { ms: performance.now() - started, ok: answer.status === 200 };
  };
  const added: number[] = [];
  for (const key of keys) {
    const miss = await timed(key);
    const hit = await timed(key);
    if (miss.ok && hit.ok) added.push(miss.ms - hit.ms);
  }
  if (added.length === 0) throw new Error('no cache-miss sample was answered 200');
  return added;
}

/** `portcullis_key_cache_entries` of the sandbox plane, from the node's /metrics. */
async function keyCacheEntries(adminUrl: string, token: string): Promise<number> {
  const response = await request(`${adminUrl}/metrics`, {
    headers: { authorization: `Bearer ${token}` },
  });
  const text = await response.body.text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('portcullis_key_cache_entries{') && l.includes('"sandbox"'));
  return Number(line?.split(' ').at(-1) ?? NaN);
}

/** pipeline_ns_per_op over a key cache loaded from `seeded` (PIPELINE_KEYS keys in use). */
async function cachedPipelineNsPerOp(seeded: SeededPostgres): Promise<number> {
  let now = Date.now();
  const clock = { now: () => now };
  const store = await createPostgresControlStore({ url: seeded.storeUrl, clock });
  try {
    const keyring = createKeyring(masterKeyFromBytes(Buffer.from(seeded.masterKey, 'base64')));
    const events = createLocalEvents();
    const keys = createKeyService({ store, clock, events, keyring: () => keyring });
    const cache = createKeyCache({ keys, events }, { maxEntries: 100_000 });
    const hot = seeded.keys.slice(0, PIPELINE_KEYS);
    await warm(cache, hot);
    now = Date.now();
    return pipelineNsPerOp(pipelineDeps(cache, clock), (round) =>
      Array.from({ length: 4_000 }, (_, i) =>
        nativeOrderRequest(hot[i % hot.length] as BenchKey, now, round * 4_000 + i),
      ),
    );
  } finally {
    await store.close();
  }
}

/** Both stores, four times each, taking turns at going first (the heap grows as it runs). */
async function cachedPipelines(
  small: SeededPostgres,
  scale: SeededPostgres,
): Promise<{ small: number; scale: number }> {
  const runs = { small: [] as number[], scale: [] as number[] };
  for (let i = 0; i < 4; i++) {
    const order = i % 2 === 0 ? (['small', 'scale'] as const) : (['scale', 'small'] as const);
    for (const which of order) {
      runs[which].push(await cachedPipelineNsPerOp(which === 'small' ? small : scale));
    }
  }
  return { small: Math.min(...runs.small), scale: Math.min(...runs.scale) };
}
