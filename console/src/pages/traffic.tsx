/** Traffic of the selected environment over the last hour: requests, denials, latency (uPlot). */
import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import uPlot from 'uplot';
import type { TrafficRecord } from '../api.js';
import { query } from '../api.js';
import { EnvBadge, ErrorBox, useLoad } from '../common.js';
import { useSession } from '../session.js';

const BUCKET_S = 60;
const PALETTE = ['#d9480f', '#1971c2', '#2f9e44', '#ae3ec9', '#f08c00', '#0c8599', '#e03131'];

export interface Series {
  readonly x: number[];
  readonly requests: number[];
  readonly denials: Map<string, number[]>;
  readonly p50: (number | null)[];
  readonly p95: (number | null)[];
  readonly p99: (number | null)[];
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? null;
}

/** Per-minute buckets from `sinceS` to `nowS`: counts, denials by reason, latency percentiles. */
export function bucketTraffic(
  records: readonly TrafficRecord[],
  sinceS: number,
  nowS: number,
): Series {
  const start = Math.floor(sinceS / BUCKET_S) * BUCKET_S;
  const n = Math.floor((nowS - start) / BUCKET_S) + 1;
  const x = Array.from({ length: n }, (_, i) => start + i * BUCKET_S);
  const requests = new Array<number>(n).fill(0);
  const latencies = Array.from({ length: n }, () => [] as number[]);
  const denials = new Map<string, number[]>();
  for (const r of records) {
    const i = Math.floor((Date.parse(r.ts) / 1000 - start) / BUCKET_S);
    if (i < 0 || i >= n) continue;
    requests[i] = (requests[i] ?? 0) + 1;
    if (r.totalMs !== null) latencies[i]?.push(r.totalMs);
    if (r.decision !== 'allow') {
      const reason = r.reason ?? 'UNKNOWN';
      const row = denials.get(reason) ?? new Array<number>(n).fill(0);
      row[i] = (row[i] ?? 0) + 1;
      denials.set(reason, row);
    }
  }
  const sorted = latencies.map((l) => l.sort((a, b) => a - b));
  return {
    x,
    requests,
    denials,
    p50: sorted.map((l) => percentile(l, 50)),
    p95: sorted.map((l) => percentile(l, 95)),
    p99: sorted.map((l) => percentile(l, 99)),
  };
}

function Chart(props: {
  title: string;
  unit: string;
  x: number[];
  series: { label: string; values: (number | null)[] }[];
}) {
  const box = useRef<HTMLDivElement>(null);
  // Measured before the first paint, then kept by a ResizeObserver: a plot is never drawn wider
  // than its box (a fixed first guess made narrow windows scroll until the observer fired).
  const [width, setWidth] = useState(0);
  useLayoutEffect(() => {
    const el = box.current;
    if (el === null) return;
    const measure = () => setWidth(Math.max(280, el.clientWidth));
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  useEffect(() => {
    const el = box.current;
    if (el === null || width === 0) return;
    const plot = new uPlot(
      {
        width,
        height: 220,
        scales: { x: { time: true } },
        axes: [{}, { label: props.unit }],
        series: [
          {},
          ...props.series.map((s, i) => ({
            label: s.label,
            stroke: PALETTE[i % PALETTE.length] ?? '#333',
            width: 2,
            spanGaps: false,
          })),
        ],
      },
      [props.x, ...props.series.map((s) => s.values)],
      el,
    );
    return () => plot.destroy();
  }, [props.x, props.series, props.unit, width]);
  return (
    <figure className="chart">
      <figcaption>{props.title}</figcaption>
      <div ref={box} role="img" aria-label={props.title} />
    </figure>
  );
}

export function TrafficPage() {
  const session = useSession();
  const env = session.environment;
  const traffic = useLoad(async () => {
    const nowS = Date.now() / 1000;
    const r = await session.api<{ records: TrafficRecord[] }>(
      'GET',
      `/v1/traffic${query({ environment: env, since: '1h', limit: 10000 })}`,
    );
    return { records: r.records, series: bucketTraffic(r.records, nowS - 3600, nowS) };
  }, [session.token, env]);
  const s = traffic.data?.series;
  return (
    <div className="stack">
      <p>
        Last hour in <EnvBadge environment={env} />, per minute: {traffic.data?.records.length ?? 0}{' '}
        requests recorded.{' '}
        <button type="button" onClick={traffic.reload}>
          Refresh
        </button>
      </p>
      <ErrorBox error={traffic.error} />
      {s !== undefined && (
        <div className="charts">
          <Chart
            title="Requests per minute"
            unit="requests"
            x={s.x}
            series={[{ label: 'requests', values: s.requests }]}
          />
          <Chart
            title="Denials per minute by reason"
            unit="denials"
            x={s.x}
            series={
              s.denials.size === 0
                ? [{ label: 'none', values: s.x.map(() => 0) }]
                : [...s.denials].map(([reason, values]) => ({ label: reason, values }))
            }
          />
          <Chart
            title="Latency percentiles (total, ms)"
            unit="ms"
            x={s.x}
            series={[
              { label: 'p50', values: s.p50 },
              { label: 'p95', values: s.p95 },
              { label: 'p99', values: s.p99 },
            ]}
          />
        </div>
      )}
    </div>
  );
}
