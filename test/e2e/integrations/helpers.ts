/**
 * Helpers for the integration tests: an in-process gateway with the check listener on, a real
 * nginx (`daemon off; master_process off;`, everything in a temp dir) with `auth_request` to
 * the check in front of a sandbox exchange, and natively signed requests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createRuntime, type Runtime } from '../../../src/app/runtime.js';
import { loadConfig } from '../../../src/config/config.js';
import type { Scope } from '../../../src/core/keys/model.js';
import { signNativeRequest } from '../../../src/core/signing/native/index.js';
import { createTempDir } from '../../helpers/temp-dir.js';

export const NGINX_BIN = process.env.PORTCULLIS_NGINX ?? '/usr/sbin/nginx';
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

/** A free loopback port (bound and released; nginx binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export interface NginxOptions {
  readonly checkUrl: string;
  /** Where allowed bodiless requests go (the engine). */
  readonly engineUrl: string;
  /** The Portcullis data plane, for requests that carry a body. */
  readonly proxyUrl?: string;
  /** Sent to the engine as X-Portcullis-Upstream-Token (the built-in sandbox wants one). */
  readonly upstreamToken?: string;
  readonly environment?: string;
  /** Leave auth_request out (nginx alone, for the benchmark baseline). */
  readonly noCheck?: boolean;
}

const hostPort = (url: string): string => new URL(url).host;

/** The nginx.conf of docs/integrations.md, with paths and ports filled in. */
export function nginxConf(dir: string, port: number, o: NginxOptions): string {
  const env = o.environment ?? 'sandbox';
  const token =
    o.upstreamToken === undefined
      ? ''
      : `proxy_set_header X-Portcullis-Upstream-Token "${o.upstreamToken}";`;
  const check = o.noCheck
    ? ''
    : `
      auth_request /_portcullis_check;
      auth_request_set $portcullis_denial $upstream_http_x_portcullis_denial;
      auth_request_set $portcullis_key $upstream_http_x_portcullis_key_id;
      auth_request_set $portcullis_account $upstream_http_x_portcullis_account_id;
      auth_request_set $portcullis_scopes $upstream_http_x_portcullis_scopes;
      auth_request_set $portcullis_request_id $upstream_http_x_request_id;
      error_page 401 403 = @portcullis_denied;`;
  const bodies =
    o.proxyUrl === undefined
      ? ''
      : `
      error_page 418 = @portcullis_proxy;
      if ($portcullis_has_body) { return 418; }`;
  return `
daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;

  map $content_length $portcullis_body_length { "" 0; default $content_length; }
  map "$content_length$http_transfer_encoding" $portcullis_has_body { "" 0; "0" 0; default 1; }

  upstream portcullis_check { server ${hostPort(o.checkUrl)}; keepalive 32; }
  upstream engine { server ${hostPort(o.engineUrl)}; keepalive 32; }
  ${o.proxyUrl === undefined ? '' : `upstream portcullis_proxy { server ${hostPort(o.proxyUrl)}; keepalive 32; }`}

  server {
    listen 127.0.0.1:${port};

    location / {${bodies}${check}
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Signature "";
      proxy_set_header Signature-Input "";
      proxy_set_header X-Portcullis-Key $portcullis_key;
      proxy_set_header X-Portcullis-Account $portcullis_account;
      proxy_set_header X-Portcullis-Scopes $portcullis_scopes;
      proxy_set_header X-Request-Id $portcullis_request_id;
      ${token}
      proxy_pass http://engine;
    }

    location = /_portcullis_check {
      internal;
      proxy_pass http://portcullis_check/nginx/${env};
      proxy_pass_request_body off;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Content-Length "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Original-Method $request_method;
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Content-Length $portcullis_body_length;
      proxy_set_header X-Original-Transfer-Encoding $http_transfer_encoding;
      proxy_set_header X-Forwarded-For $remote_addr;
    }

    location @portcullis_denied {
      rewrite ^ /nginx/render break;
      proxy_pass http://portcullis_check;
      proxy_pass_request_body off;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Content-Length "";
      proxy_set_header X-Portcullis-Denial $portcullis_denial;
    }
    ${
      o.proxyUrl === undefined
        ? ''
        : `
    location @portcullis_proxy {
      proxy_pass http://portcullis_proxy;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-For $remote_addr;
    }`
    }
  }
}
`;
}

export interface RunningNginx {
  readonly url: string;
  readonly child: ChildProcess;
  errorLog(): string;
  stop(): Promise<void>;
}

/** Starts nginx in the foreground on a free loopback port; resolves once it answers. */
export async function startNginx(options: NginxOptions): Promise<RunningNginx> {
  const dir = createTempDir('portcullis-nginx-');
  for (const sub of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi', 'logs'])
    mkdirSync(join(dir.path, sub), { recursive: true });
  const port = await freePort();
  const conf = join(dir.path, 'nginx.conf');
  writeFileSync(conf, nginxConf(dir.path, port, options));
  const child = spawn(NGINX_BIN, ['-p', dir.path, '-e', join(dir.path, 'error.log'), '-c', conf], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
  const url = `http://127.0.0.1:${port}`;
  const errorLog = () => {
    const file = join(dir.path, 'error.log');
    return `${stderr}${existsSync(file) ? readFileSync(file, 'utf8') : ''}`;
  };
  // Bounded wait for the listener: nginx binds before it serves, a refused connect means not yet.
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${errorLog()}`);
    try {
      await fetch(`${url}/__portcullis_probe`, { method: 'GET' }).then((r) => r.arrayBuffer());
      break;
    } catch {
      if (attempt > 200) throw new Error(`nginx did not start: ${errorLog()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  return {
    url,
    child,
    errorLog,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGQUIT');
        await exited;
      }
      dir.remove();
    },
  };
}
