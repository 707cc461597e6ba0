/** What the in-process WebSocket gateway tests share: sandbox authorization deps and options. */
import { generateKeyPairSync } from 'node:crypto';
import { createMemoryReplayGuard } from '../../../src/adapters/memory/replay-guard.js';
import type { Clock } from '../../../src/core/clock.js';
import type { KeyLookup } from '../../../src/core/pipeline.js';
import { compileRouteTable } from '../../../src/core/routes/route-table.js';
import type { WsLoginDeps } from '../../../src/core/ws/verify-ws-login.js';
import type { WsGatewayOptions } from '../../../src/server/ws/ws-context.js';
import { SANDBOX_ROUTES } from '../../../src/sandbox/routes.js';

/** The sandbox environment's routes, a 5 s / 1 s window, a memory replay guard and dummy keys. */
export function sandboxAuthorize(keys: KeyLookup, clock: Clock): WsLoginDeps {
  return {
    environment: 'sandbox',
    keys,
    routes: compileRouteTable(SANDBOX_ROUTES),
    window: { pastMs: 5000, futureMs: 1000 },
    replay: createMemoryReplayGuard({ clock }),
    dummyKeys: {
      hmac: { scheme: 'hmac', secrets: [Buffer.from('dummy')] },
      ed25519: { scheme: 'ed25519', publicKey: generateKeyPairSync('ed25519').publicKey },
    },
  };
}

/** Gateway options for tests: small caps, long idle and heartbeat times. */
export const TEST_WS_OPTIONS: WsGatewayOptions = {
  path: '/ws',
  maxPayloadBytes: 16_384,
  maxMessagesPerSecond: 5,
  maxConnectionsPerKey: 5,
  maxConnectionsPerIp: 20,
  loginTimeoutMs: 5_000,
  idleTimeoutMs: 60_000,
  heartbeatIntervalMs: 60_000,
  maxBufferedBytes: 256 * 1024,
  recheckIntervalMs: 1000,
};
