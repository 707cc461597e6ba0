/**
 * Composition of the observability pieces (docs/observability.md): metrics, the traffic log,
 * anomaly detection with its response ladder, alerts and their webhooks, and the key-governance
 * job. The data plane reports each request once its answer is sent (`record`); everything here
 * runs off the request path except the cheap local metric counters and the risk lookup.
 */
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { createSqliteRiskStore, moveLocalRiskRows } from '../adapters/sqlite/risk-store.js';
import { createSqliteKeyUseStore } from '../adapters/sqlite/key-use-store.js';
import { createSqliteTrafficLogStore } from '../adapters/sqlite/traffic-log-store.js';
import type { AuditDraft } from '../core/audit/audit-chain.js';
import type { Clock } from '../core/clock.js';
import type { GovernancePolicies } from '../core/governance/index.js';
import type { Environment } from '../core/keys/model.js';
import type { CachedKey, Decision, KeyLookup, RiskLookup } from '../core/pipeline.js';
import {
  DEFAULT_RISK_MEMORY,
  riskIpPrefix,
  type ResponsePolicy,
  type RiskEngineConfig,
} from '../core/risk/index.js';
import type { RouteSpec } from '../core/routes/route-table.js';
import type { DecisionRecord } from '../server/data-plane/build-data-plane-app.js';
import { createGovernanceJob, type GovernanceJob } from '../services/governance-job.js';
import { createKeyUseTracker, type KeyUseTracker } from '../services/key-use.js';
import type { KeyService } from '../services/key-service.js';
import {
  UNMATCHED_ROUTE,
  createMetrics,
  type Metrics,
  type RateLimitSubject,
} from '../services/metrics.js';
import type { SharedRiskWindows } from '../core/risk/shared-windows.js';
import { createRiskMonitor, type RiskMonitor } from '../services/risk-monitor.js';
import { createRiskService, type RiskService } from '../services/risk-service.js';
import { createMemoryRiskStore, type RiskStore } from '../services/risk-store.js';
import {
  DEFAULT_TRAFFIC_LOG_OPTIONS,
  createTrafficLog,
  systemTimers,
  type Timers,
  type TrafficLog,
  type TrafficLogOptions,
} from '../services/traffic-log.js';
import {
  createWebhookSender,
  DEFAULT_WEBHOOK_OPTIONS,
  type WebhookEndpoint,
} from '../services/webhooks.js';

export interface ObservabilityOptions {
  /** `sqlite:<file>` for the traffic log and last uses (alerts and responses without `riskStore`), or `memory`. */
  readonly database: string;
  readonly trafficLog: TrafficLogOptions & { readonly enabled: boolean };
  readonly risk: {
    readonly enabled: Readonly<Record<Environment, boolean>>;
    readonly engine: RiskEngineConfig;
    readonly responses: ResponsePolicy;
  };
  readonly webhooks: readonly WebhookEndpoint[];
  readonly governance: {
    readonly enabled: boolean;
    readonly intervalMs: number;
    readonly policies: GovernancePolicies;
  };
}

export interface ObservabilityDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly audit: (draft: AuditDraft) => Promise<unknown>;
  readonly keys: Pick<KeyService, 'listKeys' | 'updateKey'>;
  /**
   * The control store's risk tables, shared by every node on the store (a cluster's
   * PostgreSQL); without it alerts and responses stay in this node's database.
   */
  readonly riskStore?: RiskStore;
  /** Told when this node stored a risk change (the cluster publishes `risk.changed`). */
  readonly onRiskChange?: (target: string) => void;
  /** Cluster mode: the governance job runs only on the node holding this lease per interval. */
  readonly governanceLease?: (ttlMs: number) => Promise<boolean>;
  /** Cluster mode: failure bursts and key sprays counted over every node's denials. */
  readonly riskWindows?: SharedRiskWindows;
  readonly timers?: Timers;
  readonly fetch?: typeof fetch;
}

export interface Observability {
  readonly metrics: Metrics;
  readonly traffic: TrafficLog | undefined;
  readonly risk: RiskService;
  readonly monitor: RiskMonitor;
  readonly governance: GovernanceJob;
  /** Each key's last use (time and client IP), for `lastUsedIp` in the admin API. */
  readonly keyUse: KeyUseTracker;
  /** Processes the recorded requests now and waits for their risk responses (tests, close). */
  drain(): Promise<void>;
  /** One data-plane request, reported after its answer was sent; only queued here. */
  record(environment: Environment, record: DecisionRecord): void;
  /** The key cache seen through per-environment hit/miss counters (for the hit-ratio gauge). */
  countingKeys(environment: Environment, keys: KeyLookup & { readonly size: number }): KeyLookup;
  /** The data plane's view of the responses in force in `environment`. */
  riskLookup(environment: Environment, routes: readonly RouteSpec[]): RiskLookup;
  /** Loads the responses in force and starts the governance job. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Builds the observability pieces; nothing runs until `start`. */
export function createObservability(
  deps: ObservabilityDeps,
  options: ObservabilityOptions,
): Observability {
  const timers = deps.timers ?? systemTimers;
  const metrics = createMetrics({ collectDefaultMetrics: true });
  const db: Database | undefined = options.database.startsWith('sqlite:')
    ? new BetterSqlite3(options.database.slice(7))
    : undefined;
  if (db !== undefined) {
    // WAL lets the admin API read the traffic log here while its writer thread (a second
    // connection) writes; the busy timeout (better-sqlite3's default, made explicit) makes this
    // connection's writes wait for the thread's commits rather than fail.
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    // Traffic is not the audit log: an OS crash may lose the last batches; every write costs
    // the event loop, so no fsync. (Alerts are audited in the control store as well.)
    db.pragma('synchronous = OFF');
  }
  const onError = (what: string) => (error: unknown) =>
    deps.logger.error({ err: error }, `${what} failed`);

  let trimWarnedAt = -Infinity;
  const trafficStore =
    options.trafficLog.enabled && db !== undefined
      ? createSqliteTrafficLogStore(db, {
          onWorkerFailure: (error) =>
            deps.logger.warn({ err: error }, 'traffic log writer thread failed; writing in-thread'),
        })
      : undefined;
  const traffic =
    trafficStore !== undefined
      ? createTrafficLog(
          {
            store: trafficStore,
            clock: deps.clock,
            timers,
            onDropped: (cause, count) => metrics.recordTrafficLogDropped(cause, count),
            onWritten: (count) => metrics.recordTrafficLogWritten(count),
            onTrimmed: (count) => {
              metrics.recordTrafficLogTrimmed(count);
              // Said once an hour at most: the bound, not the retention, decides the history.
              const nowMs = deps.clock.now();
              if (nowMs - trimWarnedAt < 3_600_000) return;
              trimWarnedAt = nowMs;
              deps.logger.warn(
                { deleted: count, maxRows: options.trafficLog.maxRows },
                'traffic log at trafficLog.maxRows: the oldest records are deleted beyond it',
              );
            },
            onError: onError('traffic log write'),
          },
          options.trafficLog,
        )
      : undefined;

  const webhooks =
    options.webhooks.length === 0
      ? undefined
      : createWebhookSender(
          {
            clock: deps.clock,
            timers,
            ...(deps.fetch ? { fetch: deps.fetch } : {}),
            onOutcome: (outcome, endpointId, status) => {
              metrics.recordWebhookDelivery(outcome);
              if (outcome === 'failed' || outcome === 'dropped')
                deps.logger.warn({ endpointId, status, outcome }, 'alert webhook not delivered');
            },
          },
          { ...DEFAULT_WEBHOOK_OPTIONS, endpoints: options.webhooks },
        );
  const riskStore =
    deps.riskStore ?? (db !== undefined ? createSqliteRiskStore(db) : createMemoryRiskStore());
  const risk = createRiskService({
    store: riskStore,
    clock: deps.clock,
    audit: deps.audit,
    ...(webhooks ? { webhooks } : {}),
    onError: onError('risk response'),
    ...(deps.onRiskChange ? { onChange: deps.onRiskChange } : {}),
  });
  const monitor = createRiskMonitor(
    {
      risk,
      metrics,
      timers,
      onSignal: (signal) =>
        deps.logger.warn(
          {
            signal: signal.kind,
            environment: signal.environment,
            keyId: signal.keyId,
            ipPrefix: signal.ipPrefix,
            shadow: signal.shadow,
            observed: signal.observed,
            threshold: signal.threshold,
          },
          'anomaly signal',
        ),
      onError: onError('risk response'),
      // First uses and new prefixes are remembered with the responses: across restarts, and
      // on every node of a cluster.
      sightings: riskStore,
      ...(deps.riskWindows !== undefined ? { sharedWindows: deps.riskWindows } : {}),
      onSharedWindowsError: (error) =>
        deps.logger.warn(
          { err: error },
          "shared risk windows unreachable: failure bursts and key sprays are decided on this node's own denials for 5 s",
        ),
    },
    { engine: options.risk.engine, responses: options.risk.responses, maxQueued: 100_000 },
  );
  const governance = createGovernanceJob(
    {
      keys: deps.keys,
      risk,
      clock: deps.clock,
      timers,
      logger: deps.logger,
      ...(deps.governanceLease !== undefined ? { lease: deps.governanceLease } : {}),
    },
    options.governance,
  );

  const keyUse = createKeyUseTracker(
    {
      ...(db !== undefined ? { store: createSqliteKeyUseStore(db) } : {}),
      now: () => deps.clock.now(),
      onError: onError('key last-use write'),
    },
    { flushMs: 5_000, maxKeys: 100_000 },
  );

  // Parsing an address costs about 1 µs; clients repeat, so the last few thousand are remembered.
  const prefixes = new Map<string, string>();
  function prefixOf(clientIp: string): string {
    let prefix = prefixes.get(clientIp);
    if (prefix === undefined) {
      if (prefixes.size >= 4096) prefixes.clear();
      prefix = riskIpPrefix(clientIp) ?? clientIp;
      prefixes.set(clientIp, prefix);
    }
    return prefix;
  }

  // The request path only queues its record (one push); metrics, the traffic record and the
  // risk event are made on a later turn of the event loop, in batches.
  let pending: [Environment, DecisionRecord][] = [];
  let scheduled: unknown;
  function processPending(): void {
    if (scheduled !== undefined) timers.clearTimeout(scheduled);
    scheduled = undefined;
    const batch = pending;
    pending = [];
    for (const [environment, r] of batch) observeRequest(environment, r);
  }
  function record(environment: Environment, r: DecisionRecord): void {
    if (pending.length >= MAX_PENDING) return; // far behind: shed observability, never traffic
    pending.push([environment, r]);
    scheduled ??= timers.setTimeout(processPending, 0);
  }

  function observeRequest(environment: Environment, r: DecisionRecord): void {
    const d = r.decision;
    const action = d.route?.route.action;
    const route = action ?? UNMATCHED_ROUTE;
    const dialect = d.outcome === 'public' ? d.route.route.dialect : d.dialect;
    const reason = d.outcome === 'deny' ? d.reason : undefined;
    metrics.recordDecision(d.outcome, reason, dialect, environment);
    metrics.observePipelineSeconds(route, environment, r.pipelineMs / 1000);
    if (r.upstreamMs !== undefined)
      metrics.observeUpstreamSeconds(route, environment, r.upstreamMs / 1000);
    metrics.observeRequestSeconds(route, environment, r.totalMs / 1000);
    if (d.outcome === 'deny' && d.reason === 'RATE_LIMITED')
      metrics.recordRateLimited(limitSubject(d.limits?.violated), environment);
    if (d.outcome === 'allow') keyUse.note(d.key.id, r.nowMs, r.clientIp);
    const keyId = d.outcome === 'allow' ? d.key.id : d.outcome === 'deny' ? d.keyId : undefined;
    const accountId = d.outcome === 'allow' ? d.key.accountId : undefined;
    traffic?.record({
      ts: r.nowMs,
      requestId: r.requestId,
      environment,
      ...(keyId !== undefined ? { keyId } : {}),
      ...(accountId !== undefined ? { accountId } : {}),
      ip: r.clientIp,
      method: r.method,
      ...(action !== undefined ? { action } : {}),
      decision: d.outcome,
      ...(reason !== undefined ? { reason } : {}),
      status: r.status,
      pipelineUs: Math.round(r.pipelineMs * 1000),
      ...(r.upstreamMs !== undefined ? { upstreamMs: r.upstreamMs } : {}),
      totalMs: r.totalMs,
    });
    if (d.outcome !== 'public' && options.risk.enabled[environment]) observeRisk(environment, r, d);
  }

  function observeRisk(
    environment: Environment,
    r: DecisionRecord,
    d: Exclude<Decision, { outcome: 'public' }>,
  ): void {
    monitor.observe({
      nowMs: r.nowMs,
      environment,
      ...(d.outcome === 'allow'
        ? { keyId: d.key.id, accountId: d.key.accountId }
        : d.keyId !== undefined
          ? { keyId: d.keyId }
          : {}),
      ipPrefix: prefixOf(r.clientIp),
      action: d.route?.route.action ?? UNMATCHED_ROUTE,
      outcome: d.outcome,
      ...(d.outcome === 'deny' ? { reason: d.reason } : {}),
    });
  }

  return {
    metrics,
    traffic,
    risk,
    monitor,
    governance,
    keyUse,
    record,
    async drain() {
      processPending();
      await monitor.drain();
    },
    countingKeys(environment, keys) {
      let hits = 0;
      let misses = 0;
      metrics.addKeyCache(environment, { stats: () => ({ hits, misses, size: keys.size }) });
      return {
        get(keyId): CachedKey | undefined | Promise<CachedKey | undefined> {
          const found = keys.get(keyId);
          if (found instanceof Promise) misses += 1;
          else hits += 1;
          return found;
        },
      };
    },
    riskLookup(environment, routes) {
      // Cancel actions stay open to a cancel-only key: never strand open orders.
      const cancelActions = [
        ...new Set(routes.filter((r) => /cancel/i.test(r.action)).map((r) => r.action)),
      ];
      return {
        stateOf: (keyId, nowMs) => risk.stateOf(keyId, nowMs),
        prefixBanned: (clientIp, nowMs) => risk.prefixBanned(environment, clientIp, nowMs),
        prefixThrottle: (clientIp, nowMs) => risk.prefixThrottle(environment, clientIp, nowMs),
        cancelActions,
      };
    },
    async start() {
      if (deps.riskStore !== undefined && db !== undefined) {
        const moved = await moveLocalRiskRows(db, deps.riskStore, deps.clock.now());
        if (moved.responses + moved.alerts > 0)
          deps.logger.info(moved, 'risk responses and alerts moved to the control store');
      }
      await risk.load();
      governance.start();
    },
    async close() {
      governance.stop();
      processPending();
      await monitor.close();
      await traffic?.close();
      await trafficStore?.close(); // after the last flush; ends the writer thread
      keyUse.flush();
      webhooks?.close();
      if (db?.open === true) db.close();
    },
  };
}

/** Recorded requests waiting to be processed at most (about a second of a busy node). */
const MAX_PENDING = 100_000;

/**
 * The subject of a refused rule, from its name (`key-1s`, `acct-1m`, `ip-1m`, `orders-10s`,
 * `auth-fail-1m`; request-limits.ts `ruleName`). A refusal without a rule is the IP prefix's
 * spent failure budget.
 */
export function limitSubject(violated: string | undefined): RateLimitSubject {
  if (violated === undefined) return 'ip';
  if (violated.startsWith('acct-')) return 'account';
  if (violated.startsWith('orders-')) return 'order';
  if (violated.startsWith('ip-') || violated.startsWith('auth-fail-')) return 'ip';
  return 'key';
}

/** The observability options of a loaded configuration. */
export function observabilityOptionsOf(config: Config): ObservabilityOptions {
  const { production, sandbox } = config.environments;
  return {
    // Node-local on every store, PostgreSQL included: the traffic log is per node and too hot
    // for the shared database. Alerts and responses in force live in the control store.
    database: `sqlite:${join(config.dataDir, 'observability.db')}`,
    trafficLog: { ...DEFAULT_TRAFFIC_LOG_OPTIONS, ...config.trafficLog },
    risk: {
      enabled: { production: production.risk.enabled, sandbox: sandbox.risk.enabled },
      engine: {
        environments: { production: production.risk.thresholds, sandbox: sandbox.risk.thresholds },
        memory: DEFAULT_RISK_MEMORY,
      },
      responses: { production: production.risk.responses, sandbox: sandbox.risk.responses },
    },
    webhooks: config.alerts.webhooks.map((w, i) => ({ id: `webhook-${i + 1}`, ...w })),
    governance: {
      ...config.keyGovernance,
      policies: { production: production.keyGovernance, sandbox: sandbox.keyGovernance },
    },
  };
}
