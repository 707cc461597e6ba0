import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createMemoryReplayGuard } from '../adapters/memory/replay-guard.js';
import type { Config, EnvironmentConfig } from '../config/config.js';
import type { Clock } from '../core/clock.js';
import { createClientIpResolver } from '../core/net/client-ip.js';
import type { PipelineLimits } from '../core/limits/limit-step.js';
import type { KeyLookup, PipelineDeps, RiskLookup } from '../core/pipeline.js';
import type { ReplayGuard } from '../core/replay/replay-guard.js';
import { PortcullisError } from '../core/errors.js';
import {
  compileExtractors,
  type ParameterExtractor,
  type RuleSnapshot,
} from '../core/policy/index.js';
import { createPolicyStep } from '../core/policy/policy-step.js';
import { compileRouteTable, type RouteSpec } from '../core/routes/route-table.js';
import { binanceScheme } from '../core/signing/binance.js';
import { bybitScheme } from '../core/signing/bybit.js';
import { nativeScheme } from '../core/signing/native/index.js';
import { createOkxScheme } from '../core/signing/okx.js';
import type { Dialect, SigningScheme, VerifierKey } from '../core/signing/types.js';
import { SANDBOX_ROUTES } from '../sandbox/routes.js';
import { startSandboxExchange, type RunningSandbox } from '../sandbox/start-sandbox-exchange.js';
import {
  buildDataPlaneApp,
  type DecisionRecord,
} from '../server/data-plane/build-data-plane-app.js';
import type { Upstream } from '../server/data-plane/upstream.js';
import { APPROVAL_POLL_ROUTE, type DataPlaneGovernanceRuntime } from './data-plane-governance.js';
import { createEnvironmentUpstream } from './environment-upstream.js';
import { registerOAuthRoutes } from '../server/data-plane/oauth-routes.js';
import type { AccessTokenService } from '../services/access-tokens.js';
import type { ChangeEvents } from '../ports.js';
import { attachWsGateway } from './ws-gateways.js';

const SCHEMES: Readonly<Record<Dialect, () => SigningScheme>> = {
  native: () => nativeScheme,
  binance: () => binanceScheme,
  bybit: () => bybitScheme,
  okx: () => createOkxScheme(),
};

/** Keys of the same shapes as real ones, verified against when a key id is unknown. */
export function createDummyKeys(): PipelineDeps['dummyKeys'] {
  const hmac: VerifierKey = { scheme: 'hmac', secrets: [randomBytes(32)] };
  const ed25519: VerifierKey = {
    scheme: 'ed25519',
    publicKey: generateKeyPairSync('ed25519').publicKey,
  };
  return { hmac, ed25519 };
}

/**
 * The default route table: the built-in sandbox exchange's routes in every dialect, plus the
 * requester's signed poll of a held request (`GET /api/v1/approvals/:id`, scope `read`), which
 * the gateway answers itself.
 */
export const DEFAULT_ROUTES: readonly RouteSpec[] = Object.freeze([
  ...SANDBOX_ROUTES,
  APPROVAL_POLL_ROUTE,
]);

export interface DataPlane {
  readonly name: string;
  readonly app: FastifyInstance;
  readonly upstream: Upstream;
  readonly sandbox: RunningSandbox | undefined;
}

/** Builds one environment's data plane and, for `upstream: builtin`, its own sandbox exchange. */
export async function createDataPlane(
  env: EnvironmentConfig,
  shared: {
    config: Config;
    clock: Clock;
    keys: KeyLookup;
    replay: ReplayGuard;
    dummyKeys: PipelineDeps['dummyKeys'];
    logger: Logger;
    onDecision: (record: DecisionRecord) => void;
    /** Rate limits, failure budget and bans of this environment; none when undefined. */
    limitsFor?: (env: EnvironmentConfig) => PipelineLimits | undefined;
    /** The current policy snapshot (swapped on every change); no policy step when undefined. */
    policies?: () => RuleSnapshot;
    /** Anomaly responses in force in this environment (docs/observability.md). */
    riskFor?: (env: EnvironmentConfig, routes: readonly RouteSpec[]) => RiskLookup;
    /** Approval holds and withdrawal rules on the data plane; none when undefined. */
    governance?: DataPlaneGovernanceRuntime;
    /** The authorization server; its endpoints are served when `oauth.enabled` (docs/oauth.md). */
    oauth?: AccessTokenService;
    /** Key changes, so live WebSocket sessions of a changed key are re-checked at once. */
    events?: ChangeEvents;
  },
): Promise<DataPlane> {
  let sandbox: RunningSandbox | undefined;
  let upstreamToken: string | undefined;
  let origin = env.upstream;
  if (env.upstream === 'builtin') {
    upstreamToken = randomBytes(24).toString('base64url');
    sandbox = await startSandboxExchange({
      host: '127.0.0.1',
      port: 0,
      upstreamToken,
      clock: shared.clock,
    });
    origin = sandbox.url;
  }
  const upstream = createEnvironmentUpstream(env, origin, shared);
  const limits = shared.limitsFor?.(env);
  const routeSpecs = env.routes ?? DEFAULT_ROUTES;
  const policies =
    shared.policies === undefined
      ? undefined
      : createPolicyStep({
          environment: env.name,
          snapshot: shared.policies,
          extractors: compileRouteExtractors(routeSpecs),
        });
  const pipeline: PipelineDeps = {
    environment: env.name,
    schemes: env.dialects.map((dialect) => SCHEMES[dialect]()),
    routes: compileRouteTable(routeSpecs),
    window: { pastMs: env.windowPastMs, futureMs: env.windowFutureMs },
    keys: shared.keys,
    replay: shared.replay,
    dummyKeys: shared.dummyKeys,
    ...(limits !== undefined ? { limits } : {}),
    ...(policies !== undefined ? { policies } : {}),
    ...(shared.riskFor !== undefined ? { risk: shared.riskFor(env, routeSpecs) } : {}),
  };
  const governance = shared.governance?.forPlane(env.name, {
    upstream,
    upstreamToken,
    routes: pipeline.routes,
    policies,
    risk: pipeline.risk,
  });
  const app = buildDataPlaneApp(
    {
      pipeline,
      clientIp: createClientIpResolver({ trustedProxies: shared.config.dataPlane.trustedProxies }),
      upstream,
      clock: shared.clock,
      ...(upstreamToken !== undefined ? { upstreamToken } : {}),
      onDecision: shared.onDecision,
      ...(governance !== undefined ? { governance } : {}),
    },
    {
      bodyLimitBytes: shared.config.dataPlane.bodyLimitBytes,
      headersTimeoutMs: shared.config.dataPlane.headersTimeoutMs,
      requestTimeoutMs: shared.config.dataPlane.requestTimeoutMs,
      logger: shared.logger.child({ environment: env.name }),
    },
  );
  if (shared.oauth !== undefined && shared.config.oauth.enabled) {
    registerOAuthRoutes(app, {
      environment: env.name,
      service: shared.oauth,
      pipeline,
      clientIp: createClientIpResolver({ trustedProxies: shared.config.dataPlane.trustedProxies }),
      clock: shared.clock,
    });
  }
  if (shared.config.dataPlane.websocket.enabled) {
    attachWsGateway(app, {
      pipeline,
      policies,
      clientIp: createClientIpResolver({ trustedProxies: shared.config.dataPlane.trustedProxies }),
      clock: shared.clock,
      origin,
      upstreamToken,
      ...(shared.events !== undefined ? { events: shared.events } : {}),
      ...(shared.oauth !== undefined && shared.config.oauth.enabled
        ? { tokens: shared.oauth }
        : {}),
      config: shared.config.dataPlane.websocket,
    });
  }
  return { name: env.name, app, upstream, sandbox };
}

/** Compiles every route's parameter extractors once; a bad expression refuses start-up. */
export function compileRouteExtractors(
  routes: readonly RouteSpec[],
): ReadonlyMap<RouteSpec, ParameterExtractor> {
  const map = new Map<RouteSpec, ParameterExtractor>();
  const problems: string[] = [];
  for (const route of routes) {
    if (route.params === undefined) continue;
    const compiled = compileExtractors(route.params);
    if (compiled.ok) map.set(route, compiled.extractor);
    else {
      for (const e of compiled.errors) {
        problems.push(
          `${route.method} ${route.path} ${e.param} ${e.line}:${e.column}: ${e.message}`,
        );
      }
    }
  }
  if (problems.length > 0) {
    throw new PortcullisError(
      'CONFIG_INVALID',
      `Route parameters do not compile:\n  ${problems.join('\n  ')}`,
      problems,
    );
  }
  return map;
}

export function createReplayGuard(config: Config, clock: Clock): ReplayGuard {
  return createMemoryReplayGuard({ clock }, { maxEntries: config.dataPlane.replayCacheSize });
}
