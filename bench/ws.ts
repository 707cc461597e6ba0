/**
 * `npm run bench -- --ws [--json]`: authorized messages per second through the WebSocket gateway
 * as a ratio to a bare ws relay measured in the same run (target ≥ 0.7), and the revocation
 * cut-off: from a key.changed event for a revoked key to the client seeing its close.
 * Both paths relay the same order.place messages to the same sandbox exchange's /ws.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { createMemoryReplayGuard } from '../src/adapters/memory/replay-guard.js';
import { createLocalEvents } from '../src/app/local-events.js';
import { upstreamWsUrl } from '../src/app/ws-gateways.js';
import { signNativeWsLogin } from '../src/client/ws-login.js';
import type { ApiKey } from '../src/core/keys/model.js';
import type { CachedKey } from '../src/core/pipeline.js';
import { compileRouteTable } from '../src/core/routes/route-table.js';
import { SANDBOX_ROUTES } from '../src/sandbox/routes.js';
import { startSandboxExchange } from '../src/sandbox/start-sandbox-exchange.js';
import { createWsGateway } from '../src/server/ws/ws-gateway.js';
import { toCachedKey } from '../src/services/key-cache.js';
import { memoryLimits } from './limiter.js';

const SECRET = `psk_bench_${randomBytes(16).toString('hex')}`;
const CONNECTIONS = 4;
const IN_FLIGHT = 32;
const DURATION_MS = 2_000;
const ORDER = { symbol: 'BTCUSDT', side: 'buy', type: 'limit', quantity: '0.0001', price: '1' };

function benchKey(id: string, status: ApiKey['status'] = 'active'): CachedKey {
  const now = Date.now();
  const key: ApiKey = {
    id,
    accountId: `acc_${id.slice(-8)}`,
    label: 'bench',
    environment: 'sandbox',
    scheme: 'hmac',
    scopes: ['read', 'trade'],
    ipAllowlist: [],
    hasPassphrase: false,
    status,
    createdAt: now - 1000,
    expiresAt: null,
    revokedAt: status === 'revoked' ? now : null,
    lastUsedAt: null,
    epoch: 1,
    secretVersion: 1,
  };
  return toCachedKey({
    stored: { key, passphraseHash: null, publicKeyPem: null },
    secrets: [{ bytes: Buffer.from(SECRET), notAfter: null }],
    publicKey: null,
  });
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`;
}

/** A relay that forwards frames both ways with a fixed identity: no authentication at all. */
async function startBareRelay(upstream: string, headers: Record<string, string>) {
  const server = createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on('connection', (client) => {
    const up = new WebSocket(upstream, { headers });
    const queued: Buffer[] = [];
    up.on('open', () => queued.splice(0).forEach((m) => up.send(m)));
    up.on('message', (data: Buffer) => client.send(data.toString('utf8')));
    client.on('message', (data: Buffer) => {
      if (up.readyState === WebSocket.OPEN) up.send(data.toString('utf8'));
      else queued.push(data);
    });
    client.on('close', () => up.close());
  });
  return { url: await listen(server), close: () => server.close() };
}

/** Drives `CONNECTIONS` sockets with `IN_FLIGHT` orders each; answered messages per second. */
async function drive(url: string, login: boolean): Promise<number> {
  const sockets = await Promise.all(
    Array.from({ length: CONNECTIONS }, async (_, c) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      await new Promise((resolve) => ws.once('open', resolve));
      if (login) {
        ws.send(
          JSON.stringify(
            signNativeWsLogin({
              key: { keyId: `pk_test_bench_${c}`, secret: SECRET },
              environment: 'sandbox',
              createdSeconds: Math.floor(Date.now() / 1000),
            }),
          ),
        );
        await new Promise((resolve) => ws.once('message', resolve));
      }
      return ws;
    }),
  );
  let answered = 0;
  let running = true;
  const message = JSON.stringify({ id: 1, method: 'order.place', params: ORDER });
  for (const ws of sockets) {
    ws.on('message', () => {
      answered += 1;
      if (running) ws.send(message);
    });
    for (let i = 0; i < IN_FLIGHT; i++) ws.send(message);
  }
  const startedAt = performance.now();
  const before = answered;
  await new Promise((resolve) => setTimeout(resolve, DURATION_MS));
  const rate = ((answered - before) * 1000) / (performance.now() - startedAt);
  running = false;
  for (const ws of sockets) ws.close();
  return rate;
}

/** Runs the WebSocket benchmark; returns the figures for --json. */
export async function benchWebSocket(log: (line: string) => void) {
  const upstreamToken = randomBytes(24).toString('base64url');
  const sandbox = await startSandboxExchange({ upstreamToken });
  const identity = {
    'x-portcullis-upstream-token': upstreamToken,
    'x-portcullis-account': 'acc_bench',
    'x-portcullis-key': 'pk_test_bench',
    'x-portcullis-scopes': 'read,trade',
  };
  const bare = await startBareRelay(upstreamWsUrl(sandbox.url), identity);
  const keys = new Map<string, CachedKey>();
  for (let c = 0; c < CONNECTIONS + 1; c++)
    keys.set(`pk_test_bench_${c}`, benchKey(`pk_test_bench_${c}`));
  const events = createLocalEvents();
  const gateway = createWsGateway(
    {
      authorize: {
        environment: 'sandbox',
        keys: { get: (id) => keys.get(id) },
        routes: compileRouteTable(SANDBOX_ROUTES),
        window: { pastMs: 5000, futureMs: 1000 },
        replay: createMemoryReplayGuard({ clock: { now: () => Date.now() } }),
        dummyKeys: {
          hmac: { scheme: 'hmac', secrets: [randomBytes(32)] },
          ed25519: { scheme: 'ed25519', publicKey: generateKeyPairSync('ed25519').publicKey },
        },
        limits: memoryLimits(),
      },
      clock: { now: () => Date.now() },
      clientIp: (peer) => peer,
      upstream: {
        url: upstreamWsUrl(sandbox.url),
        headers: { 'x-portcullis-upstream-token': upstreamToken },
      },
      events,
    },
    {
      path: '/ws',
      maxPayloadBytes: 16_384,
      maxMessagesPerSecond: 1_000_000,
      maxConnectionsPerKey: 10,
      maxConnectionsPerIp: 100,
      maxBufferedBytes: 4 * 1024 * 1024,
      loginTimeoutMs: 10_000,
      idleTimeoutMs: 120_000,
      heartbeatIntervalMs: 20_000,
      recheckIntervalMs: 250,
    },
  );
  const server = createServer();
  server.on('upgrade', (request, socket, head: Buffer) =>
    gateway.handleUpgrade(request, socket, head),
  );
  const gatewayUrl = await listen(server);
  try {
    // Alternate so that machine drift affects both alike; keep the best of each.
    const bareRates: number[] = [];
    const gatewayRates: number[] = [];
    for (let i = 0; i < 3; i++) {
      bareRates.push(await drive(bare.url, false));
      gatewayRates.push(await drive(gatewayUrl, true));
    }
    const bareRate = Math.max(...bareRates);
    const gatewayRate = Math.max(...gatewayRates);
    const cutoffMs = await revocationCutoff(gatewayUrl, keys, events);
    log(`  bare ws relay (order.place to the sandbox)    ${bareRate.toFixed(0)} msg/s`);
    log(
      `  ws gateway, authorized + relayed              ${gatewayRate.toFixed(0)} msg/s   (${(gatewayRate / bareRate).toFixed(2)} × bare relay; target ≥ 0.7)`,
    );
    log(`  ws revocation cut-off (event → client close)  ${cutoffMs.toFixed(1)} ms`);
    return {
      ws_gateway_msgs_per_s: Math.round(gatewayRate),
      ws_bare_relay_msgs_per_s: Math.round(bareRate),
      ws_to_bare_relay: Number((gatewayRate / bareRate).toFixed(3)),
      ws_revocation_cutoff_ms: Number(cutoffMs.toFixed(1)),
    };
  } finally {
    gateway.close();
    server.closeAllConnections();
    server.close();
    bare.close();
    await sandbox.close();
  }
}

/** A session streaming orders; its key is revoked; ms until the client sees the close. */
async function revocationCutoff(
  url: string,
  keys: Map<string, CachedKey>,
  events: ReturnType<typeof createLocalEvents>,
): Promise<number> {
  const keyId = `pk_test_bench_${CONNECTIONS}`;
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await new Promise((resolve) => ws.once('open', resolve));
  ws.send(
    JSON.stringify(
      signNativeWsLogin({
        key: { keyId, secret: SECRET },
        environment: 'sandbox',
        createdSeconds: Math.floor(Date.now() / 1000),
      }),
    ),
  );
  await new Promise((resolve) => ws.once('message', resolve));
  const message = JSON.stringify({ id: 1, method: 'order.place', params: ORDER });
  ws.on('message', () => ws.readyState === WebSocket.OPEN && ws.send(message));
  for (let i = 0; i < 8; i++) ws.send(message);
  await new Promise((resolve) => setTimeout(resolve, 200));
  const closed = new Promise<number>((resolve) =>
    ws.once('close', () => resolve(performance.now())),
  );
  const revokedAt = performance.now();
  keys.set(keyId, benchKey(keyId, 'revoked'));
  events.publish({ type: 'key.changed', keyId, epoch: 2 });
  return (await closed) - revokedAt;
}
