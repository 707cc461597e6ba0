import { describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/services/metrics.js';

/** The value of one sample line `name{labels} value` in the exposition text. */
function sample(text: string, line: string): number | undefined {
  const found = text.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

describe('createMetrics', () => {
  it('exposes every documented series', async () => {
    const metrics = createMetrics();
    const text = await metrics.render();
    for (const name of [
      'portcullis_decisions_total',
      'portcullis_pipeline_seconds',
      'portcullis_upstream_seconds',
      'portcullis_request_seconds',
      'portcullis_rate_limited_total',
      'portcullis_bans_total',
      'portcullis_key_cache_hit_ratio',
      'portcullis_key_cache_entries',
      'portcullis_event_lag_seconds',
      'portcullis_traffic_log_dropped_total',
      'portcullis_traffic_log_written_total',
      'portcullis_traffic_log_trimmed_total',
      'portcullis_risk_signals_total',
      'portcullis_risk_responses_total',
      'portcullis_risk_windows_fallback_total',
      'portcullis_webhook_deliveries_total',
    ]) {
      expect(text, name).toContain(`# TYPE ${name} `);
    }
  });

  it('counts decisions by outcome, reason, dialect and environment', async () => {
    const metrics = createMetrics();
    metrics.recordDecision('deny', 'SIGNATURE_INVALID', 'binance', 'production');
    metrics.recordDecision('deny', 'SIGNATURE_INVALID', 'binance', 'production');
    metrics.recordDecision('allow', undefined, 'native', 'sandbox');
    const text = await metrics.render();
    expect(
      sample(
        text,
        'portcullis_decisions_total{outcome="deny",reason="SIGNATURE_INVALID",dialect="binance",environment="production"}',
      ),
    ).toBe(2);
    expect(
      sample(
        text,
        'portcullis_decisions_total{outcome="allow",reason="none",dialect="native",environment="sandbox"}',
      ),
    ).toBe(1);
  });

  it('records latency histograms per route and environment with µs buckets', async () => {
    const metrics = createMetrics();
    metrics.observePipelineSeconds('order.place', 'production', 0.000004);
    metrics.observeUpstreamSeconds('order.place', 'production', 0.002);
    metrics.observeRequestSeconds('order.place', 'production', 0.0025);
    const text = await metrics.render();
    expect(
      sample(
        text,
        'portcullis_pipeline_seconds_bucket{le="0.000005",route="order.place",environment="production"}',
      ),
    ).toBe(1);
    expect(
      sample(
        text,
        'portcullis_upstream_seconds_count{route="order.place",environment="production"}',
      ),
    ).toBe(1);
    expect(
      sample(
        text,
        'portcullis_request_seconds_count{route="order.place",environment="production"}',
      ),
    ).toBe(1);
  });

  it('reports the key cache hit ratio since the previous scrape', async () => {
    const metrics = createMetrics();
    const stats = { hits: 9, misses: 1, size: 3 };
    metrics.addKeyCache('production', { stats: () => stats });
    const line = 'portcullis_key_cache_hit_ratio{environment="production"}';
    expect(sample(await metrics.render(), line)).toBe(0.9);
    stats.hits += 1;
    stats.misses += 3;
    expect(sample(await metrics.render(), line)).toBe(0.25);
    expect(
      sample(await metrics.render(), 'portcullis_key_cache_entries{environment="production"}'),
    ).toBe(3);
  });

  it('counts rate limits, bans, event lag, traffic drops, signals and webhooks', async () => {
    const metrics = createMetrics();
    metrics.recordRateLimited('ip', 'production');
    metrics.recordBan('production');
    metrics.observeEventLagSeconds('key.changed', 0.003);
    metrics.recordTrafficLogDropped('buffer_full', 5);
    metrics.recordRiskSignal('rate_spike', 'production', true);
    metrics.recordRiskResponse('throttle', 'production');
    metrics.recordWebhookDelivery('retried');
    const text = await metrics.render();
    expect(
      [
        'portcullis_rate_limited_total{subject="ip",environment="production"}',
        'portcullis_bans_total{environment="production"}',
        'portcullis_event_lag_seconds_count{type="key.changed"}',
        'portcullis_traffic_log_dropped_total{cause="buffer_full"}',
        'portcullis_risk_signals_total{signal="rate_spike",environment="production",shadow="true"}',
        'portcullis_risk_responses_total{step="throttle",environment="production"}',
        'portcullis_webhook_deliveries_total{outcome="retried"}',
      ].map((line) => sample(text, line)),
    ).toEqual([1, 1, 1, 5, 1, 1, 1]);
  });

  it('keeps registries separate between instances', async () => {
    const a = createMetrics();
    const b = createMetrics();
    a.recordBan('production');
    expect(sample(await b.render(), 'portcullis_bans_total{environment="production"}')).toBe(
      undefined,
    );
  });

  it('folds label combinations beyond the bound into _other', async () => {
    const metrics = createMetrics({ maxSeriesPerMetric: 2 });
    for (const route of ['a', 'b', 'c', 'd']) metrics.observeRequestSeconds(route, 'sandbox', 0.01);
    const text = await metrics.render();
    expect(
      sample(text, 'portcullis_request_seconds_count{route="_other",environment="_other"}'),
    ).toBe(2);
  });
});
