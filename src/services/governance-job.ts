/**
 * The periodic key-governance job: evaluates every key against its environment's policy
 * (`evaluateKeyGovernance`) and applies the due actions — scopes removed and expiries through
 * the audited key service (a `key.changed` event drops the key from every cache), dormant keys
 * disabled as a reversible risk response. Time and timers are injected.
 */
import type { Logger } from 'pino';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Clock } from '../core/clock.js';
import {
  evaluateKeyGovernance,
  keysReport,
  mergeKeysReports,
  type GovernanceAction,
  type GovernancePolicies,
  type KeysReport,
} from '../core/governance/index.js';
import type { ApiKey } from '../core/keys/model.js';
import type { KeyService } from './key-service.js';
import { GOVERNANCE_ACTOR, type RiskService } from './risk-service.js';
import type { Timers } from './traffic-log.js';

export interface GovernanceJobDeps {
  readonly keys: Pick<KeyService, 'listKeys' | 'updateKey'>;
  readonly risk: Pick<RiskService, 'disableByGovernance'>;
  readonly clock: Clock;
  readonly timers: Timers;
  readonly logger?: Pick<Logger, 'info' | 'error'>;
  /**
   * Cluster mode: whether this node takes the timed pass (a lease for `ttlMs`, one holder per
   * interval across the nodes), so N nodes do not apply and audit the same actions N times.
   * Absent: every tick runs (a single node). A lease that cannot be asked is not taken.
   */
  readonly lease?: (ttlMs: number) => Promise<boolean>;
}

export interface GovernanceJobOptions {
  readonly enabled: boolean;
  readonly intervalMs: number;
  readonly policies: GovernancePolicies;
}

export interface GovernanceJob {
  /** Evaluates every key now and applies the due actions; resolves to the actions applied. */
  run(): Promise<GovernanceAction[]>;
  /** The report behind `portcullis keys report` (findings, nothing applied). */
  report(): Promise<KeysReport>;
  start(): void;
  stop(): void;
}

const PAGE = 1000;

/** Creates the job; `start` runs it every `intervalMs` (not at once: start-up stays fast). */
export function createGovernanceJob(
  deps: GovernanceJobDeps,
  options: GovernanceJobOptions,
): GovernanceJob {
  let timer: unknown;
  let running: Promise<GovernanceAction[]> | undefined;

  /**
   * Every key, a page at a time, with a turn of the event loop between pages. The embedded store
   * answers each page synchronously, so a pass that only awaited them ran in one go: with
   * 100,000 keys it held the event loop, and every data plane of the process, for ~0.8 s each
   * interval (and for every `keys report`).
   */
  async function* pages(): AsyncGenerator<readonly ApiKey[]> {
    let after: string | undefined;
    for (;;) {
      const page = await deps.keys.listKeys({ limit: PAGE, ...(after ? { after } : {}) });
      yield page;
      const last = page[page.length - 1];
      if (page.length < PAGE || last === undefined) return;
      after = last.id;
      await nextTurn();
    }
  }

  async function applyAction(key: ApiKey, action: GovernanceAction, nowMs: number): Promise<void> {
    const ctx = { actor: GOVERNANCE_ACTOR, requestId: `gov_${nowMs}` };
    switch (action.type) {
      case 'remove_scopes': {
        const rest = key.scopes.filter((s) => !action.scopes.includes(s));
        // A key left with no scope at all is disabled instead (a key needs one scope).
        if (rest.length === 0)
          await deps.risk.disableByGovernance(key.id, key.environment, action.because);
        else await deps.keys.updateKey(key.id, { scopes: rest }, ctx);
        return;
      }
      case 'expire':
        await deps.keys.updateKey(key.id, { expiresAt: nowMs + 1 }, ctx);
        return;
      case 'disable':
        await deps.risk.disableByGovernance(key.id, key.environment, action.because);
        return;
    }
  }

  async function runOnce(): Promise<GovernanceAction[]> {
    const nowMs = deps.clock.now();
    const applied: GovernanceAction[] = [];
    for await (const page of pages()) {
      for (const key of page) {
        const { actions } = evaluateKeyGovernance(key, options.policies, nowMs);
        let current = key;
        for (const action of actions) {
          try {
            await applyAction(current, action, nowMs);
            applied.push(action);
            if (action.type === 'remove_scopes')
              current = {
                ...current,
                scopes: current.scopes.filter((s) => !action.scopes.includes(s)),
              };
          } catch (error) {
            deps.logger?.error({ err: error, keyId: key.id }, 'governance action failed');
          }
        }
      }
    }
    if (applied.length > 0) deps.logger?.info({ actions: applied.length }, 'governance applied');
    return applied;
  }

  return {
    run() {
      // One run at a time: a slow store must not start a second pass over the same keys.
      running ??= runOnce().finally(() => {
        running = undefined;
      });
      return running;
    },
    async report() {
      const nowMs = deps.clock.now();
      const parts: KeysReport[] = [];
      for await (const page of pages()) parts.push(keysReport(page, options.policies, nowMs));
      return mergeKeysReports(parts, nowMs);
    },
    start() {
      if (!options.enabled || timer !== undefined) return;
      const lease = deps.lease;
      // A little shorter than the interval, so that the next tick (on any node) finds it free.
      const ttlMs = Math.max(1, options.intervalMs - Math.min(1_000, options.intervalMs / 10));
      timer = deps.timers.setInterval(() => {
        if (lease === undefined) {
          this.run().catch(() => undefined);
          return;
        }
        lease(ttlMs)
          .catch(() => false)
          .then((held) => (held ? this.run() : undefined))
          .catch(() => undefined);
      }, options.intervalMs);
    },
    stop() {
      if (timer !== undefined) deps.timers.clearInterval(timer);
      timer = undefined;
    },
  };
}
