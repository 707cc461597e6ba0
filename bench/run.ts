/**
 * `npm run bench [-- --json]`: every figure is a ratio against a baseline measured in the same
 * run, because this machine is shared and noisy and absolute times drift. `-- --ws` runs only
 * the WebSocket gateway benchmark (bench/ws.ts); `-- --policies` only the policy figures.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock } from '../src/core/clock.js';
import {
  binanceOrderRequest,
  nativeOrderRequest,
  openSeededKeys,
  pipelineDeps,
  seedKeys,
  type BenchKey,
} from './fixtures.js';
import { createFloorVerifier, floorNsPerOp } from './floor.js';
import { memoryLimits, redisLimits } from './limiter.js';
import {
  hmacNsPerOp,
  PAIRED_ROUNDS,
  pairedFigures,
  pipelineAsyncNsPerOp,
  pipelineNsPerOp,
  warm,
} from './micro.js';
import { observedPipelineNsPerOp, observedThroughput } from './observability.js';
import { loadInRounds, meanLoad, median, range, roundRatios } from './rounds.js';
import { policiesFigures } from './policies.js';
import {
  limitsConfig,
  rssMb,
  runLoad,
  startBareProxy,
  startGateway,
  type LoadResult,
} from './processes.js';
import { seedDataDir } from './seed-data-dir.js';
import { benchCluster } from './cluster.js';
import { MIN_SCALE_KEYS } from './cluster-scale.js';
import { benchIntegrations } from './integrations.js';
import { benchWebSocket } from './ws.js';

const json = process.argv.includes('--json');
const log = (line: string) => process.stdout.write(`${line}\n`);
const round = (n: number, digits = 3) => Number(n.toFixed(digits));

/** Keys in a store, with a cache over them: seeded in memory, or opened from a data directory. */
type KeySource = (clock: Clock) => Promise<{
  store: { close(): Promise<void> };
  cache: Parameters<typeof pipelineDeps>[0];
  created: readonly BenchKey[];
}>;

const inMemory =
  (count: number): KeySource =>
  (clock) =>
    seedKeys(count, clock);

/** A seeded key cache with `inUse` keys warm, the pipeline over it, and fresh request batches. */
async function microSetup(source: KeySource, inUse: number) {
  let now = Date.now();
  const clock = { now: () => now };
  const seeded = await source(clock);
  const hot = seeded.created.slice(0, inUse);
  await warm(seeded.cache, hot);
  now = Date.now();
  const deps = pipelineDeps(seeded.cache, clock);
  const batch = (make: typeof nativeOrderRequest) => (round: number) =>
    Array.from({ length: 4_000 }, (_, i) => make(hot[i % hot.length]!, now, round * 4_000 + i));
  return { seeded, hot, now, deps, batch };
}

/** Pairs of baseline and limited runs for limiter_memory_overhead (ABBA order). */
const LIMITER_PAIRS = 4;

/**
 * The pipeline alone over a large store (`inUse` keys warm), for keys_100k_to_1k: the best of as
 * many rounds as the small store's figure takes (the best of more rounds is lower): one run
 * alone, then one of PAIRED_ROUNDS for each limiter pair.
 */
async function microPipelineOnly(source: KeySource, inUse: number): Promise<number> {
  const { seeded, deps, batch } = await microSetup(source, inUse);
  const runs = [pipelineNsPerOp(deps, batch(nativeOrderRequest))];
  for (let i = 0; i < LIMITER_PAIRS; i++) {
    runs.push(pipelineNsPerOp(deps, batch(nativeOrderRequest), PAIRED_ROUNDS));
  }
  await seeded.store.close();
  return Math.min(...runs);
}

async function micro(count: number, inUse: number) {
  const { seeded, hot, now, deps, batch } = await microSetup(inMemory(count), inUse);
  const pipeline = pipelineNsPerOp(deps, batch(nativeOrderRequest));
  // The least a native order needs (bench/floor.ts), on batches like the pipeline's.
  const floor = floorNsPerOp(createFloorVerifier(hot, deps.window), batch(nativeOrderRequest));
  const pipelineBinance = pipelineNsPerOp(deps, batch(binanceOrderRequest));
  const hmac = hmacNsPerOp(hot[0]!, nativeOrderRequest(hot[0]!, now, 0), 1000);
  const hmacBuffer = hmacNsPerOp(hot[0]!, nativeOrderRequest(hot[0]!, now, 0), 500, true);
  // Same requests with the limiter: key, account, IP and order windows, one atomic take each.
  // Baseline and limited runs in ABBA pairs (drift and warm-up fall on both alike, as many
  // samples on each side); the figure is by wall time, as pipeline_ns_per_op, with CPU beside.
  const limiter = pairedFigures(
    deps,
    { ...deps, limits: memoryLimits() },
    batch(nativeOrderRequest),
    LIMITER_PAIRS,
  );
  // Twenty policies across actions (five apply to the order), alternated with the baseline.
  const policies = policiesFigures(deps, batch(nativeOrderRequest));
  const redis = await redisLimits();
  let pipelineRedis = NaN;
  let pipelineAsyncBase = NaN;
  try {
    pipelineAsyncBase = await pipelineAsyncNsPerOp(deps, batch(nativeOrderRequest));
    pipelineRedis = await pipelineAsyncNsPerOp(
      { ...deps, limits: redis.limits },
      batch(nativeOrderRequest),
    );
  } finally {
    redis.close();
  }
  // Detection + traffic log: recording on the request path plus the deferred work it causes.
  const observed = await observedPipelineNsPerOp(deps, batch(nativeOrderRequest));
  await seeded.store.close();
  return {
    observed,
    hmac,
    hmacBuffer,
    pipeline: Math.min(pipeline, limiter.wall.base),
    floor,
    pipelineBinance,
    limiter,
    policies,
    pipelineRedis,
    pipelineAsyncBase,
  };
}

/**
 * The bare proxy, the gateway on in-memory limits and the gateway on Redis limits run side by
 * side and take the same load in turn, in rounds whose order alternates (bare, memory, Redis, then
 * Redis, memory, bare …): this machine's speed drifts by tens of percent within a minute, so each
 * ratio is taken within a round, from loads seconds apart, and the figure is the median of the
 * rounds' ratios. (Before, each side's loads were averaged and then divided: one slow phase
 * during one side's loads moved the figure by 0.3.)
 */
async function macroThroughput(): Promise<{
  gateway: LoadResult;
  bare: LoadResult;
  redis: LoadResult;
  gatewayToBare: number[];
  redisToMemory: number[];
  observed: { on: number; off: number; failed: number; rounds: number[] };
}> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
  try {
    const seeded = await seedDataDir(join(dir, 'data'), 1_000);
    // The Redis gateway gets a copy: two processes do not share one data directory.
    cpSync(join(dir, 'data'), join(dir, 'data-redis'), { recursive: true });
    const keysFile = join(dir, 'keys.json');
    writeFileSync(keysFile, JSON.stringify(seeded.keys.slice(0, 100)));
    const env = { PORTCULLIS_MASTER_KEY: seeded.masterKey };
    const servers = {
      bare: await startBareProxy(),
      gateway: await startGateway(join(dir, 'data'), env, [
        '--config',
        limitsConfig(dir, 'memory', false),
      ]),
      redis: await startGateway(join(dir, 'data-redis'), env, [
        '--config',
        limitsConfig(dir, 'redis', true),
      ]),
    };
    let results;
    try {
      results = await loadInRounds(
        {
          bare: servers.bare.url,
          gateway: servers.gateway.sandboxUrl,
          redis: servers.redis.sandboxUrl,
        },
        keysFile,
      );
    } finally {
      await Promise.all([servers.gateway.stop(), servers.redis.stop(), servers.bare.stop()]);
    }
    // Traffic log and detection on against off, same data and load.
    const observed = await observedThroughput(join(dir, 'data'), env, keysFile);
    return {
      gateway: meanLoad(results.gateway),
      bare: meanLoad(results.bare),
      redis: meanLoad(results.redis),
      gatewayToBare: roundRatios(results.gateway, results.bare),
      redisToMemory: roundRatios(results.redis, results.gateway),
      observed,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The gateway's resident memory under load over a data directory seeded by seedDataDir. */
async function macroMemory(
  dir: string,
  seeded: Awaited<ReturnType<typeof seedDataDir>>,
): Promise<{ rss: number; load: LoadResult }> {
  const keysFile = join(dir, 'keys.json');
  writeFileSync(keysFile, JSON.stringify(seeded.keys.slice(0, 10_000)));
  const gateway = await startGateway(
    join(dir, 'data'),
    { PORTCULLIS_MASTER_KEY: seeded.masterKey },
    ['--config', limitsConfig(dir, 'memory', false)],
  );
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssMb(gateway.pid));
  }, 250);
  try {
    const load = await runLoad({
      url: gateway.sandboxUrl,
      path: '/api/v1/balances',
      connections: 32,
      durationMs: 6_000,
      warmupMs: 1_000,
      keysFile,
    });
    peak = Math.max(peak, rssMb(gateway.pid));
    return { rss: peak, load };
  } finally {
    clearInterval(sampler);
    await gateway.stop();
  }
}

const started = Date.now();
log('Portcullis benchmark — ratios against baselines measured in this run');
if (process.argv.includes('--integrations')) {
  // `-- --integrations`: only nginx + check against nginx alone and the proxy (bench/integrations.ts).
  const figures = await benchIntegrations(log);
  log(`  (took ${((Date.now() - started) / 1000).toFixed(0)} s)`);
  if (json) log(JSON.stringify(figures));
  process.exit(0);
}
if (process.argv.includes('--cluster')) {
  // `-- --cluster [--scale-keys N]`: SQLite against PostgreSQL + Redis, revocation across three
  // nodes, and a node on a store of N keys (bench/cluster.ts).
  const at = process.argv.indexOf('--scale-keys');
  const scaleKeys = at === -1 ? 1_000_000 : Number(process.argv[at + 1]);
  if (!Number.isInteger(scaleKeys) || scaleKeys < MIN_SCALE_KEYS || scaleKeys > 10_000_000) {
    log(`--scale-keys: an integer from ${MIN_SCALE_KEYS} to 10000000`);
    process.exit(2);
  }
  const figures = await benchCluster(log, { scaleKeys });
  log(`  (took ${((Date.now() - started) / 1000).toFixed(0)} s)`);
  if (json) log(JSON.stringify(figures));
  process.exit(0);
}
if (process.argv.includes('--ws')) {
  // `-- --ws`: only the WebSocket gateway figures (bench/ws.ts).
  const figures = await benchWebSocket(log);
  log(`  (took ${((Date.now() - started) / 1000).toFixed(0)} s)`);
  if (json) log(JSON.stringify(figures));
  process.exit(0);
}
if (process.argv.includes('--policies')) {
  // `-- --policies`: only the pipeline with and without the twenty policies (bench/policies.ts).
  const { seeded, deps, batch } = await microSetup(inMemory(1_000), 1_000);
  const figures = policiesFigures(deps, batch(nativeOrderRequest), 8);
  await seeded.store.close();
  const { wall } = figures;
  log(
    `  pipeline, native hmac order (1k keys)         ${figures.base.toFixed(0)} CPU ns/op   (${wall.base.toFixed(0)} ns/op wall)`,
  );
  log(
    `  pipeline + 20 policies across actions         ${figures.policies.toFixed(0)} CPU ns/op   (+${(figures.overhead * 100).toFixed(1)} % of the pipeline; wall +${(wall.overhead * 100).toFixed(1)} %)`,
  );
  log(`  (took ${((Date.now() - started) / 1000).toFixed(0)} s)`);
  if (json) {
    log(
      JSON.stringify({
        pipeline_ns_per_op: round(wall.base, 0),
        pipeline_cpu_ns_per_op: round(figures.base, 0),
        pipeline_policies_cpu_ns_per_op: round(figures.policies, 0),
        policies_overhead: round(figures.overhead),
        policies_overhead_wall: round(wall.overhead),
      }),
    );
  }
  process.exit(0);
}
const small = await micro(1_000, 1_000);
log(`  hmac-sha256 over an order's signature base   ${small.hmac.toFixed(0)} ns/op`);
log(
  `  the same, digest as a Buffer (before 12-07)   ${small.hmacBuffer.toFixed(0)} ns/op   (the pipeline reads it as a string)`,
);
log(
  `  pipeline, native hmac order (1k keys)         ${small.pipeline.toFixed(0)} ns/op   (${(small.pipeline / small.hmac).toFixed(2)} × hmac)`,
);
log(
  `  floor: the least a native order needs         ${small.floor.toFixed(0)} ns/op   (${(small.floor / small.hmac).toFixed(2)} × hmac; bench/floor.ts)`,
);
log(
  `  pipeline, binance hmac order (1k keys)        ${small.pipelineBinance.toFixed(0)} ns/op   (${(small.pipelineBinance / small.hmac).toFixed(2)} × hmac)`,
);
const memoryOverhead = small.limiter.wall.overhead;
const redisOverhead = small.pipelineRedis / small.pipelineAsyncBase - 1;
log(
  `  pipeline + in-memory limiter (6 windows)      ${small.limiter.wall.variant.toFixed(0)} ns/op   (+${(memoryOverhead * 100).toFixed(1)} % of ${small.limiter.wall.base.toFixed(0)} ns/op alternated; CPU time +${(small.limiter.overhead * 100).toFixed(1)} %)`,
);
log(
  `  pipeline + Redis limiter, 64 in flight        ${small.pipelineRedis.toFixed(0)} ns/op   (+${(redisOverhead * 100).toFixed(0)} % of ${small.pipelineAsyncBase.toFixed(0)} ns/op without)`,
);
const policiesOverhead = small.policies.overhead;
log(
  `  pipeline + 20 policies across actions         ${small.policies.policies.toFixed(0)} CPU ns/op   (+${(policiesOverhead * 100).toFixed(1)} % of ${small.policies.base.toFixed(0)} CPU ns/op without)`,
);
// One data directory of 100,000 keys (seeding is a fifth of the run) serves both the pipeline
// over a large store and the gateway's memory with 100,000 keys stored.
const largeDir = mkdtempSync(join(tmpdir(), 'portcullis-bench-'));
process.once('exit', () => rmSync(largeDir, { recursive: true, force: true }));
const largeSeed = await seedDataDir(join(largeDir, 'data'), 100_000);
const large = {
  pipeline: await microPipelineOnly(
    (clock) =>
      Promise.resolve({
        ...openSeededKeys(join(largeDir, 'data'), largeSeed.masterKey, clock),
        created: largeSeed.keys,
      }),
    1_000,
  ),
};
log(
  `  pipeline, native hmac order (100k keys)       ${large.pipeline.toFixed(0)} ns/op   (${(large.pipeline / small.pipeline).toFixed(2)} × 1k keys)`,
);
const throughput = await macroThroughput();
log(`  bare Fastify+undici proxy                     ${throughput.bare.rps.toFixed(0)} req/s`);
log(
  `  gateway (signed GET, verified, forwarded)     ${throughput.gateway.rps.toFixed(0)} req/s   (${median(throughput.gatewayToBare).toFixed(2)} × bare proxy, median of rounds ${range(throughput.gatewayToBare)}; p99 ${throughput.gateway.p99_ms.toFixed(1)} ms; failed ${throughput.gateway.failed})`,
);
log(
  `  gateway with Redis limits                     ${throughput.redis.rps.toFixed(0)} req/s   (${median(throughput.redisToMemory).toFixed(2)} × in-memory limits, median of rounds ${range(throughput.redisToMemory)}; failed ${throughput.redis.failed})`,
);
const observedPipeline = small.observed.observed / small.observed.base - 1;
const observedGateway = 1 - median(throughput.observed.rounds);
log(
  `  pipeline + detection + traffic log (on path)  ${small.observed.observed.toFixed(0)} ns/op   (+${(observedPipeline * 100).toFixed(1)} % of ${small.observed.base.toFixed(0)} ns/op; ${small.observed.deferred.toFixed(0)} ns/request deferred)`,
);
log(
  `  gateway, traffic log + detection on           ${throughput.observed.on.toFixed(0)} req/s   (${(-observedGateway * 100).toFixed(1)} % vs ${throughput.observed.off.toFixed(0)} req/s off, median of rounds ${range(throughput.observed.rounds)}; failed ${throughput.observed.failed})`,
);
const memory = await macroMemory(largeDir, largeSeed);
log(
  `  gateway RSS, 100k keys stored, 10k in use     ${memory.rss.toFixed(0)} MB   (${memory.load.rps.toFixed(0)} req/s, failed ${memory.load.failed})`,
);
log(`  (took ${((Date.now() - started) / 1000).toFixed(0)} s)`);

if (json) {
  log(
    JSON.stringify({
      hmac_ns_per_op: round(small.hmac, 0),
      hmac_buffer_ns_per_op: round(small.hmacBuffer, 0),
      pipeline_ns_per_op: round(small.pipeline, 0),
      pipeline_to_hmac: round(small.pipeline / small.hmac),
      // The floor under pipeline_to_hmac: what no verifier of the scheme can skip (bench/floor.ts).
      pipeline_floor_ns_per_op: round(small.floor, 0),
      floor_to_hmac: round(small.floor / small.hmac),
      pipeline_binance_ns_per_op: round(small.pipelineBinance, 0),
      pipeline_binance_to_hmac: round(small.pipelineBinance / small.hmac),
      pipeline_ns_per_op_1k_keys: round(small.pipeline, 0),
      pipeline_ns_per_op_100k_keys: round(large.pipeline, 0),
      keys_100k_to_1k: round(large.pipeline / small.pipeline),
      gateway_rps: round(throughput.gateway.rps, 0),
      bare_proxy_rps: round(throughput.bare.rps, 0),
      gateway_to_bare_proxy: round(median(throughput.gatewayToBare)),
      gateway_to_bare_proxy_rounds: throughput.gatewayToBare.map((r) => round(r)),
      gateway_failed_requests: throughput.gateway.failed,
      rss_mb: round(memory.rss, 1),
      limiter_memory_overhead: round(memoryOverhead),
      limiter_memory_overhead_cpu: round(small.limiter.overhead),
      limiter_redis_overhead: round(redisOverhead),
      // Policies: added to the pipeline by 20 policies across actions (target < 0.25), by CPU time.
      policies_overhead: round(policiesOverhead),
      policies_overhead_wall: round(small.policies.wall.overhead),
      gateway_redis_to_memory: round(median(throughput.redisToMemory)),
      gateway_redis_to_memory_rounds: throughput.redisToMemory.map((r) => round(r)),
      // Detection + traffic log: the larger of the added pipeline cost and the throughput lost.
      observability_overhead: round(Math.max(observedPipeline, observedGateway)),
      observability_pipeline_overhead: round(observedPipeline),
      observability_throughput_overhead: round(observedGateway),
      observability_throughput_rounds: throughput.observed.rounds.map((r) => round(r)),
      observability_deferred_ns_per_request: round(small.observed.deferred, 0),
    }),
  );
}
