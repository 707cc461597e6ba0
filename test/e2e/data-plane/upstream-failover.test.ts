/**
 * Upstream failover with real processes: a `portcullis start` whose sandbox environment has an
 * upstream pool of two built-in sandbox exchanges, each in its own process — a primary and a
 * backup. Clients keep a steady load of reads, keyed writes (Idempotency-Key header, or a
 * clientOrderId) and unkeyed writes; the primary is killed with SIGKILL mid-load. Every
 * request started after the kill must succeed through the backup, and — counted at the
 * sandboxes, by the request id the gateway forwards — no unkeyed write is received twice.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliCreateAccount, cliCreateKey, type CliKey } from '../../helpers/cli-keys.js';
import { REPO_ROOT, startServer, type ServerHandle } from '../../helpers/server-process.js';
import { createTempDir } from '../../helpers/temp-dir.js';
import { NO_LIMITS, signed, writeConfig } from './helpers.js';

/** A sandbox exchange in a child process that prints one line per request it receives. */
interface SandboxProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** Request ids (X-Request-Id from the gateway) of every non-health request received. */
  readonly received: string[];
  readonly exited: Promise<void>;
  /** Resolves once at least `count` requests were received. */
  receivedAtLeast(count: number): Promise<void>;
}

const SANDBOX_MODULE = pathToFileURL(
  join(REPO_ROOT, 'dist', 'src', 'sandbox', 'build-sandbox-exchange.js'),
).href;

// Writes to a pipe are synchronous on Linux: a line printed before SIGKILL is never lost.
const CHILD_PROGRAM = `
import { buildSandboxExchange } from ${JSON.stringify(SANDBOX_MODULE)};
const app = buildSandboxExchange({});
app.addHook('onRequest', (request, _reply, done) => {
  const path = (request.url ?? '').split('?')[0];
  if (path !== '/health') process.stdout.write('RECV ' + (request.headers['x-request-id'] ?? '-') + '\\n');
  done();
});
await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write('LISTEN ' + app.server.address().port + '\\n');
`;

async function startSandboxProcess(): Promise<SandboxProcess> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD_PROGRAM], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const received: string[] = [];
  const waiters: { count: number; resolve: () => void }[] = [];
  let buffered = '';
  let stderr = '';
  let onListen: (port: number) => void = () => undefined;
  const listening = new Promise<number>((resolve) => (onListen = resolve));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.startsWith('LISTEN ')) onListen(Number(line.slice(7)));
      if (line.startsWith('RECV ')) received.push(line.slice(5));
    }
    for (const waiter of waiters.splice(0)) {
      if (received.length >= waiter.count) waiter.resolve();
      else waiters.push(waiter);
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await Promise.race([
    listening,
    exited.then(() => {
      throw new Error(`sandbox process exited before listening:\n${stderr}`);
    }),
  ]);
  return {
    url: `http://127.0.0.1:${port}`,
    child,
    received,
    exited,
    receivedAtLeast: (count) =>
      received.length >= count
        ? Promise.resolve()
        : new Promise((resolve) => waiters.push({ count, resolve })),
  };
}

type Kind = 'read' | 'header-keyed' | 'body-keyed' | 'unkeyed';
const KINDS: readonly Kind[] = ['read', 'header-keyed', 'body-keyed', 'unkeyed'];

interface Outcome {
  readonly kind: Kind;
  readonly requestId: string;
  readonly status: number;
  readonly code: string | undefined;
  /** Started once the primary's exit was observed. */
  readonly startedAfterKill: boolean;
  /** Answered once SIGKILL was sent. */
  readonly finishedAfterKill: boolean;
  readonly finishedAtMs: number;
}

const configDir = createTempDir('portcullis-failover-');
let primary: SandboxProcess;
let backup: SandboxProcess;
let server: ServerHandle;
let gatewayUrl: string;
let trader: CliKey;

beforeAll(async () => {
  [primary, backup] = await Promise.all([startSandboxProcess(), startSandboxProcess()]);
  const config = writeConfig(configDir.path, {
    environments: {
      production: { enabled: false },
      sandbox: {
        ...NO_LIMITS,
        upstreamTimeout: '10s',
        upstream: {
          targets: [
            { url: primary.url, role: 'primary' },
            { url: backup.url, role: 'backup' },
          ],
          healthCheck: { path: '/health', interval: '250ms', timeout: '250ms' },
          ejection: { consecutiveFailures: 2, cooldown: '1m' },
        },
      },
    },
  });
  server = await startServer({ args: ['--config', config] });
  gatewayUrl = (server.info.dataPlanes.sandbox as { url: string }).url;
  const accountId = await cliCreateAccount(server.dataDir, 'failover');
  trader = await cliCreateKey(server.dataDir, { accountId, scopes: 'read,trade' });
}, 90_000);

afterAll(async () => {
  await server?.cleanup();
  for (const sandbox of [primary, backup]) {
    if (sandbox !== undefined && sandbox.child.exitCode === null) {
      sandbox.child.kill('SIGKILL');
      await sandbox.exited;
    }
  }
  configDir.remove();
});

let sequence = 0;

async function sendOne(kind: Kind): Promise<{ requestId: string; status: number; code?: string }> {
  const n = (sequence += 1);
  const order = { symbol: 'BTCUSDT', side: 'buy', type: 'limit', quantity: '0.001', price: '1000' };
  const request =
    kind === 'read'
      ? signed(gatewayUrl, 'GET', '/api/v1/balances', undefined, trader)
      : kind === 'header-keyed'
        ? signed(gatewayUrl, 'POST', '/api/v1/orders', order, trader, {
            headers: { 'idempotency-key': `idem-${n}` },
          })
        : kind === 'body-keyed'
          ? signed(
              gatewayUrl,
              'POST',
              '/api/v1/orders',
              { ...order, clientOrderId: `cl-${n}` },
              trader,
            )
          : signed(gatewayUrl, 'POST', '/api/v1/orders', order, trader);
  const response = await fetch(request.url, {
    method: request.method,
    headers: request.headers,
    ...(request.body.length > 0 ? { body: request.body } : {}),
  });
  const text = await response.text();
  let code: string | undefined;
  try {
    code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  return {
    requestId: response.headers.get('x-request-id') ?? '',
    status: response.status,
    ...(code !== undefined ? { code } : {}),
  };
}

describe('upstream failover under load', () => {
  it('kill -9 of the primary: requests keep succeeding through the backup, no unkeyed write twice', async () => {
    const outcomes: Outcome[] = [];
    /** Set when SIGKILL is sent, and when the primary's exit is observed. */
    let killing = false;
    let killed = false;
    let killSentAtMs = 0;
    let stop = false;
    const afterKillTarget = 160;
    const worker = async (offset: number): Promise<void> => {
      for (let i = offset; !stop; i += 1) {
        const kind = KINDS[i % KINDS.length] as Kind;
        const startedAfterKill = killed;
        const answer = await sendOne(kind);
        outcomes.push({
          kind,
          requestId: answer.requestId,
          status: answer.status,
          code: answer.code,
          startedAfterKill,
          finishedAfterKill: killing,
          finishedAtMs: performance.now(),
        });
        if (outcomes.filter((o) => o.startedAfterKill).length >= afterKillTarget) stop = true;
      }
    };
    const workers = [0, 1, 2, 3, 4, 5].map((offset) => worker(offset));

    await primary.receivedAtLeast(80);
    expect(backup.received).toEqual([]); // only health checks so far
    killing = true;
    killSentAtMs = performance.now();
    primary.child.kill('SIGKILL');
    await primary.exited;
    killed = true;
    await Promise.all(workers);

    const before = outcomes.filter((o) => !o.finishedAfterKill);
    const inFlight = outcomes.filter((o) => o.finishedAfterKill && !o.startedAfterKill);
    const after = outcomes.filter((o) => o.startedAfterKill);
    const ok = (o: Outcome) => o.status >= 200 && o.status < 300;

    expect(before.length).toBeGreaterThan(0);
    expect(before.filter((o) => !ok(o))).toEqual([]);
    // Every request that started after the primary died succeeded, through the backup.
    expect(after.length).toBeGreaterThanOrEqual(afterKillTarget);
    expect(after.filter((o) => !ok(o))).toEqual([]);
    // Caught mid-flight by the kill: a retry-safe request was retried; an unkeyed write either
    // succeeded or failed cleanly with UPSTREAM_NOT_RETRIED — nothing else.
    for (const o of inFlight.filter((x) => !ok(x))) {
      expect(o).toMatchObject({ kind: 'unkeyed', status: 502, code: 'UPSTREAM_NOT_RETRIED' });
    }

    // Counted at the sandboxes: how often each request id was received, over both.
    const counts = new Map<string, number>();
    for (const id of [...primary.received, ...backup.received]) {
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    const unkeyed = outcomes.filter((o) => o.kind === 'unkeyed');
    expect(unkeyed.length).toBeGreaterThan(40);
    for (const o of unkeyed) {
      const times = counts.get(o.requestId) ?? 0;
      expect(times, `${o.requestId} (${o.status})`).toBeLessThanOrEqual(1);
      if (ok(o)) expect(times, o.requestId).toBe(1);
    }
    const backupIds = new Set(backup.received);
    expect(after.every((o) => backupIds.has(o.requestId))).toBe(true);

    const firstBackupSuccess = outcomes
      .filter((o) => o.finishedAfterKill && ok(o) && backupIds.has(o.requestId))
      .reduce((min, o) => Math.min(min, o.finishedAtMs), Infinity);
    const retried = outcomes.filter((o) => (counts.get(o.requestId) ?? 0) > 1);
    // Measurements, not assertions (tests never assert wall-clock time).
    console.log(
      `failover: ${before.length} before, ${inFlight.length} in flight ` +
        `(${inFlight.filter((o) => !ok(o)).length} UPSTREAM_NOT_RETRIED), ${after.length} after; ` +
        `first success through the backup ${(firstBackupSuccess - killSentAtMs).toFixed(1)} ms ` +
        `after SIGKILL; ` +
        `${retried.length} retry-safe requests received twice (${retried.map((o) => o.kind).join(',')})`,
    );
  }, 120_000);
});
