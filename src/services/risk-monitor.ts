/**
 * Feeds data-plane decisions to the anomaly engine off the request path: `observe` appends to a
 * bounded queue and returns; a batch is processed on a later turn of the event loop, each
 * signal mapped to its ladder step (`decideResponse`) and applied by the risk service.
 */
import {
  createRiskEngine,
  decideResponse,
  type ResponsePolicy,
  type RiskEngineConfig,
  type RiskEvent,
  type Signal,
} from '../core/risk/index.js';
import type { Metrics } from './metrics.js';
import type { RiskService } from './risk-service.js';
import { systemTimers, type Timers } from './traffic-log.js';

export interface RiskMonitorDeps {
  readonly risk: Pick<RiskService, 'apply'>;
  readonly metrics?: Pick<Metrics, 'recordRiskSignal' | 'recordRiskResponse'>;
  readonly timers?: Timers;
  readonly onSignal?: (signal: Signal) => void;
  readonly onError?: (error: unknown) => void;
}

export interface RiskMonitorOptions {
  readonly engine: RiskEngineConfig;
  readonly responses: ResponsePolicy;
  /** Events waiting at most; beyond it new events are dropped (counted in `stats`). */
  readonly maxQueued: number;
}

export interface RiskMonitor {
  /** Queues one decision; never blocks, never throws. */
  observe(event: RiskEvent): void;
  /** Processes everything queued and waits for the responses to be stored. */
  drain(): Promise<void>;
  stats(): { queued: number; dropped: number; signals: number };
  close(): Promise<void>;
}

/** Creates the monitor and its engine (state per process, bounded by the engine's LRUs). */
export function createRiskMonitor(deps: RiskMonitorDeps, options: RiskMonitorOptions): RiskMonitor {
  const engine = createRiskEngine(options.engine);
  const timers = deps.timers ?? systemTimers;
  let queue: RiskEvent[] = [];
  let scheduled: unknown;
  let dropped = 0;
  let signals = 0;
  let chain: Promise<void> = Promise.resolve();

  async function processBatch(batch: readonly RiskEvent[]): Promise<void> {
    for (const event of batch) {
      for (const signal of engine.observe(event)) {
        signals += 1;
        deps.metrics?.recordRiskSignal(signal.kind, signal.environment, signal.shadow);
        deps.onSignal?.(signal);
        const action = decideResponse(signal, options.responses);
        deps.metrics?.recordRiskResponse(action.step, signal.environment);
        try {
          await deps.risk.apply(action);
        } catch (error) {
          deps.onError?.(error);
        }
      }
    }
  }

  function drain(): Promise<void> {
    if (scheduled !== undefined) {
      timers.clearTimeout(scheduled);
      scheduled = undefined;
    }
    const batch = queue;
    queue = [];
    chain = chain.then(() => processBatch(batch));
    return chain;
  }

  return {
    observe(event) {
      if (queue.length >= options.maxQueued) {
        dropped += 1;
        return;
      }
      queue.push(event);
      scheduled ??= timers.setTimeout(() => {
        scheduled = undefined;
        void drain();
      }, 0);
    },
    drain,
    stats: () => ({ queued: queue.length, dropped, signals }),
    close: () => drain(),
  };
}
