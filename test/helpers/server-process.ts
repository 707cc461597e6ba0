/**
 * Real-process helpers for e2e tests: start `portcullis start` on ephemeral ports with its own
 * data directory, wait (polling, bounded) for its runtime.json, run the CLI and parse its JSON,
 * and stop or SIGKILL the server. Tests run the compiled CLI: `npm run build` first (npm test does).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTempDir } from './temp-dir.js';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const BIN = join(REPO_ROOT, 'bin', 'portcullis.js');

/** What `portcullis start` writes to `<dataDir>/runtime.json`. */
export interface RuntimeJson {
  readonly pid: number;
  readonly adminUrl: string;
  readonly dataPlanes: Record<string, { url: string; upstream?: string }>;
}

export interface StartServerOptions {
  /** Extra environment variables (override the ephemeral-port defaults). */
  readonly env?: Readonly<Record<string, string>>;
  /** Reuse a data directory (a restart); a fresh temp dir otherwise. */
  readonly dataDir?: string;
  /** Extra arguments after `start`, e.g. `['--config', file]`. */
  readonly args?: readonly string[];
  /** How long to wait for runtime.json. */
  readonly timeoutMs?: number;
}

export interface ServerHandle {
  readonly dataDir: string;
  readonly adminUrl: string;
  readonly info: RuntimeJson;
  readonly child: ChildProcess;
  /** The bootstrap owner token the server wrote to `<dataDir>/admin-token`. */
  readonly token: string;
  stdout(): string;
  stderr(): string;
  /** SIGTERM and wait for exit; returns the exit code. Idempotent. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait for the process to be gone. */
  kill9(): Promise<void>;
  /** Stops the server (if running) and removes the data dir if the helper created it. */
  cleanup(): Promise<void>;
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout parsed as JSON, or undefined when it is not exactly one JSON document. */
  readonly json: unknown;
}

/** Fails early with a clear message when the compiled CLI is missing. */
export function assertBuilt(): void {
  if (!existsSync(join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: run `npm run build` before the e2e tests.');
  }
}

/** The environment a test server runs with: every listener on an ephemeral port, quiet logs. */
export function serverEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('PORTCULLIS_')) delete env[name];
  return {
    ...env,
    PORTCULLIS_ADMIN_HOST: '127.0.0.1',
    PORTCULLIS_ADMIN_PORT: '0',
    PORTCULLIS_PRODUCTION_PORT: '0',
    PORTCULLIS_SANDBOX_PORT: '0',
    PORTCULLIS_LOG_LEVEL: 'warn',
    ...extra,
  };
}

function waitForExit(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolveExit) => child.once('exit', (code) => resolveExit(code)));
}

function readRuntimeJson(dataDir: string, pid: number | undefined): RuntimeJson | undefined {
  try {
    const info = JSON.parse(readFileSync(join(dataDir, 'runtime.json'), 'utf8')) as RuntimeJson;
    return info.pid === pid && typeof info.adminUrl === 'string' ? info : undefined;
  } catch {
    return undefined; // not written yet, or half-written
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts `portcullis start --data-dir DIR` and resolves once its runtime.json names its pid. */
export async function startServer(options: StartServerOptions = {}): Promise<ServerHandle> {
  assertBuilt();
  const temp = options.dataDir === undefined ? createTempDir('portcullis-e2e-') : undefined;
  const dataDir = options.dataDir ?? (temp as { path: string }).path;
  const child = spawn(
    process.execPath,
    [BIN, 'start', '--data-dir', dataDir, ...(options.args ?? [])],
    { cwd: REPO_ROOT, env: serverEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const exited = waitForExit(child);

  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let info: RuntimeJson | undefined;
  while (!(info = readRuntimeJson(dataDir, child.pid))) {
    if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      await exited;
      temp?.remove();
      throw new Error(
        `portcullis start did not come up (exit ${String(child.exitCode)}):\n${out}\n${err}`,
      );
    }
    await pause(25);
  }
  const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const ready = info;

  const stop = async (): Promise<number | null> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };
  return {
    dataDir,
    adminUrl: ready.adminUrl,
    info: ready,
    child,
    token,
    stdout: () => out,
    stderr: () => err,
    stop,
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async cleanup() {
      await stop();
      temp?.remove();
    },
  };
}

/** Runs `portcullis start` expecting it to fail; resolves with its exit code and output. */
export async function runServerToExit(
  options: StartServerOptions & { dataDir: string },
): Promise<CliResult> {
  assertBuilt();
  const child = spawn(
    process.execPath,
    [BIN, 'start', '--data-dir', options.dataDir, ...(options.args ?? [])],
    { cwd: REPO_ROOT, env: serverEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return collect(child, options.timeoutMs ?? 20_000);
}

export interface RunCliOptions {
  /** Passed as `--data-dir`; the CLI finds the admin URL and token there. */
  readonly dataDir?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

/** Runs `node bin/portcullis.js ...args [--data-dir DIR]` and parses stdout as JSON. */
export function runCli(args: readonly string[], options: RunCliOptions = {}): Promise<CliResult> {
  assertBuilt();
  const child = spawn(
    process.execPath,
    [BIN, ...args, ...(options.dataDir !== undefined ? ['--data-dir', options.dataDir] : [])],
    { cwd: REPO_ROOT, env: serverEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return collect(child, options.timeoutMs ?? 20_000);
}

function collect(child: ChildProcess, timeoutMs: number): Promise<CliResult> {
  return new Promise((resolveRun, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`process did not exit within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolveRun({ code, stdout, stderr, json });
    });
  });
}

/** One admin API call over HTTP with the server's bootstrap token (or `token`). */
export async function adminRequest(
  server: Pick<ServerHandle, 'adminUrl' | 'token'>,
  method: string,
  path: string,
  body?: unknown,
  token: string = server.token,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(new URL(path, server.adminUrl), {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: (text ? JSON.parse(text) : {}) as Record<string, unknown>,
  };
}
