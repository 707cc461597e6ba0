/**
 * Helpers for the integration tests: an in-process gateway with the check listener on, a real
 * nginx (`daemon off; master_process off;`, everything in a temp dir) with `auth_request` to
 * the check in front of a sandbox exchange, and natively signed requests.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRuntime, type Runtime } from '../../../src/app/runtime.js';
import { loadConfig } from '../../../src/config/config.js';
import type { Scope } from '../../../src/core/keys/model.js';
import { signNativeRequest } from '../../../src/core/signing/native/index.js';
import { createTempDir } from '../../helpers/temp-dir.js';

const CTX = { actor: 'test', requestId: 'req_test' };

export interface Gateway {
  readonly runtime: Runtime;
  readonly dataDir: string;
  readonly masterKey: string;
  /** The sandbox data plane (the full proxy). */
  readonly proxyUrl: string;
  readonly checkUrl: string;
  readonly adminUrl: string;
  readonly adminToken: string;
  close(): Promise<void>;
}

/** A gateway with the sandbox environment only and the check listener on loopback. */
export async function startGateway(sandbox: Record<string, unknown> = {}): Promise<Gateway> {
  const dir = createTempDir();
  const masterKey = randomBytes(32).toString('base64');
  const config = loadConfig(
    {
      dataDir: dir.path,
      logLevel: 'silent',
      admin: { listen: { host: '127.0.0.1', port: 0 } },
      check: { enabled: true, listen: { host: '127.0.0.1', port: 0 } },
      dataPlane: { trustedProxies: ['127.0.0.1/32'] },
      environments: {
        production: { enabled: false },
        sandbox: { listen: { host: '127.0.0.1', port: 0 }, ...sandbox },
      },
    },
    {},
  );
  const runtime = await createRuntime(config, { env: { PORTCULLIS_MASTER_KEY: masterKey } });
  const info = await runtime.start();
  return {
    runtime,
    dataDir: dir.path,
    masterKey,
    proxyUrl: info.dataPlanes.sandbox?.url ?? '',
    checkUrl: info.checkUrl ?? '',
    adminUrl: info.adminUrl,
    adminToken: readFileSync(info.adminTokenFile, 'utf8').trim(),
    close: async () => {
      await runtime.stop();
      dir.remove();
    },
  };
}

export interface TestKey {
  readonly id: string;
  readonly secret: string;
  readonly accountId: string;
}

export async function newKey(
  runtime: Runtime,
  options: { scopes?: Scope[]; ipAllowlist?: string[]; accountId?: string } = {},
): Promise<TestKey> {
  const accountId = options.accountId ?? (await runtime.keys.createAccount('int', CTX)).id;
  const created = await runtime.keys.createKey(
    {
      accountId,
      environment: 'sandbox',
      scheme: 'hmac',
      scopes: options.scopes ?? ['read', 'trade'],
      ...(options.ipAllowlist ? { ipAllowlist: options.ipAllowlist } : {}),
    },
    CTX,
  );
  return { id: created.key.id, secret: created.secret ?? '', accountId };
}

/** Native signature headers for a request to `target` (path and query). */
export function nativeHeaders(
  key: Pick<TestKey, 'id' | 'secret'>,
  method: string,
  target: string,
  body = '',
  options: { secret?: string; host?: string } = {},
): Record<string, string> {
  const q = target.indexOf('?');
  const headers: Record<string, string> = {
    ...signNativeRequest({
      method,
      path: q < 0 ? target : target.slice(0, q),
      rawQuery: q < 0 ? null : target.slice(q + 1),
      body,
      keyId: key.id,
      secret: options.secret ?? key.secret,
      createdSeconds: Math.floor(Date.now() / 1000),
      nonce: randomBytes(12).toString('base64url'),
    }),
  };
  if (body.length > 0) headers['content-type'] = 'application/json';
  return headers;
}

export {
  startNginx,
  nginxConf,
  type NginxOptions,
  type RunningNginx,
} from '../../../bench/nginx.js';
