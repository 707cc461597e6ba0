/** Child processes for the macro benchmarks: gateway, bare proxy, load workers. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root (this file runs from dist/bench/). */
export const ROOT = join(here, '..', '..');

export interface Running {
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

function running(child: ChildProcess): Running {
  return {
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}

async function waitFor<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts `portcullis start` on ephemeral ports; resolves with its data-plane URLs. */
export async function startGateway(
  dataDir: string,
  env: Record<string, string>,
  args: readonly string[] = [],
) {
  const child = spawn(
    process.execPath,
    [join(ROOT, 'bin', 'portcullis.js'), 'start', '--data-dir', dataDir, ...args],
    {
      env: {
        ...process.env,
        PORTCULLIS_ADMIN_PORT: '0',
        PORTCULLIS_PRODUCTION_PORT: '0',
        PORTCULLIS_SANDBOX_PORT: '0',
        PORTCULLIS_LOG_LEVEL: 'warn',
        ...env,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const handle = running(child);
  const file = join(dataDir, 'runtime.json');
  const info = await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error('gateway exited early');
      if (!existsSync(file)) return undefined;
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as {
        pid: number;
        adminUrl: string;
        dataPlanes: Record<string, { url: string }>;
      };
      return parsed.pid === child.pid && parsed.dataPlanes.sandbox ? parsed : undefined;
    },
    20_000,
    'gateway start',
  );
  return {
    ...handle,
    sandboxUrl: (info.dataPlanes.sandbox as { url: string }).url,
    adminUrl: info.adminUrl,
    pid: child.pid ?? 0,
  };
}

/**
 * A configuration whose limits the load never reaches (every request comes from 127.0.0.1), so
 * that the throughput figures measure the limiter's cost, not cheap 429s. `extra` is merged in
 * at the top level (a store, cluster settings…).
 */
export function limitsConfig(
  dir: string,
  name: string,
  redis: boolean,
  extra: Record<string, unknown> = {},
): string {
  const high = [{ window: '1m', limit: 1_000_000_000 }];
  const file = join(dir, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      ...(redis
        ? {
            redis: 'redis://127.0.0.1:6379',
            rateLimits: { backend: 'redis', keyPrefix: `pc:bench:${Date.now()}:` },
          }
        : {}),
      environments: {
        sandbox: {
          limits: { perKey: high, perAccount: high, perIp: high, orders: high, authFailures: high },
        },
      },
      ...extra,
    }),
  );
  return file;
}

export type Gateway = Awaited<ReturnType<typeof startGateway>>;

/** The bootstrap admin token a gateway wrote into its data directory. */
export const adminTokenOf = (dataDir: string): string =>
  readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();

/** Starts the bare Fastify+undici proxy baseline. */
export async function startBareProxy() {
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'bench', 'bare-proxy.js')], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const url = await waitFor(
    () => {
      const line = out.split('\n')[0];
      return line ? (JSON.parse(line) as { url: string }).url : undefined;
    },
    20_000,
    'bare proxy start',
  );
  return { ...running(child), url };
}

export interface LoadResult {
  rps: number;
  ok: number;
  failed: number;
  statuses: Record<string, number>;
  p50_ms: number;
  p99_ms: number;
}

/** Runs one load worker to completion. */
export function runLoad(config: Record<string, unknown>): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(ROOT, 'dist', 'bench', 'load-worker.js'), JSON.stringify(config)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`load worker exited ${code}`));
      resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}') as LoadResult);
    });
  });
}

/** Resident set size of a process in MB (Linux /proc). */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) / 1024 : 0;
}
