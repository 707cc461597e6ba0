import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { createPostgresControlStore } from '../adapters/postgres/postgres-control-store.js';
import { createSqliteControlStore } from '../adapters/sqlite/sqlite-control-store.js';
import type { Config } from '../config/config.js';
import { systemClock, type Clock } from '../core/clock.js';
import { PortcullisError } from '../core/errors.js';
import type { ControlStore } from '../ports.js';
import { hasRiskStore } from '../services/risk-store.js';
import { buildAdminApp } from '../server/admin/build-admin-app.js';
import { createAdminTokenService } from '../services/admin-tokens.js';
import { createAuditService } from '../services/audit-service.js';
import type { Keyring } from '../services/envelope.js';
import { createKeyService } from '../services/key-service.js';
import {
  loadKeyring,
  openAuditSealer,
  rotateMasterKey,
  type LoadedKeyring,
} from '../services/master-keys.js';
import { createKeyCache } from '../services/key-cache.js';
import { createAccessTokenRuntime } from './access-tokens-runtime.js';
import { registerAdminOAuthRoutes } from '../server/admin/routes/oauth.js';
import { registerReadinessRoute } from '../server/readiness-route.js';
import {
  createDataPlane,
  createDummyKeys,
  createPlaneAuthority,
  createReplayGuard,
  type DataPlane,
  type PlaneAuthority,
  type PlaneShared,
} from './data-planes.js';
import { createCheckListener, createEmbeddedKeys } from './integrations.js';
import { createDataPlaneGovernance } from './data-plane-governance.js';
import { createGovernance } from './governance.js';
import { createLastUsedTracker } from './last-used.js';
import { createClusterRuntime } from './cluster.js';
import { createObservability, observabilityOptionsOf } from './observability.js';
import { createRateLimitRuntime } from './rate-limits.js';
import { createReadiness } from './readiness.js';

/**
 * Defence in depth for the JSON logs: nothing logs these fields today, but a field with one of
 * these names (a secret, token, passphrase, signature or credential header) is never written.
 */
export const LOG_REDACTIONS = {
  paths: [
    'secret',
    '*.secret',
    'token',
    '*.token',
    'passphrase',
    '*.passphrase',
    'signature',
    '*.signature',
    'req.headers.authorization',
    'req.headers.signature',
    'req.headers["x-mbx-apikey"]',
    'req.headers["ok-access-sign"]',
    'req.headers["ok-access-passphrase"]',
    'req.headers["x-bapi-sign"]',
  ],
  censor: '[redacted]',
};

export interface RuntimeOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /**
   * The embedded plugins' composition (`portcullis/fastify`, `portcullis/express`): the same
   * store, keys, limits and policies, but no listener, no sandbox exchange and no check listener;
   * cached keys are re-read after `embedded.keyRevalidateInterval` (changes made by other
   * processes sharing the store).
   */
  readonly embedded?: boolean;
}

/** Where a running node can be reached; written to `<dataDir>/runtime.json` for the CLI. */
export interface RuntimeInfo {
  readonly pid: number;
  readonly adminUrl: string;
  readonly dataPlanes: Record<string, { url: string; upstream: string }>;
  readonly adminTokenFile: string;
  /** The check listener for nginx / Envoy, when `check.enabled`. */
  readonly checkUrl?: string;
  readonly bootstrapTokenCreated: boolean;
  readonly masterKeyGenerated: boolean;
}

/** Picks the store adapter by URL scheme; PostgreSQL runs its migrations before resolving. */
function openStore(config: Config, clock: Clock): Promise<ControlStore> {
  if (config.store.startsWith('sqlite:'))
    return Promise.resolve(createSqliteControlStore({ path: config.store.slice(7), clock }));
  if (config.store.startsWith('postgres://') || config.store.startsWith('postgresql://'))
    return createPostgresControlStore({ url: config.store, clock });
  throw new PortcullisError(
    'CONFIG_INVALID',
    `Store ${config.store.split(':')[0] ?? ''} is not supported by this build.`,
  );
}

/** The composition root: reads the configuration, picks one adapter per port, wires services. */
export async function createRuntime(config: Config, options: RuntimeOptions = {}) {
  const env = options.env ?? process.env;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? pino({ level: config.logLevel, redact: LOG_REDACTIONS });
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });

  let loaded: LoadedKeyring = loadKeyring({
    envValue: env.PORTCULLIS_MASTER_KEY,
    keyFilePath: join(config.dataDir, 'master.key'),
  });
  if (loaded.generated && loaded.source.kind === 'file') {
    logger.warn(
      { keyFile: loaded.source.path },
      'PORTCULLIS_MASTER_KEY is not set: generated a master key file (mode 0600). Anyone who can read it and the database can decrypt every API secret; set PORTCULLIS_MASTER_KEY in production.',
    );
  }
  let keyring: Keyring = loaded.keyring;
  const store = await openStore(config, clock);
  let sealer;
  try {
    sealer = await openAuditSealer(store, keyring);
  } catch (error) {
    await store.close();
    throw error;
  }
  store.setAuditSealer(sealer);
  // Cluster mode (`redis` set): events over Redis pub/sub and the shared replay guard.
  const cluster = createClusterRuntime(config, {
    clock,
    logger,
    // Events arrive only after start(), when `observability` below exists.
    onEventLag: (type, seconds) => observability.metrics.observeEventLagSeconds(type, seconds),
  });
  const events = cluster.events;
  const keys = createKeyService({ store, clock, events, keyring: () => keyring });
  const tokens = createAdminTokenService({ store, clock, events });
  const audit = createAuditService({ store, sealer: () => sealer });
  const governance = await createGovernance({
    store,
    clock,
    keys,
    logger,
    events,
    keyChangeQuorum: Number(env.PORTCULLIS_KEY_CHANGE_QUORUM ?? '0') || 0,
    policyChangeQuorum: Number(env.PORTCULLIS_POLICY_CHANGE_QUORUM ?? '0') || 0,
  });

  const clusterLease = cluster.lease;
  const observability = createObservability(
    {
      clock,
      logger,
      audit: (draft) => store.appendAudit(draft),
      keys,
      // Responses in the control store and announced: a step-down holds on every node.
      ...(hasRiskStore(store) ? { riskStore: store.riskStore() } : {}),
      onRiskChange: (target) => events.publish({ type: 'risk.changed', target }),
      // Cluster: one node per interval runs the governance job (its actions are audited once).
      ...(clusterLease !== undefined
        ? { governanceLease: (ttlMs: number) => clusterLease('governance', ttlMs) }
        : {}),
      ...(cluster.riskWindows !== undefined ? { riskWindows: cluster.riskWindows } : {}),
    },
    observabilityOptionsOf(config),
  );
  const rateLimits = createRateLimitRuntime(config, {
    clock,
    logger,
    store,
    onBan: (environment) => observability.metrics.recordBan(environment),
    events,
  });
  let rotation: Promise<unknown> | undefined;
  const admin: FastifyInstance = buildAdminApp(
    {
      keys,
      tokens,
      audit,
      clock,
      ...(governance.services ? { governance: governance.services } : {}),
      bans: {
        list: () => rateLimits.listBans(),
        lift: (prefix, forgive, ctx) => rateLimits.liftBan(prefix, forgive, ctx),
      },
      observability: {
        metrics: observability.metrics,
        metricsPublic: config.admin.metricsPublic,
        risk: observability.risk,
        governance: observability.governance,
        keyUse: observability.keyUse,
        ...(observability.traffic ? { traffic: observability.traffic } : {}),
      },
      async rotateMasterKey(ctx) {
        if (rotation)
          throw new PortcullisError('CONFLICT', 'A master-key rotation is already running.');
        const run = rotateMasterKey(store, loaded, (next) => {
          keyring = next;
        });
        rotation = run;
        try {
          const result = await run;
          loaded = { ...loaded, keyring };
          await store.appendAudit({
            ts: clock.now(),
            actor: ctx.actor,
            action: 'master-key.rotate',
            target: 'master-key',
            requestId: ctx.requestId,
            data: {
              activeKeyId: result.activeKeyId,
              previousKeyIds: result.previousKeyIds,
              rewrapped: result.rewrapped,
            },
          });
          return { rewrapped: result.rewrapped, activeKeyId: result.activeKeyId };
        } finally {
          rotation = undefined;
        }
      },
    },
    { bodyLimitBytes: config.admin.bodyLimitBytes, logger },
  );

  const keyCache = createKeyCache({ keys, events }, { maxEntries: config.dataPlane.keyCacheSize });
  const replay = cluster.replay ?? createReplayGuard(config, clock);
  const dummyKeys = createDummyKeys();
  // The authorization server (docs/oauth.md): tokens are checked against the same key cache.
  const accessTokens = createAccessTokenRuntime(config, {
    store,
    keyring: () => keyring,
    keys: keyCache,
    clock,
    logger,
    events,
  });
  registerAdminOAuthRoutes(admin, {
    service: accessTokens,
    clock,
    audit: (draft) => store.appendAudit(draft),
  });
  // Readiness for load balancers: the store answers and (cluster) the key cache can be trusted.
  const readiness = createReadiness(
    { store, cluster: () => cluster.stats(), clock },
    { probeTimeoutMs: config.admin.readinessTimeoutMs },
  );
  registerReadinessRoute(admin, readiness);
  const lastUsed = createLastUsedTracker(store, { flushMs: 5_000, maxKeys: 10_000 });
  const planeGovernance =
    governance.services === undefined
      ? undefined
      : createDataPlaneGovernance({
          approvals: governance.services.approvals,
          withdrawals: governance.services.withdrawals,
          allowances: governance.services.allowances,
          keys,
          clock,
          logger,
        });
  const dataPlanes: DataPlane[] = [];
  const authorities = new Map<string, PlaneAuthority>();
  const embeddedKeys = options.embedded
    ? createEmbeddedKeys(keyCache, clock, config.embedded.keyRevalidateIntervalMs)
    : undefined;
  for (const env of [config.environments.production, config.environments.sandbox]) {
    if (!env.enabled) continue;
    const shared: PlaneShared = {
      config,
      clock,
      keys: observability.countingKeys(env.name, embeddedKeys ?? keyCache),
      replay,
      dummyKeys,
      logger,
      oauth: accessTokens,
      events,
      limitsFor: (environment) => rateLimits.forEnvironment(environment),
      policies: governance.snapshot,
      riskFor: (plane, routes) => observability.riskLookup(plane.name, routes),
      readiness,
      ...(planeGovernance !== undefined ? { governance: planeGovernance } : {}),
      onDecision: (record) => {
        if (record.decision.outcome === 'allow')
          lastUsed.record(record.decision.key.id, record.nowMs);
        observability.record(env.name, record);
      },
    };
    if (options.embedded) {
      authorities.set(env.name, createPlaneAuthority(env, shared));
      continue;
    }
    const plane = await createDataPlane(env, shared);
    dataPlanes.push(plane);
    authorities.set(env.name, plane.authority);
  }
  const check =
    config.check.enabled && !options.embedded
      ? createCheckListener(config, { authorities, clock, logger })
      : undefined;

  for (const plane of dataPlanes) {
    const targets = plane.upstream.targets;
    if (targets !== undefined) {
      observability.metrics.addUpstreamTargets(plane.name as 'production' | 'sandbox', {
        status: targets,
      });
    }
  }
  const tokenFile = join(config.dataDir, 'admin-token');
  let info: RuntimeInfo | undefined;

  return {
    config,
    store,
    keys,
    tokens,
    audit,
    events,
    cluster,
    admin,
    logger,
    keyCache,
    /** The authorization server's token service (the WebSocket gateway verifies with it). */
    accessTokens,
    dataPlanes,
    observability,
    /** Each enabled environment's pipeline, for the check listener and the embedded plugins. */
    authorities,
    check,
    /** The policy service (reloaded by an embedded instance); undefined without governance. */
    policies: governance.services?.policies,

    /** Starts every listener and writes runtime.json; returns where things are. */
    async start(): Promise<RuntimeInfo> {
      const { created } = await tokens.bootstrap(tokenFile);
      // A Redis that is down is not a start-up fault (onRedisDown decides); a slow one is waited for.
      await rateLimits.ready();
      await cluster.start({
        store,
        keyCache,
        policies: governance.services?.policies,
        risk: observability.risk,
        bans: {
          apply: (entry) => rateLimits.applyAudit(entry),
          reload: () => rateLimits.reloadBans(),
        },
      });
      await observability.start();
      const adminUrl = await admin.listen({
        host: config.admin.listen.host,
        port: config.admin.listen.port,
      });
      const planes: RuntimeInfo['dataPlanes'] = {};
      for (const plane of dataPlanes) {
        const env = config.environments[plane.name as 'production' | 'sandbox'];
        const url = await plane.app.listen({ host: env.listen.host, port: env.listen.port });
        planes[plane.name] = {
          url,
          upstream: plane.sandbox
            ? `built-in sandbox exchange (${plane.sandbox.url})`
            : plane.upstream.origin,
        };
      }
      const checkUrl = check ? await check.listen() : undefined;
      info = {
        pid: process.pid,
        adminUrl,
        ...(checkUrl !== undefined ? { checkUrl } : {}),
        dataPlanes: planes,
        adminTokenFile: tokenFile,
        bootstrapTokenCreated: created,
        masterKeyGenerated: loaded.generated,
      };
      // Write-then-rename: a reader (the CLI, a test) never sees half a file.
      const runtimeFile = join(config.dataDir, 'runtime.json');
      const body = {
        pid: info.pid,
        adminUrl,
        dataPlanes: info.dataPlanes,
        ...(checkUrl !== undefined ? { checkUrl } : {}),
      };
      writeFileSync(`${runtimeFile}.tmp`, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
      renameSync(`${runtimeFile}.tmp`, runtimeFile);
      return info;
    },

    async stop(): Promise<void> {
      await Promise.all(dataPlanes.map((plane) => plane.app.close()));
      await check?.app.close();
      embeddedKeys?.close();
      await admin.close();
      await Promise.all(
        dataPlanes.map(async (plane) => {
          await plane.upstream.close();
          await plane.sandbox?.close();
        }),
      );
      keyCache.close();
      await accessTokens.close();
      await lastUsed.close();
      await observability.close();
      await rateLimits.close();
      await cluster.close();
      await store.close();
    },
  };
}

export type Runtime = Awaited<ReturnType<typeof createRuntime>>;
