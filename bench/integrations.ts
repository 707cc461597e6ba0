/**
 * `npm run bench -- --integrations`: nginx + the check listener (auth_request) against nginx
 * alone and against the Portcullis proxy, in the same run, all three in front of the same tiny
 * engine: `nginx_check_to_nginx` and `nginx_check_to_gateway`.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNginx, type RunningNginx } from './nginx.js';
import { runLoad, startGateway, type LoadResult } from './processes.js';
import { seedDataDir } from './seed-data-dir.js';

export interface IntegrationFigures {
  readonly nginx_rps: number;
  readonly nginx_check_rps: number;
  readonly gateway_rps: number;
  readonly nginx_check_to_nginx: number;
  readonly nginx_check_to_gateway: number;
  readonly nginx_check_failed: number;
}

/** An engine that answers every request 200 with a small JSON body. */
async function startEngine(): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"balances":[]}');
    });
  });
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolveClose) => server.close(() => resolveClose())),
  };
}

const best = (runs: LoadResult[]): LoadResult => runs.reduce((a, b) => (b.rps > a.rps ? b : a));

export async function benchIntegrations(log: (line: string) => void): Promise<IntegrationFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-bench-int-'));
  const engine = await startEngine();
  try {
    const seeded = await seedDataDir(join(dir, 'data'), 200);
    const keysFile = join(dir, 'keys.json');
    writeFileSync(keysFile, JSON.stringify(seeded.keys.slice(0, 100)));
    const configFile = join(dir, 'portcullis.json');
    writeFileSync(
      configFile,
      JSON.stringify({
        check: { enabled: true, listen: { host: '127.0.0.1', port: 0 } },
        environments: {
          production: { enabled: false },
          sandbox: { upstream: engine.url, limits: { enabled: false } },
        },
      }),
    );
    const gateway = await startGateway(
      join(dir, 'data'),
      { PORTCULLIS_MASTER_KEY: seeded.masterKey },
      ['--config', configFile],
    );
    const runtime = JSON.parse(readFileSync(join(dir, 'data', 'runtime.json'), 'utf8')) as {
      checkUrl?: string;
    };
    const checkUrl = runtime.checkUrl ?? '';
    // Every process started is stopped, also when a later one fails to start.
    let alone: RunningNginx | undefined;
    let withCheck: RunningNginx | undefined;
    const load = { path: '/api/v1/balances', connections: 32, durationMs: 5_000, warmupMs: 1_000 };
    const runs = {
      nginx: [] as LoadResult[],
      check: [] as LoadResult[],
      gateway: [] as LoadResult[],
    };
    try {
      alone = await startNginx({ checkUrl, engineUrl: engine.url, noCheck: true });
      withCheck = await startNginx({ checkUrl, engineUrl: engine.url });
      // Alternated so that drift in the machine's load affects all three alike.
      for (let i = 0; i < 2; i++) {
        runs.nginx.push(await runLoad({ ...load, url: alone.url, keysFile }));
        runs.check.push(await runLoad({ ...load, url: withCheck.url, keysFile }));
        runs.gateway.push(await runLoad({ ...load, url: gateway.sandboxUrl, keysFile }));
      }
    } finally {
      await alone?.stop();
      await withCheck?.stop();
      await gateway.stop();
    }
    const nginx = best(runs.nginx);
    const check = best(runs.check);
    const proxy = best(runs.gateway);
    const figures: IntegrationFigures = {
      nginx_rps: nginx.rps,
      nginx_check_rps: check.rps,
      gateway_rps: proxy.rps,
      nginx_check_to_nginx: check.rps / nginx.rps,
      nginx_check_to_gateway: check.rps / proxy.rps,
      nginx_check_failed: check.failed,
    };
    log(`  nginx alone (signed GET, not checked)         ${nginx.rps.toFixed(0)} req/s`);
    log(
      `  nginx + auth_request to the check listener    ${check.rps.toFixed(0)} req/s   (${figures.nginx_check_to_nginx.toFixed(2)} × nginx alone; p99 ${check.p99_ms.toFixed(1)} ms; failed ${check.failed})`,
    );
    log(
      `  Portcullis proxy (same keys, same engine)     ${proxy.rps.toFixed(0)} req/s   (nginx + check = ${figures.nginx_check_to_gateway.toFixed(2)} × proxy)`,
    );
    return figures;
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
