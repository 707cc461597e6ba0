/**
 * A real nginx for the integration tests and the benchmark: `daemon off; master_process off;`,
 * everything (pid, logs, temp paths) in a temp dir, the configuration of docs/integrations.md.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NGINX_BIN = process.env.PORTCULLIS_NGINX ?? '/usr/sbin/nginx';

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
  // Without auth_request there are no $portcullis_* variables (nginx refuses to start on an
  // unknown variable): the baseline sends the same headers with fixed values.
  const identity = o.noCheck
    ? `      proxy_set_header X-Portcullis-Key "pk_bench";
      proxy_set_header X-Portcullis-Account "acc_bench";
      proxy_set_header X-Portcullis-Scopes "read,trade";
      proxy_set_header X-Request-Id $request_id;`
    : `      proxy_set_header X-Portcullis-Key $portcullis_key;
      proxy_set_header X-Portcullis-Account $portcullis_account;
      proxy_set_header X-Portcullis-Scopes $portcullis_scopes;
      proxy_set_header X-Request-Id $portcullis_request_id;`;
  const denied = `
    location @portcullis_denied {
      rewrite ^ /nginx/render break;
      proxy_pass http://portcullis_check;
      proxy_pass_request_body off;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Content-Length "";
      proxy_set_header X-Portcullis-Denial $portcullis_denial;
    }
`;
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
${identity}
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

${o.noCheck ? '' : denied}
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
  const path = mkdtempSync(join(tmpdir(), 'portcullis-nginx-'));
  const dir = { path, remove: () => rmSync(path, { recursive: true, force: true }) };
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
