/**
 * `npm run bench -- --ws [--json]`: authorized messages per second through the WebSocket gateway
 * as a ratio to a bare ws relay measured in the same run (target ≥ 0.7), and the revocation
 * cut-off: from a key.changed event for a revoked key to the client seeing its close.
 * Every path relays the same order.place messages to the same sandbox exchange's /ws; the
 * method (CPU-time rates, rotating rounds, two baselines) is in docs/websocket.md §11.
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
import { coalesceWrites } from '../src/server/ws/coalesce-writes.js';
import { createWsGateway } from '../src/server/ws/ws-gateway.js';
import { toCachedKey } from '../src/services/key-cache.js';
import { memoryLimits } from './limiter.js';

const SECRET = `psk_bench_${randomBytes(16).toString('hex')}`;
const CONNECTIONS = 4;
const IN_FLIGHT = 64;
/** Measured rounds after one warm-up round; each round runs both paths, in alternating order. */
const ROUNDS = 7;
const DURATION_MS = 1_500;
/** Time for a round's sockets to reach a steady state before counting starts. */
const SETTLE_MS = 200;
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

/**
 * A relay that forwards frames both ways with a fixed identity: no authentication at all.
 * `tuned`: frames forwarded as bytes and writes coalesced per turn, as the gateway does (the
 * baseline of ws_to_bare_relay); otherwise decoded to strings and written one by one (the
 * first relay this bench used, kept as ws_to_naive_relay).
 */
async function startBareRelay(upstream: string, headers: Record<string, string>, tuned: boolean) {
  const server = createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  const noHold = (): void => undefined;
  wss.on('connection', (client, request) => {
    const holdClient = tuned ? coalesceWrites(request.socket) : noHold;
    let holdUp = noHold;
    const up = new WebSocket(upstream, { headers });
    const queued: Buffer[] = [];
    const forward = (data: Buffer) => (tuned ? data : data.toString('utf8'));
    if (tuned) up.once('upgrade', (response) => (holdUp = coalesceWrites(response.socket)));
    up.on('open', () => queued.splice(0).forEach((m) => up.send(forward(m), { binary: false })));
    up.on('message', (data: Buffer) => {
      holdClient();
      client.send(forward(data), { binary: false });
    });
    client.on('message', (data: Buffer) => {
      if (up.readyState !== WebSocket.OPEN) return void queued.push(data);
      holdUp();
      up.send(forward(data), { binary: false });
    });
    client.on('close', () => up.close());
  });
  return { url: await listen(server), close: () => server.close() };
}

/** Answered messages per second of wall-clock time and per second of this process's CPU time. */
interface Rate {
  readonly wall: number;
  readonly cpu: number;
}

/**
 * Drives `CONNECTIONS` sockets with `IN_FLIGHT` orders each. Clients, relay or gateway and the
 * sandbox share this one process, which the load keeps busy: messages per CPU-second is what
 * one core does, and other processes on the machine inflate it far less than wall time.
 */
async function drive(url: string, login: boolean): Promise<Rate> {
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
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  const startedAt = performance.now();
  const cpuBefore = process.cpuUsage();
  const before = answered;
  await new Promise((resolve) => setTimeout(resolve, DURATION_MS));
  const count = answered - before;
  const cpu = process.cpuUsage(cpuBefore);
  const rate: Rate = {
    wall: (count * 1000) / (performance.now() - startedAt),
    cpu: (count * 1e6) / (cpu.user + cpu.system),
  };
  running = false;
  // The next round starts only once these sockets (and the relay's upstream ones) are gone.
  await Promise.all(
    sockets.map((ws) => {
      const closed = new Promise((resolve) => ws.once('close', resolve));
      ws.close();
      return closed;
    }),
  );
  return rate;
}

/**
 * Runs every path `ROUNDS` times after a warm-up round, rotating which goes first each round so
 * that drift of the shared machine falls on all alike.
 */
async function alternate<K extends string>(
  paths: Record<K, () => Promise<Rate>>,
): Promise<Record<K, Rate[]>> {
  const names = Object.keys(paths) as K[];
  const rates = Object.fromEntries(names.map((n) => [n, [] as Rate[]])) as Record<K, Rate[]>;
  for (const name of names) await paths[name]();
  for (let round = 0; round < ROUNDS; round++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(round + i) % names.length] as K;
      rates[name][round] = await paths[name]();
    }
  }
  return rates;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[mid] ?? 0)
    : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
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
  const bare = await startBareRelay(upstreamWsUrl(sandbox.url), identity, true);
  const naive = await startBareRelay(upstreamWsUrl(sandbox.url), identity, false);
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
    const rates = await alternate({
      bare: () => drive(bare.url, false),
      naive: () => drive(naive.url, false),
      gateway: () => drive(gatewayUrl, true),
    });
    // The headline: median messages per CPU-second of each path (robust to other processes).
    const [bareRate, naiveRate, gatewayRate] = [rates.bare, rates.naive, rates.gateway].map((r) =>
      median(r.map((x) => x.cpu)),
    ) as [number, number, number];
    // Wall clock, best round of each (interference only ever slows a round).
    const [bareWall, gatewayWall] = [rates.bare, rates.gateway].map((r) =>
      Math.max(...r.map((x) => x.wall)),
    ) as [number, number];
    const roundRatios = rates.gateway.map((g, i) =>
      (g.cpu / (rates.bare[i]?.cpu ?? g.cpu)).toFixed(2),
    );
    // A refusal is answered without the upstream round trip: it must not count as throughput.
    const { denied } = gateway.stats();
    if (denied > 0) throw new Error(`the gateway refused ${denied} bench messages`);
    const cutoffMs = await revocationCutoff(gatewayUrl, keys, events);
    log(`  bare ws relay (order.place to the sandbox)    ${bareRate.toFixed(0)} msg/CPU-s`);
    log(`  naive ws relay (strings, a write per frame)   ${naiveRate.toFixed(0)} msg/CPU-s`);
    log(
      `  ws gateway, authorized + relayed              ${gatewayRate.toFixed(0)} msg/CPU-s   (${(gatewayRate / bareRate).toFixed(2)} × bare relay; target ≥ 0.7; ${(gatewayRate / naiveRate).toFixed(2)} × naive relay)`,
    );
    log(
      `    median of ${ROUNDS} rotating rounds; gateway/bare by round ${roundRatios.join(' ')}; wall clock, best round: ${gatewayWall.toFixed(0)} vs ${bareWall.toFixed(0)} msg/s (${(gatewayWall / bareWall).toFixed(2)})`,
    );
    log(`  ws revocation cut-off (event → client close)  ${cutoffMs.toFixed(1)} ms`);
    return {
      ws_gateway_msgs_per_s: Math.round(gatewayRate),
      ws_bare_relay_msgs_per_s: Math.round(bareRate),
      ws_to_bare_relay: Number((gatewayRate / bareRate).toFixed(3)),
      ws_naive_relay_msgs_per_s: Math.round(naiveRate),
      ws_to_naive_relay: Number((gatewayRate / naiveRate).toFixed(3)),
      ws_to_bare_relay_wall_clock: Number((gatewayWall / bareWall).toFixed(3)),
      ws_revocation_cutoff_ms: Number(cutoffMs.toFixed(1)),
    };
  } finally {
    gateway.close();
    server.closeAllConnections();
    server.close();
    bare.close();
    naive.close();
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
