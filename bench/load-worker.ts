/**
 * A closed-loop HTTP load generator run as its own process (so that it does not share an event
 * loop with the server under test). Each request is signed afresh (unique nonce) when keys are
 * given. Prints one JSON line with the counts and latency percentiles.
 */
import { readFileSync } from 'node:fs';
import { Pool } from 'undici';
import type { BenchKey } from './fixtures.js';
import { signGet } from './signed-read.js';

interface LoadConfig {
  readonly url: string;
  readonly path: string;
  readonly connections: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  /** File with BenchKey[]; when absent, requests are sent unsigned. */
  readonly keysFile?: string;
  /** Static headers added to every request (the bare proxy needs none). */
  readonly headers?: Record<string, string>;
}

const config = JSON.parse(process.argv[2] ?? '{}') as LoadConfig;
const keys: BenchKey[] = config.keysFile
  ? (JSON.parse(readFileSync(config.keysFile, 'utf8')) as BenchKey[])
  : [];
const pool = new Pool(config.url, { connections: config.connections, pipelining: 1 });
const latencies: number[] = [];
let ok = 0;
let failed = 0;
let counter = 0;
const statuses: Record<string, number> = {};

function headersFor(): Record<string, string> {
  const headers: Record<string, string> = { ...config.headers };
  if (keys.length === 0) return headers;
  const key = keys[counter++ % keys.length] as BenchKey;
  return { ...headers, ...signGet(key, config.path) };
}

async function worker(until: number, record: boolean): Promise<void> {
  while (Date.now() < until) {
    const started = process.hrtime.bigint();
    try {
      const response = await pool.request({
        method: 'GET',
        path: config.path,
        headers: headersFor(),
      });
      await response.body.dump();
      if (record) {
        statuses[response.statusCode] = (statuses[response.statusCode] ?? 0) + 1;
        if (response.statusCode === 200) ok++;
        else failed++;
        latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
      }
    } catch {
      if (record) failed++;
    }
  }
}

const warmEnd = Date.now() + config.warmupMs;
await Promise.all(Array.from({ length: config.connections }, () => worker(warmEnd, false)));
const start = Date.now();
await Promise.all(
  Array.from({ length: config.connections }, () => worker(start + config.durationMs, true)),
);
const elapsed = (Date.now() - start) / 1000;
latencies.sort((a, b) => a - b);
const pct = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0;
await pool.close();
process.stdout.write(
  `${JSON.stringify({ rps: ok / elapsed, ok, failed, statuses, p50_ms: pct(0.5), p99_ms: pct(0.99) })}\n`,
);
