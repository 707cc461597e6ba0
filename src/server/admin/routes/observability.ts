import type { FastifyInstance } from 'fastify';
import { parseDuration } from '../../../core/duration.js';
import { PortcullisError } from '../../../core/errors.js';
import type { Environment } from '../../../core/keys/model.js';
import type { GovernanceJob } from '../../../services/governance-job.js';
import type { KeyUseTracker } from '../../../services/key-use.js';
import type { Metrics } from '../../../services/metrics.js';
import type { RiskService } from '../../../services/risk-service.js';
import type { AlertState } from '../../../services/risk-store.js';
import type { TrafficLog } from '../../../services/traffic-log.js';
import { actorOf, type AdminDeps } from '../build-admin-app.js';
import { DURATION_PATTERN } from '../schemas.js';

/** Metrics, traffic, alerts, key risk and the governance report (docs/observability.md). */
export interface ObservabilityAdminDeps {
  readonly metrics: Pick<Metrics, 'render' | 'contentType'>;
  /** Serve /metrics without a token (scrapers on a private admin listener). */
  readonly metricsPublic: boolean;
  readonly traffic?: Pick<TrafficLog, 'query'>;
  readonly risk: Pick<
    RiskService,
    | 'listAlerts'
    | 'acknowledge'
    | 'resolve'
    | 'keyRisk'
    | 'resetKey'
    | 'prefixResponses'
    | 'liftPrefix'
  >;
  readonly governance: Pick<GovernanceJob, 'report'>;
  /** Each key's last use, shown as `lastUsedIp` on keys; absent means null. */
  readonly keyUse?: Pick<KeyUseTracker, 'lastUse'>;
}

const environment = { enum: ['production', 'sandbox'] } as const;
const idParams = {
  type: 'object',
  properties: { id: { type: 'string', maxLength: 64 } },
  required: ['id'],
} as const;
const looseObject = { type: 'object', additionalProperties: true } as const;

const trafficQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    keyId: { type: 'string', maxLength: 64 },
    accountId: { type: 'string', maxLength: 64 },
    environment,
    reason: { type: 'string', pattern: '^[A-Z_]{1,64}$' },
    since: { type: 'string', pattern: DURATION_PATTERN, default: '1h' },
    limit: { type: 'string', pattern: '^\\d{1,5}$', default: '100' },
  },
} as const;

const alertsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    environment,
    state: { enum: ['open', 'acknowledged', 'resolved'] },
    keyId: { type: 'string', maxLength: 64 },
    limit: { type: 'string', pattern: '^\\d{1,4}$', default: '100' },
  },
} as const;

const alertSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    state: { enum: ['open', 'acknowledged', 'resolved'] },
    signal: { type: 'string' },
    step: { type: 'string' },
    environment,
    keyId: { type: ['string', 'null'] },
    accountId: { type: ['string', 'null'] },
    ipPrefix: { type: ['string', 'null'] },
    observed: { type: ['number', 'null'] },
    threshold: { type: ['number', 'null'] },
    responseId: { type: ['string', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    updatedBy: { type: ['string', 'null'] },
  },
} as const;

const NOT_WIRED = () =>
  new PortcullisError('NOT_FOUND', 'Anomaly detection is not wired on this node.');

/** Registers the routes; they exist (and are documented) even when `deps.observability` is absent. */
export function registerObservabilityRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const o = deps.observability;
  app.get(
    '/metrics',
    { config: o?.metricsPublic === true ? {} : { permission: 'audit:read' } },
    async (_request, reply) => {
      if (o === undefined) throw NOT_WIRED();
      return reply.type(o.metrics.contentType).send(await o.metrics.render());
    },
  );

  app.get<{
    Querystring: {
      keyId?: string;
      accountId?: string;
      environment?: Environment;
      reason?: string;
      since: string;
      limit: string;
    };
  }>(
    '/v1/traffic',
    {
      config: { permission: 'audit:read' },
      schema: {
        querystring: trafficQuery,
        response: {
          200: { type: 'object', properties: { records: { type: 'array', items: looseObject } } },
        },
      },
    },
    async (request) => {
      const q = request.query;
      const sinceMs = parseDuration(q.since) ?? 3_600_000;
      const records =
        (await o?.traffic?.query({
          since: deps.clock.now() - sinceMs,
          limit: Math.min(Number(q.limit), 10_000),
          ...(q.keyId !== undefined ? { keyId: q.keyId } : {}),
          ...(q.accountId !== undefined ? { accountId: q.accountId } : {}),
          ...(q.environment !== undefined ? { environment: q.environment } : {}),
          ...(q.reason !== undefined ? { reason: q.reason } : {}),
        })) ?? [];
      return { records: records.map((r) => ({ ...r, ts: new Date(r.ts).toISOString() })) };
    },
  );

  app.get<{
    Querystring: { environment?: Environment; state?: AlertState; keyId?: string; limit: string };
  }>(
    '/v1/alerts',
    {
      config: { permission: 'audit:read' },
      schema: {
        querystring: alertsQuery,
        response: {
          200: { type: 'object', properties: { alerts: { type: 'array', items: alertSchema } } },
        },
      },
    },
    async (request) => {
      const q = request.query;
      const alerts =
        (await o?.risk.listAlerts({
          limit: Number(q.limit),
          ...(q.environment !== undefined ? { environment: q.environment } : {}),
          ...(q.state !== undefined ? { state: q.state } : {}),
          ...(q.keyId !== undefined ? { keyId: q.keyId } : {}),
        })) ?? [];
      return { alerts: alerts.map(alertJson) };
    },
  );

  for (const [verb, op] of [
    ['ack', 'acknowledge'],
    ['resolve', 'resolve'],
  ] as const) {
    app.post<{ Params: { id: string } }>(
      `/v1/alerts/:id/${verb}`,
      {
        config: { permission: 'keys:write' },
        schema: {
          params: idParams,
          response: { 200: { type: 'object', properties: { alert: alertSchema } } },
        },
      },
      async (request) => {
        if (o === undefined) throw NOT_WIRED();
        const alert = await o.risk[op](request.params.id, actorOf(request));
        return { alert: alertJson(alert) };
      },
    );
  }

  app.get(
    '/v1/keys/report',
    {
      config: { permission: 'keys:read' },
      schema: { response: { 200: looseObject } },
    },
    async () => {
      if (o === undefined) throw NOT_WIRED();
      const report = await o.governance.report();
      return { ...report, generatedAt: new Date(report.generatedAtMs).toISOString() };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/keys/:id/risk',
    {
      config: { permission: 'keys:read' },
      schema: { params: idParams, response: { 200: looseObject } },
    },
    async (request) => {
      if (o === undefined) throw NOT_WIRED();
      await deps.keys.getKey(request.params.id); // NOT_FOUND for an unknown key
      return riskJson(o.risk.keyRisk(request.params.id));
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/keys/:id/risk/reset',
    {
      config: { permission: 'keys:write' },
      schema: { params: idParams, response: { 200: looseObject } },
    },
    async (request) => {
      if (o === undefined) throw NOT_WIRED();
      await deps.keys.getKey(request.params.id);
      return riskJson(await o.risk.resetKey(request.params.id, actorOf(request)));
    },
  );

  app.get(
    '/v1/risk/prefixes',
    {
      config: { permission: 'bans:read' },
      schema: { response: { 200: looseObject } },
    },
    () => {
      if (o === undefined) throw NOT_WIRED();
      return { responses: o.risk.prefixResponses().map(prefixResponseJson) };
    },
  );

  app.post<{ Body: { prefix: string } }>(
    '/v1/risk/prefixes/lift',
    {
      config: { permission: 'bans:write' },
      schema: {
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['prefix'],
          properties: { prefix: { type: 'string', minLength: 2, maxLength: 64 } },
        },
        response: { 200: looseObject },
      },
    },
    async (request) => {
      if (o === undefined) throw NOT_WIRED();
      const lifted = await o.risk.liftPrefix(request.body.prefix, actorOf(request));
      return { lifted: lifted.map(prefixResponseJson) };
    },
  );
}

function prefixResponseJson(r: ReturnType<RiskService['prefixResponses']>[number]) {
  return {
    id: r.id,
    step: r.action.step,
    ipPrefix: r.action.step === 'throttle' ? r.action.target.id : r.ipPrefix,
    ...(r.action.step === 'throttle' ? { throttleFactor: r.action.throttleFactor } : {}),
    reason: r.reason,
    environment: r.environment,
    startedAt: iso(r.startedAtMs),
    expiresAt: iso(r.expiresAtMs),
  };
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function alertJson(a: Awaited<ReturnType<RiskService['listAlerts']>>[number]) {
  return { ...a, createdAt: iso(a.createdAt), updatedAt: iso(a.updatedAt) };
}

function riskJson(view: ReturnType<RiskService['keyRisk']>) {
  return {
    keyId: view.keyId,
    level: view.level,
    state: view.state,
    responses: view.responses.map((r) => ({
      id: r.id,
      step: r.action.step,
      reason: r.reason,
      environment: r.environment,
      startedAt: iso(r.startedAtMs),
      expiresAt: iso(r.expiresAtMs),
    })),
  };
}
