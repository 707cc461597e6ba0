/**
 * Anomaly responses across the nodes of one store (issue 8: "step-downs and disables take
 * effect on the next request on every node"). Two risk services, A and B, share the control
 * store's risk tables (a real SQLite file) and its audit log; B runs the cluster sync, and the
 * test decides which of A's `risk.changed` events reach it, so a lost event is simply one B
 * never receives. The clock is manual and every re-validation pass is run by the test.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createClusterSync, type ClusterSync } from '../../src/app/cluster-sync.js';
import type { KeyCache } from '../../src/services/key-cache.js';
import type { ResponseAction, Signal } from '../../src/core/risk/index.js';
import { createRiskService, type RiskService } from '../../src/services/risk-service.js';
import { hasRiskStore, type RiskStore } from '../../src/services/risk-store.js';
import {
  createTestControlPlane,
  TEST_CTX,
  type TestControlPlane,
} from '../helpers/control-plane.js';

const KEY = 'pk_test_cluster';
const INTERVAL_MS = 1_000;

let plane: TestControlPlane;
let shared: RiskStore;
let announced: string[];
let nodeA: RiskService;
let nodeB: RiskService;
let syncB: ClusterSync;

const noKeyCache: Pick<KeyCache, 'invalidate' | 'setTrusted'> = {
  invalidate: () => undefined,
  setTrusted: () => undefined,
};

function riskNode(onChange?: (target: string) => void): RiskService {
  return createRiskService({
    store: shared,
    clock: plane.clock,
    audit: (draft) => plane.store.appendAudit(draft),
    ...(onChange ? { onChange } : {}),
  });
}

function signal(kind: Signal['kind']): Signal {
  return {
    kind,
    environment: 'sandbox',
    subject: { type: 'key', id: KEY },
    keyId: KEY,
    ipPrefix: '198.51.100.0/24',
    action: 'balance.read',
    atMs: plane.clock.now(),
    shadow: false,
    observed: 3,
    threshold: 3,
  };
}

const stepDown = (): ResponseAction => ({
  step: 'step_down',
  signal: signal('failure_burst'),
  alert: true,
  keyId: KEY,
  withdraw: 'suspended',
  trade: 'read_only',
  durationMs: null,
});

const disable = (): ResponseAction => ({
  step: 'disable_key',
  signal: signal('key_spray'),
  alert: true,
  keyId: KEY,
});

const levelOn = (node: RiskService) => node.riskLevelOf(KEY, plane.clock.now());

beforeEach(async () => {
  plane = await createTestControlPlane();
  if (!hasRiskStore(plane.store)) throw new Error('the SQLite control store holds the risk tables');
  shared = plane.store.riskStore();
  announced = [];
  nodeA = riskNode((target) => announced.push(target));
  nodeB = riskNode();
  syncB = createClusterSync(
    { feed: plane.store, keyCache: noKeyCache, risk: nodeB, clock: plane.clock },
    { revalidateIntervalMs: INTERVAL_MS, maxStalenessMs: 2 * INTERVAL_MS },
  );
  await syncB.start(true);
});

afterEach(async () => {
  await plane.close();
});

describe('a response decided on node A', () => {
  it('is announced once stored, and in force on B as soon as the event arrives', async () => {
    await nodeA.apply(stepDown());
    expect(announced).toEqual([KEY]);
    expect(levelOn(nodeB)).toBe('normal');
    syncB.handle({ type: 'risk.changed', target: KEY });
    await nodeB.reload(); // joins the reload the event started
    expect(nodeB.stateOf(KEY, plane.clock.now())).toMatchObject({
      level: 'high',
      withdraw: 'suspended',
      trade: 'read_only',
    });
    expect(nodeB.keyRisk(KEY).responses.map((r) => r.reason)).toEqual(['failure_burst']);
  });

  it('is in force on B after its next re-validation when the event was lost', async () => {
    await nodeA.apply(disable());
    expect(levelOn(nodeB)).toBe('normal');
    await syncB.revalidate();
    expect(nodeB.stateOf(KEY, plane.clock.now())?.disabled).toBe(true);
  });

  it('is in force on a node started after it (a restart)', async () => {
    await nodeA.apply(disable());
    const restarted = riskNode();
    await restarted.load();
    expect(levelOn(restarted)).toBe('locked');
  });
});

describe('an operator lift on node B', () => {
  it('is seen by A after its reload, even when B had not yet heard of the response', async () => {
    await nodeA.apply(stepDown());
    // B lifts from the store, not from its memory: the response it has not loaded is lifted too.
    const view = await nodeB.resetKey(KEY, TEST_CTX);
    expect(view.level).toBe('normal');
    expect(levelOn(nodeA)).toBe('high');
    await nodeA.reload();
    expect(levelOn(nodeA)).toBe('normal');
    expect(await shared.listAlerts({ keyId: KEY, state: 'open', limit: 10 })).toEqual([]);
  });

  it('of a prefix ban, lifts it on every node after their reload', async () => {
    await nodeA.apply({
      step: 'ban_prefix',
      signal: signal('key_spray'),
      alert: true,
      ipPrefix: '198.51.100.0/24',
      durationMs: null,
    });
    await nodeB.reload();
    expect(nodeB.prefixBanned('sandbox', '198.51.100.7', plane.clock.now())).toBe(true);
    const lifted = await nodeB.liftPrefix('198.51.100.0/24', TEST_CTX);
    expect(lifted.map((r) => r.action.step)).toEqual(['ban_prefix']);
    await nodeA.reload();
    expect(nodeA.prefixBanned('sandbox', '198.51.100.7', plane.clock.now())).toBe(false);
  });
});

describe('a reload racing a local change', () => {
  it('keeps a response whose row is still being written', async () => {
    let release: () => void = () => undefined;
    const slow: RiskStore = {
      ...shared,
      insertResponse: async (r) => {
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        await shared.insertResponse(r);
      },
    };
    const node = createRiskService({
      store: slow,
      clock: plane.clock,
      audit: (draft) => plane.store.appendAudit(draft),
    });
    const applying = node.apply(disable());
    await node.reload(); // reads the store before the row exists
    expect(levelOn(node)).toBe('locked');
    release();
    await applying;
    await node.reload();
    expect(levelOn(node)).toBe('locked');
  });
});
