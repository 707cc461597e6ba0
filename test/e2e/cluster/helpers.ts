/**
 * Real gateway clusters for the e2e tests: N `portcullis start` processes on one store and one
 * Redis, each with its own data dir (runtime.json, a copy of the first node's admin token), one
 * master key, and a cluster key prefix of their own so that runs sharing a Redis never meet.
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { CliKey } from '../../helpers/cli-keys.js';
import { adminRequest, startServer, type ServerHandle } from '../../helpers/server-process.js';
import { createTempDir } from '../../helpers/temp-dir.js';
import { writeConfig } from '../data-plane/helpers.js';

export interface Cluster {
  readonly nodes: readonly ServerHandle[];
  readonly dir: ReturnType<typeof createTempDir>;
  /** `sandbox` or `production` base URL of node `i`. */
  url(i: number, env?: 'sandbox' | 'production'): string;
  /** Starts one more node on the same store, Redis and configuration (appended to `nodes`). */
  addNode(): Promise<ServerHandle>;
  cleanup(): Promise<void>;
}

export interface ClusterOptions {
  readonly size: number;
  /** `store` of the configuration; a SQLite file in the shared dir when absent. */
  readonly store?: string;
  readonly redis: string;
  /** Merged into the configuration file (environments, rateLimits, cluster…). */
  readonly config?: Record<string, unknown>;
}

/** A unique prefix for Redis keys and channels of one run. */
export const runPrefix = (tag: string): string =>
  `pc:e2e:${tag}:${randomBytes(6).toString('hex')}:`;

/** Starts the first node (it migrates and writes the bootstrap token), then the others together. */
export async function startCluster(options: ClusterOptions): Promise<Cluster> {
  const dir = createTempDir('portcullis-cluster-');
  const nodes: ServerHandle[] = [];
  const config = writeConfig(dir.path, {
    store: options.store ?? `sqlite:${join(dir.path, 'shared.db')}`,
    redis: options.redis,
    ...options.config,
  });
  const env = { PORTCULLIS_MASTER_KEY: randomBytes(32).toString('base64') };
  /** Node `n` (n ≥ 1): its own data dir with a copy of the first node's admin token. */
  const startNode = (first: ServerHandle, n: number): Promise<ServerHandle> => {
    const dataDir = join(dir.path, `node-${n}`);
    mkdirSync(dataDir, { mode: 0o700 });
    copyFileSync(join(first.dataDir, 'admin-token'), join(dataDir, 'admin-token'));
    return startServer({ env, dataDir, args: ['--config', config], timeoutMs: 60_000 });
  };
  try {
    const first = await startServer({ env, args: ['--config', config], timeoutMs: 60_000 });
    nodes.push(first);
    const rest = await Promise.all(
      Array.from({ length: options.size - 1 }, (_, i) => startNode(first, i + 1)),
    );
    nodes.push(...rest);
  } catch (error) {
    await Promise.all(nodes.map((node) => node.cleanup()));
    dir.remove();
    throw error;
  }
  return {
    nodes,
    dir,
    url(i, envName = 'sandbox') {
      const plane = nodes[i]?.info.dataPlanes[envName];
      if (plane === undefined) throw new Error(`node ${i} has no ${envName} plane`);
      return plane.url;
    },
    async addNode() {
      const node = await startNode(nodes[0] as ServerHandle, nodes.length);
      nodes.push(node);
      return node;
    },
    async cleanup() {
      await Promise.all(nodes.map((node) => node.cleanup()));
      dir.remove();
    },
  };
}

/** Creates an account and an HMAC key through node `node`'s admin API. */
export async function createKey(
  node: ServerHandle,
  options: { env?: 'sandbox' | 'production'; scopes?: string[] } = {},
): Promise<CliKey> {
  const account = await adminRequest(node, 'POST', '/v1/accounts', { name: 'cluster' });
  if (account.status !== 201) throw new Error(`account: ${JSON.stringify(account)}`);
  const created = await adminRequest(node, 'POST', '/v1/keys', {
    accountId: account.body['id'],
    environment: options.env ?? 'sandbox',
    scheme: 'hmac',
    scopes: options.scopes ?? ['read', 'trade'],
  });
  if (created.status !== 201) throw new Error(`key: ${JSON.stringify(created)}`);
  const key = created.body['key'] as CliKey;
  return { ...key, secret: created.body['secret'] as string };
}

/**
 * Polls `read` until `holds` (every 20 ms, at most 10 s): for state another process applies
 * when an event reaches it. Returns the value that held.
 */
export async function until<T>(
  read: () => Promise<T>,
  holds: (value: T) => boolean,
  what: string,
): Promise<T> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    const value = await read();
    if (holds(value)) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
