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
import { createPolicyStep, type PolicyStep } from '../core/policy/policy-step.js';
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
import type { DataPlaneGovernance } from '../server/data-plane/data-plane-governance.js';
import type { Upstream } from '../server/data-plane/upstream.js';
import { APPROVAL_POLL_ROUTE, type DataPlaneGovernanceRuntime } from './data-plane-governance.js';
import { registerOAuthRoutes } from '../server/data-plane/oauth-routes.js';
import type { AccessTokenService } from '../services/access-tokens.js';
import { createEnvironmentUpstream } from './environment-upstream.js';
import { attachWsGateway } from './ws-gateways.js';
import type { ChangeEvents } from '../ports.js';
import type { ReadinessState } from './readiness.js';
import { registerReadinessRoute } from '../server/readiness-route.js';

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

/**
 * What authorizes a request of one environment without forwarding it: the data plane's own
 * pipeline (same key cache, replay guard, limits, policies, risk) and decision reporting. The
 * check listener (nginx, Envoy) and the embedded plugins run requests through it.
 */
export interface PlaneAuthority {
  readonly environment: EnvironmentConfig['name'];
  readonly pipeline: PipelineDeps;
  readonly onDecision: (record: DecisionRecord) => void;
  /** Withdrawal reservations; undefined without governance. */
  readonly governance?: Pick<DataPlaneGovernance, 'reserve'>;
}

export interface DataPlane {
  readonly name: string;
  readonly app: FastifyInstance;
  readonly upstream: Upstream;
  readonly sandbox: RunningSandbox | undefined;
  readonly authority: PlaneAuthority;
}

/** What every environment's pipeline is composed from (one instance shared by the planes). */
export interface PlaneShared {
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
  /** `GET /readyz` on the data-plane listener too (the admin listener always has it). */
  readiness?: { check(): Promise<ReadinessState> };
}

/** One environment's pipeline: schemes, routes, window, limits, policies and risk. */
export function createPlanePipeline(
  env: EnvironmentConfig,
  shared: PlaneShared,
): { pipeline: PipelineDeps; policies: PolicyStep | undefined } {
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
  return { pipeline, policies };
}

/**
 * One environment's authority without a listener or an upstream (the embedded plugins): no
 * approval holds (a held request is refused), withdrawal reservations when governance is on.
 */
export function createPlaneAuthority(env: EnvironmentConfig, shared: PlaneShared): PlaneAuthority {
  const { pipeline } = createPlanePipeline(env, shared);
  return {
    environment: env.name,
    pipeline,
    onDecision: shared.onDecision,
    ...(shared.governance !== undefined
      ? { governance: { reserve: shared.governance.reserve } }
      : {}),
  };
}

/** Builds one environment's data plane and, for `upstream: builtin`, its own sandbox exchange. */
export async function createDataPlane(
  env: EnvironmentConfig,
  shared: PlaneShared,
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
  const { pipeline, policies } = createPlanePipeline(env, shared);
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
  if (shared.readiness !== undefined) registerReadinessRoute(app, shared.readiness);
  if (shared.oauth !== undefined && shared.config.oauth.enabled) {
    registerOAuthRoutes(app, {
      environment: env.name,
      service: shared.oauth,
      pipeline,
      clientIp: createClientIpResolver({ trustedProxies: shared.config.dataPlane.trustedProxies }),
      clock: shared.clock,
      onDecision: shared.onDecision,
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
      ...(shared.governance !== undefined ? { governance: shared.governance } : {}),
      config: shared.config.dataPlane.websocket,
    });
  }
  const authority: PlaneAuthority = {
    environment: env.name,
    pipeline,
    onDecision: shared.onDecision,
    ...(governance !== undefined ? { governance } : {}),
  };
  return { name: env.name, app, upstream, sandbox, authority };
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
