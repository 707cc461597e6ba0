/**
 * What detection and the traffic log add (`observability_overhead`): in process, the pipeline
 * with the risk lookup plus everything a request hands to observability on its path (metrics,
 * traffic record, risk event) against the bare pipeline, and separately the deferred work it
 * causes later on the same event loop (anomaly engine, batched SQLite insert); end to end,
 * gateway throughput with the traffic log and detection on against both off (which pays the
 * deferred work too). Runs alternate so that machine drift affects both alike.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { createObservability, type ObservabilityOptions } from '../src/app/observability.js';
import { DEFAULT_GOVERNANCE_POLICIES } from '../src/core/governance/index.js';
import type { PipelineDeps, PipelineRequest } from '../src/core/pipeline.js';
import { evaluateRequest } from '../src/core/pipeline.js';
import { DEFAULT_RESPONSE_POLICY, resolveRiskConfig } from '../src/core/risk/index.js';
import { SANDBOX_ROUTES } from '../src/sandbox/routes.js';
import { DEFAULT_TRAFFIC_LOG_OPTIONS } from '../src/services/traffic-log.js';
import { pipelineNsPerOp } from './micro.js';
import { startGateway } from './processes.js';
import { loadInRounds, meanLoad, roundRatios } from './rounds.js';

/** ns per request: pipeline + recording (on path), bare pipeline, deferred work (off path). */
export async function observedPipelineNsPerOp(
  deps: PipelineDeps,
  makeBatch: (round: number) => readonly PipelineRequest[],
  rounds = 12,
): Promise<{ observed: number; base: number; deferred: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-obs-bench-'));
  const options: ObservabilityOptions = {
    database: `sqlite:${join(dir, 'observability.db')}`,
    trafficLog: { ...DEFAULT_TRAFFIC_LOG_OPTIONS, enabled: true },
    risk: {
      enabled: { production: true, sandbox: true },
      engine: resolveRiskConfig(),
      responses: DEFAULT_RESPONSE_POLICY,
    },
    webhooks: [],
    governance: { enabled: false, intervalMs: 3_600_000, policies: DEFAULT_GOVERNANCE_POLICIES },
  };
  const obs = createObservability(
    {
      clock: { now: () => Date.now() },
      logger: pino({ level: 'silent' }),
      audit: () => Promise.resolve(),
      keys: {
        listKeys: () => Promise.resolve([]),
        updateKey: () => Promise.reject(new Error('not used')),
      },
    },
    options,
  );
  const observedDeps: PipelineDeps = { ...deps, risk: obs.riskLookup('sandbox', SANDBOX_ROUTES) };
  const observed: number[] = [];
  const base: number[] = [];
  const deferred: number[] = [];
  try {
    for (let round = 0; round < rounds; round++) {
      base.push(pipelineNsPerOp(deps, (r) => makeBatch(round * 2 + r), 1));
      const batch = makeBatch(round * 2 + 1);
      const start = process.hrtime.bigint();
      for (let i = 0; i < batch.length; i++) {
        const request = batch[i] as PipelineRequest;
        const t0 = performance.now();
        const decision = evaluateRequest(observedDeps, request);
        if (decision instanceof Promise || decision.outcome !== 'allow')
          throw new Error('bench request not allowed synchronously');
        const pipelineMs = performance.now() - t0;
        obs.record('sandbox', {
          requestId: `req_${round}_${i}`,
          decision,
          clientIp: request.clientIp,
          nowMs: request.nowMs,
          method: request.method,
          status: 201,
          pipelineMs,
          upstreamMs: 0.5,
          totalMs: pipelineMs + 0.6,
        });
      }
      const onPath = process.hrtime.bigint();
      observed.push(Number(onPath - start) / batch.length);
      // The deferred work, paid later by the same event loop (it shows in throughput).
      await obs.drain();
      await obs.traffic?.flush();
      deferred.push(Number(process.hrtime.bigint() - onPath) / batch.length);
    }
  } finally {
    await obs.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    observed: Math.min(...observed),
    base: Math.min(...base),
    deferred: Math.min(...deferred),
  };
}

/** Limits the load never reaches, and the traffic log and detection on or off. */
function configFile(dir: string, observe: boolean): string {
  const high = [{ window: '1m', limit: 1_000_000_000 }];
  const file = join(dir, `observe-${observe}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      trafficLog: { enabled: observe },
      environments: {
        sandbox: {
          limits: { perKey: high, perAccount: high, perIp: high, orders: high, authFailures: high },
          risk: { enabled: observe },
        },
      },
    }),
  );
  return file;
}

/**
 * Gateway req/s with the traffic log and detection on and with both off: two gateways side by
 * side (the second on a copy of the data directory) taking the load in turn, round by round
 * (bench/rounds.ts); `rounds` holds each round's on/off ratio.
 */
export async function observedThroughput(
  dataDir: string,
  env: Record<string, string>,
  keysFile: string,
): Promise<{ on: number; off: number; failed: number; rounds: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-obs-cfg-'));
  try {
    cpSync(dataDir, join(dir, 'data-on'), { recursive: true });
    const off = await startGateway(dataDir, env, ['--config', configFile(dir, false)]);
    const on = await startGateway(join(dir, 'data-on'), env, ['--config', configFile(dir, true)]);
    let results;
    try {
      results = await loadInRounds({ off: off.sandboxUrl, on: on.sandboxUrl }, keysFile);
    } finally {
      await Promise.all([off.stop(), on.stop()]);
    }
    const failed = [...results.on, ...results.off].reduce((s, r) => s + r.failed, 0);
    return {
      on: meanLoad(results.on).rps,
      off: meanLoad(results.off).rps,
      failed,
      rounds: roundRatios(results.on, results.off),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
