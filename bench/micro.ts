/** In-process micro-benchmarks: one HMAC, and the whole pipeline for an allowed request. */
import { createHmac } from 'node:crypto';
import { evaluateRequest, type PipelineDeps, type PipelineRequest } from '../src/core/pipeline.js';
import { buildSignatureBase } from '../src/core/signing/native/index.js';
import type { BenchKey } from './fixtures.js';

/** Runs `fn` for about `ms` milliseconds in rounds and returns the best ns/op of the rounds. */
export function timeIt(fn: (i: number) => void, ms: number, rounds = 5): number {
  let best = Infinity;
  for (let round = 0; round < rounds; round++) {
    let ops = 0;
    const start = process.hrtime.bigint();
    const deadline = start + BigInt(Math.round((ms / rounds) * 1e6));
    let now = start;
    while (now < deadline) {
      for (let k = 0; k < 256; k++) fn(ops++);
      now = process.hrtime.bigint();
    }
    best = Math.min(best, Number(now - start) / ops);
  }
  return best;
}

/**
 * One HMAC-SHA256 over a typical order request's signature base, computed as the pipeline
 * computes it (matchHmac: the digest read as a one-byte string, not a Buffer, which costs
 * node:crypto ~1 µs more here), so that the ratio compares like with like. `asBuffer` measures
 * the digest as a Buffer instead: the baseline of the runs before 2026-12-07, for comparison.
 */
export function hmacNsPerOp(
  key: BenchKey,
  request: PipelineRequest,
  ms: number,
  asBuffer = false,
): number {
  const base =
    '"@method": POST\n"@path": /api/v1/orders\n"content-digest": sha-256=:' +
    'X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:\n"@signature-params": ("@method" "@path" "content-digest");' +
    `created=${Math.floor(request.nowMs / 1000)};keyid="${key.id}";alg="hmac-sha256";nonce="AbCdEfGhIjKlMnOpQrStUv"`;
  void buildSignatureBase;
  const secret = Buffer.from(key.secret, 'utf8');
  let sink = 0;
  const ns = asBuffer
    ? timeIt(() => {
        sink ^= createHmac('sha256', secret).update(base).digest()[0] ?? 0;
      }, ms)
    : timeIt(() => {
        sink ^= createHmac('sha256', secret).update(base).digest('binary').charCodeAt(0);
      }, ms);
  if (sink === 0.5) console.log(sink);
  return ns;
}

/**
 * The whole pipeline over pre-signed requests (each nonce used once), in rounds of fresh
 * batches so that, as in a live server, requests die young. Every request must be allowed
 * synchronously: a denial or a cache miss would measure the wrong thing. Best round wins.
 */
export function pipelineNsPerOp(
  deps: PipelineDeps,
  makeBatch: (round: number) => readonly PipelineRequest[],
  rounds = 12,
): number {
  return pipelineCost(deps, makeBatch, rounds).wallNs;
}

/** Loads every key into the cache (the steady state of a running gateway). */
export async function warm(
  cache: { get(id: string): unknown },
  keys: readonly BenchKey[],
): Promise<void> {
  for (const key of keys) await cache.get(key.id);
}

/**
 * The pipeline when a step answers asynchronously (the Redis limiter): `concurrency` requests in
 * flight, as on a busy node; ns per request of wall time. Every request must be allowed.
 */
export async function pipelineAsyncNsPerOp(
  deps: PipelineDeps,
  makeBatch: (round: number) => readonly PipelineRequest[],
  rounds = 4,
  concurrency = 64,
): Promise<number> {
  let best = Infinity;
  for (let round = 0; round < rounds; round++) {
    const batch = makeBatch(round);
    const start = process.hrtime.bigint();
    for (let i = 0; i < batch.length; i += concurrency) {
      const decisions = await Promise.all(
        batch
          .slice(i, i + concurrency)
          .map((request) => Promise.resolve(evaluateRequest(deps, request))),
      );
      const denied = decisions.find((d) => d.outcome !== 'allow');
      if (denied) throw new Error(`bench request not allowed: ${JSON.stringify(denied)}`);
    }
    best = Math.min(best, Number(process.hrtime.bigint() - start) / batch.length);
  }
  return best;
}

/**
 * The pipeline without and with one addition (`variant`: limits, policies…) over the same kind
 * of requests, in `pairs` alternated measurements of each (ABBA order, so that drift and warm-up
 * fall on both alike, and as many samples on each side); the best of each side is compared, by
 * process CPU time (main thread, GC and compiler threads) and by wall time.
 */
export interface PairedFigures {
  readonly base: number;
  readonly variant: number;
  readonly overhead: number;
  readonly wall: { readonly base: number; readonly variant: number; readonly overhead: number };
}

export function pairedFigures(
  deps: PipelineDeps,
  variant: PipelineDeps,
  batch: (round: number) => readonly PipelineRequest[],
  pairs: number,
): PairedFigures {
  const base: PipelineCost[] = [];
  const added: PipelineCost[] = [];
  for (let i = 0; i < pairs; i++) {
    const order = i % 2 === 0 ? [deps, variant] : [variant, deps];
    for (const d of order) (d === deps ? base : added).push(pipelineCost(d, batch, PAIRED_ROUNDS));
  }
  const best = (costs: PipelineCost[], of: keyof PipelineCost) =>
    Math.min(...costs.map((cost) => cost[of]));
  const cpu = { base: best(base, 'cpuNs'), variant: best(added, 'cpuNs') };
  const wall = { base: best(base, 'wallNs'), variant: best(added, 'wallNs') };
  return {
    ...cpu,
    overhead: cpu.variant / cpu.base - 1,
    wall: { ...wall, overhead: wall.variant / wall.base - 1 },
  };
}

/**
 * Rounds per measurement of a pair: the best of each side comes from pairs × PAIRED_ROUNDS
 * rounds (24–36), as many on both sides; 12 per measurement made the bench run past three
 * minutes on a slow machine of this kind (signing the fresh batches is most of a round).
 */
export const PAIRED_ROUNDS = 6;

interface PipelineCost {
  readonly cpuNs: number;
  readonly wallNs: number;
}

/**
 * The whole pipeline over pre-signed requests (fresh batches, every request allowed
 * synchronously): the best round by process CPU time and by wall time.
 */
function pipelineCost(
  deps: PipelineDeps,
  makeBatch: (round: number) => readonly PipelineRequest[],
  rounds = 12,
): PipelineCost {
  let cpuNs = Infinity;
  let wallNs = Infinity;
  for (let round = 0; round < rounds; round++) {
    const batch = makeBatch(round);
    const cpu = process.cpuUsage();
    const wall = process.hrtime.bigint();
    for (const request of batch) {
      const decision = evaluateRequest(deps, request);
      if (decision instanceof Promise || decision.outcome !== 'allow') {
        const what = decision instanceof Promise ? 'a promise' : JSON.stringify(decision);
        throw new Error(`bench request not allowed synchronously: ${what}`);
      }
    }
    wallNs = Math.min(wallNs, Number(process.hrtime.bigint() - wall) / batch.length);
    const used = process.cpuUsage(cpu);
    cpuNs = Math.min(cpuNs, ((used.user + used.system) * 1000) / batch.length);
  }
  return { cpuNs, wallNs };
}
