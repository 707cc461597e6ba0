/**
 * Prometheus metrics of the gateway, on a registry of their own (never prom-client's global
 * one, so two gateways in one process, or the tests, do not share series). Every label value
 * comes from a bounded set — outcomes, reason codes, dialects, environments, route action
 * names — never a key id, account id or IP address. Series are listed in docs/observability.md.
 */
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Environment } from '../core/keys/model.js';
import { createLocalCounter, type CounterChild } from './metrics/local-counter.js';
import { LocalHistogram } from './metrics/local-histogram.js';
import { createSeriesCache, type SeriesCache } from './metrics/series-cache.js';

/** Seconds; from 2 µs (a cached-key pipeline run) to 1 s. */
export const PIPELINE_BUCKETS_SECONDS = [
  0.000002, 0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
  0.01, 0.05, 0.25, 1,
];
/** Seconds; from 100 µs (a local upstream) to 10 s (an upstream timeout). */
export const REQUEST_BUCKETS_SECONDS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** Seconds between an event's publication on one node and its handling on another. */
export const EVENT_LAG_BUCKETS_SECONDS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** Route label for a request that matched no route (the label set stays bounded). */
export const UNMATCHED_ROUTE = '_unmatched';

export type DecisionOutcome = 'allow' | 'deny' | 'public';
export type RateLimitSubject = 'key' | 'account' | 'ip' | 'order';
export type TrafficDropCause = 'buffer_full' | 'store_error';
export type WebhookDeliveryOutcome = 'delivered' | 'retried' | 'failed' | 'dropped';

/** An upstream pool's targets as they are now (src/core/upstream/target-pool.ts). */
export interface UpstreamTargetsSource {
  status(): readonly {
    readonly url: string;
    readonly role: string;
    readonly available: boolean;
    readonly healthy: boolean;
  }[];
}

/** Something with cumulative hit and miss counts, such as the data plane's key cache. */
export interface CacheStatsSource {
  stats(): { hits: number; misses: number; size: number };
}

export interface MetricsOptions {
  /** Also export Node's process metrics (`process_*`, `nodejs_*`). Default false. */
  readonly collectDefaultMetrics?: boolean;
  /** Per metric, at most this many label combinations; beyond it `_other`. Default 2000. */
  readonly maxSeriesPerMetric?: number;
}

export interface Metrics {
  readonly registry: Registry;
  /** The Content-Type to answer `/metrics` with. */
  readonly contentType: string;
  recordDecision(
    outcome: DecisionOutcome,
    reason: string | undefined,
    dialect: string,
    environment: Environment,
  ): void;
  observePipelineSeconds(route: string, environment: Environment, seconds: number): void;
  observeUpstreamSeconds(route: string, environment: Environment, seconds: number): void;
  observeRequestSeconds(route: string, environment: Environment, seconds: number): void;
  recordRateLimited(subject: RateLimitSubject, environment: Environment): void;
  recordBan(environment: Environment): void;
  observeEventLagSeconds(eventType: string, seconds: number): void;
  /** Reports a key cache's hit ratio (since the previous scrape) and size at every scrape. */
  addKeyCache(environment: Environment, source: CacheStatsSource): void;
  /** An environment's upstream pool, read at scrape time (target health gauges). */
  addUpstreamTargets(environment: Environment, source: UpstreamTargetsSource): void;
  recordTrafficLogDropped(cause: TrafficDropCause, count: number): void;
  recordTrafficLogWritten(count: number): void;
  /** Records deleted because the traffic log held more than `trafficLog.maxRows`. */
  recordTrafficLogTrimmed(count: number): void;
  recordRiskSignal(kind: string, environment: Environment, shadow: boolean): void;
  recordRiskResponse(step: string, environment: Environment): void;
  /** A batch's failure signals decided on this node's own windows (the shared ones failed). */
  recordRiskWindowsFallback(): void;
  recordWebhookDelivery(outcome: WebhookDeliveryOutcome): void;
  /** The exposition text for a `/metrics` endpoint. */
  render(): Promise<string>;
}

/** Creates the gateway's metrics on a fresh registry. */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (options.collectDefaultMetrics === true) collectDefaultMetrics({ register: registry });
  const maxSeries = options.maxSeriesPerMetric ?? 2000;

  // Every metric is recorded locally and handed to the registry at scrape time: a request pays
  // a Map lookup and a few additions per series (see local-counter.ts, local-histogram.ts).
  const counter = (name: string, help: string, labelNames: readonly string[]) =>
    createSeriesCache(createLocalCounter(registry, name, help, labelNames), maxSeries);
  const histogram = (name: string, help: string, labelNames: string[], buckets: number[]) => {
    const metric = new LocalHistogram(name, help, labelNames, buckets);
    metric.register(registry);
    return createSeriesCache((v) => metric.child(v), maxSeries);
  };
  const inc = (cache: SeriesCache<CounterChild>, values: readonly string[], n = 1): void => {
    cache.get(values).inc(n);
  };

  const decisions = counter(
    'portcullis_decisions_total',
    'Data-plane decisions by outcome, reason code, dialect and environment.',
    ['outcome', 'reason', 'dialect', 'environment'],
  );
  const latencyLabels = ['route', 'environment'];
  const pipeline = histogram(
    'portcullis_pipeline_seconds',
    'Time spent in the decision pipeline (identify to authorize), per route action.',
    latencyLabels,
    PIPELINE_BUCKETS_SECONDS,
  );
  const upstream = histogram(
    'portcullis_upstream_seconds',
    'Time waiting for the upstream, per route action.',
    latencyLabels,
    REQUEST_BUCKETS_SECONDS,
  );
  const request = histogram(
    'portcullis_request_seconds',
    'Whole request time, from the first byte read to the reply, per route action.',
    latencyLabels,
    REQUEST_BUCKETS_SECONDS,
  );
  const rateLimited = counter(
    'portcullis_rate_limited_total',
    'Requests refused by a rate limit, by the limit that refused them.',
    ['subject', 'environment'],
  );
  const bans = counter('portcullis_bans_total', 'Temporary IP bans issued.', ['environment']);
  const eventLag = histogram(
    'portcullis_event_lag_seconds',
    'Cluster mode: delay between an event being published and this node handling it.',
    ['type'],
    EVENT_LAG_BUCKETS_SECONDS,
  );
  const trafficDropped = counter(
    'portcullis_traffic_log_dropped_total',
    'Traffic-log records dropped (buffer full: oldest dropped; store error: batch lost).',
    ['cause'],
  );
  const trafficWritten = counter(
    'portcullis_traffic_log_written_total',
    'Traffic-log records written to the store.',
    [],
  );
  const trafficTrimmed = counter(
    'portcullis_traffic_log_trimmed_total',
    'Traffic-log records deleted, oldest first, because the log held more than trafficLog.maxRows.',
    [],
  );
  const riskSignals = counter(
    'portcullis_risk_signals_total',
    'Anomaly signals raised, by signal, environment and whether in shadow mode.',
    ['signal', 'environment', 'shadow'],
  );
  const riskResponses = counter(
    'portcullis_risk_responses_total',
    'Responses taken on the ladder (observe … ban_prefix).',
    ['step', 'environment'],
  );
  const riskWindowsFallbacks = counter(
    'portcullis_risk_windows_fallback_total',
    "Cluster mode: batches whose failure and rate signals were decided on this node's own windows and rates because the shared state (Redis) failed.",
    [],
  );
  const webhooks = counter(
    'portcullis_webhook_deliveries_total',
    'Alert webhook deliveries by outcome.',
    ['outcome'],
  );
  const cacheSources = registerKeyCacheGauges(registry);
  const upstreamSources = registerUpstreamTargetGauges(registry);

  return {
    registry,
    contentType: registry.contentType,
    recordDecision: (outcome, reason, dialect, environment) =>
      inc(decisions, [outcome, reason ?? 'none', dialect, environment]),
    observePipelineSeconds: (route, environment, seconds) =>
      pipeline.get([route, environment]).observe(seconds),
    observeUpstreamSeconds: (route, environment, seconds) =>
      upstream.get([route, environment]).observe(seconds),
    observeRequestSeconds: (route, environment, seconds) =>
      request.get([route, environment]).observe(seconds),
    recordRateLimited: (subject, environment) => inc(rateLimited, [subject, environment]),
    recordBan: (environment) => inc(bans, [environment]),
    observeEventLagSeconds: (eventType, seconds) => eventLag.get([eventType]).observe(seconds),
    addKeyCache: (environment, source) => cacheSources.push({ environment, source }),
    addUpstreamTargets: (environment, source) => upstreamSources.push({ environment, source }),
    recordTrafficLogDropped: (cause, count) => inc(trafficDropped, [cause], count),
    recordTrafficLogWritten: (count) => inc(trafficWritten, [], count),
    recordTrafficLogTrimmed: (count) => inc(trafficTrimmed, [], count),
    recordRiskSignal: (kind, environment, shadow) =>
      inc(riskSignals, [kind, environment, String(shadow)]),
    recordRiskResponse: (step, environment) => inc(riskResponses, [step, environment]),
    recordRiskWindowsFallback: () => inc(riskWindowsFallbacks, []),
    recordWebhookDelivery: (outcome) => inc(webhooks, [outcome]),
    render: () => registry.metrics(),
  };
}

interface CacheSourceEntry {
  readonly environment: Environment;
  readonly source: CacheStatsSource;
  last?: { hits: number; misses: number; ratio: number };
}

/** Gauges read at scrape time (collect callbacks): nothing is paid per request. */
function registerKeyCacheGauges(registry: Registry): CacheSourceEntry[] {
  const sources: CacheSourceEntry[] = [];
  const registers = [registry];
  new Gauge({
    name: 'portcullis_key_cache_hit_ratio',
    help: 'Key cache hits / lookups since the previous scrape (kept when there were none).',
    labelNames: ['environment'],
    registers,
    collect() {
      for (const entry of sources) {
        const { hits, misses } = entry.source.stats();
        const previous = entry.last ?? { hits: 0, misses: 0, ratio: 1 };
        const lookups = hits - previous.hits + (misses - previous.misses);
        const ratio = lookups > 0 ? (hits - previous.hits) / lookups : previous.ratio;
        entry.last = { hits, misses, ratio };
        this.set({ environment: entry.environment }, ratio);
      }
    },
  });
  new Gauge({
    name: 'portcullis_key_cache_entries',
    help: 'Keys held in the data-plane key cache.',
    labelNames: ['environment'],
    registers,
    collect() {
      for (const entry of sources) {
        this.set({ environment: entry.environment }, entry.source.stats().size);
      }
    },
  });
  return sources;
}

/**
 * Per upstream target, read at scrape time: available (1: takes requests; 0: ejected or down)
 * and healthy (the active checks' verdict). Targets come from the configuration (at most 16
 * per environment), so the label set stays bounded.
 */
function registerUpstreamTargetGauges(
  registry: Registry,
): { environment: Environment; source: UpstreamTargetsSource }[] {
  const sources: { environment: Environment; source: UpstreamTargetsSource }[] = [];
  const gauge = (name: string, help: string, pick: 'available' | 'healthy') =>
    new Gauge({
      name,
      help,
      labelNames: ['environment', 'target', 'role'],
      registers: [registry],
      collect() {
        for (const { environment, source } of sources) {
          for (const target of source.status()) {
            this.set({ environment, target: target.url, role: target.role }, target[pick] ? 1 : 0);
          }
        }
      },
    });
  gauge(
    'portcullis_upstream_target_available',
    'Whether an upstream target takes requests (not ejected, not failing its health checks).',
    'available',
  );
  gauge(
    'portcullis_upstream_target_healthy',
    "An upstream target's active health-check verdict (1 when checks are off).",
    'healthy',
  );
  return sources;
}
