/**
 * The behaviour every risk store (anomaly responses in force, alerts) must have. Each adapter's
 * test file calls `describeRiskStoreContract` with a factory that builds a fresh, empty store
 * per test; `openPeer`, when given, opens a second store on the same data (another node): what
 * one node stores, the other reads, which is what makes a step-down hold on every node.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ResponseAction, Signal } from '../../src/core/risk/index.js';
import type { Sighting, SightingRule } from '../../src/core/risk/sightings.js';
import type { RiskStore, StoredAlert, StoredResponse } from '../../src/services/risk-store.js';

export interface RiskStoreHarness {
  readonly store: RiskStore;
  /** Another instance on the same data; closed by `close`. */
  readonly openPeer?: () => Promise<RiskStore>;
  close(): Promise<void>;
}

const T0 = 1_767_225_600_000;
const MINUTE = 60_000;

const signal: Signal = {
  kind: 'failure_burst',
  environment: 'production',
  subject: { type: 'key', id: 'pk_live_a' },
  keyId: 'pk_live_a',
  accountId: 'acc_a',
  ipPrefix: '198.51.100.0/24',
  action: 'balance.read',
  atMs: T0,
  shadow: false,
  observed: 21,
  threshold: 20,
};

const stepDown: ResponseAction = {
  step: 'step_down',
  signal,
  alert: true,
  keyId: 'pk_live_a',
  withdraw: 'suspended',
  trade: 'cancel_only',
  durationMs: 15 * MINUTE,
};

const response = (id: string, overrides: Partial<StoredResponse> = {}): StoredResponse => ({
  id,
  environment: 'production',
  keyId: 'pk_live_a',
  ipPrefix: '198.51.100.0/24',
  action: stepDown,
  reason: 'failure_burst',
  startedAtMs: T0,
  expiresAtMs: T0 + 15 * MINUTE,
  liftedAtMs: null,
  liftedBy: null,
  ...overrides,
});

const alert = (id: string, overrides: Partial<StoredAlert> = {}): StoredAlert => ({
  id,
  state: 'open',
  signal: 'failure_burst',
  step: 'step_down',
  environment: 'production',
  keyId: 'pk_live_a',
  accountId: 'acc_a',
  ipPrefix: '198.51.100.0/24',
  observed: 21.5,
  threshold: 20,
  responseId: 'rsp_1',
  createdAt: T0,
  updatedAt: T0,
  updatedBy: null,
  ...overrides,
});

const DAY = 86_400_000;
const prefixSighting = (value: string, atMs: number, keyId = 'pk_live_a'): Sighting => ({
  environment: 'production',
  subject: { type: 'key', id: keyId },
  kind: 'prefix',
  value,
  atMs,
});
/** The prefix rule: forgotten after 30 days unseen, at most `keep` per key. */
const prefixRule = (atMs: number, keep = 16): SightingRule => ({ sinceMs: atMs - 30 * DAY, keep });

/** Registers the contract for one adapter. */
export function describeRiskStoreContract(
  name: string,
  factory: () => Promise<RiskStoreHarness>,
): void {
  describe(`risk store contract: ${name}`, () => {
    let harness: RiskStoreHarness;
    let store: RiskStore;
    beforeEach(async () => {
      harness = await factory();
      store = harness.store;
    });
    afterEach(async () => {
      await harness.close();
    });

    describe('responses', () => {
      it('returns a stored response unchanged, its action included', async () => {
        const governance = response('rsp_2', {
          action: { step: 'disable_key', keyId: 'pk_live_a', because: 'KEY_DORMANT' },
          expiresAtMs: null,
          startedAtMs: T0 + 1,
        });
        await store.insertResponse(response('rsp_1'));
        await store.insertResponse(governance);
        expect(await store.listActiveResponses(T0)).toEqual([response('rsp_1'), governance]);
      });

      it('lists only responses neither expired nor lifted, oldest first', async () => {
        await store.insertResponse(response('rsp_late', { startedAtMs: T0 + 2 }));
        await store.insertResponse(response('rsp_early', { startedAtMs: T0 + 1 }));
        await store.insertResponse(response('rsp_expired', { expiresAtMs: T0 + MINUTE }));
        await store.insertResponse(response('rsp_lifted'));
        await store.liftResponse('rsp_lifted', T0 + 3, 'adm_op');
        const ids = (await store.listActiveResponses(T0 + MINUTE)).map((r) => r.id);
        expect(ids).toEqual(['rsp_early', 'rsp_late']);
      });

      it('keeps the first lift: a second operator lifting it changes nothing', async () => {
        await store.insertResponse(response('rsp_1', { expiresAtMs: null }));
        await store.liftResponse('rsp_1', T0 + 5, 'adm_first');
        await store.liftResponse('rsp_1', T0 + 9, 'adm_second');
        expect(await store.listActiveResponses(T0)).toEqual([]);
      });

      it('refuses a second response with the same id', async () => {
        await store.insertResponse(response('rsp_1'));
        await expect(store.insertResponse(response('rsp_1'))).rejects.toThrow();
      });
    });

    describe('alerts', () => {
      it('returns a stored alert unchanged and moves it through its states', async () => {
        await store.insertAlert(alert('alr_1'));
        expect(await store.getAlert('alr_1')).toEqual(alert('alr_1'));
        await store.updateAlert('alr_1', 'acknowledged', T0 + 7, 'adm_op');
        expect(await store.getAlert('alr_1')).toEqual(
          alert('alr_1', { state: 'acknowledged', updatedAt: T0 + 7, updatedBy: 'adm_op' }),
        );
        expect(await store.getAlert('alr_none')).toBeUndefined();
      });

      it('lists newest first, filtered by environment, state and key, up to the limit', async () => {
        await store.insertAlert(alert('alr_1', { createdAt: T0 + 1 }));
        await store.insertAlert(alert('alr_2', { createdAt: T0 + 2, environment: 'sandbox' }));
        await store.insertAlert(alert('alr_3', { createdAt: T0 + 3, keyId: 'pk_live_b' }));
        await store.insertAlert(alert('alr_4', { createdAt: T0 + 4, state: 'resolved' }));
        const ids = async (q: Parameters<RiskStore['listAlerts']>[0]) =>
          (await store.listAlerts(q)).map((a) => a.id);
        expect(await ids({ limit: 10 })).toEqual(['alr_4', 'alr_3', 'alr_2', 'alr_1']);
        expect(await ids({ limit: 2 })).toEqual(['alr_4', 'alr_3']);
        expect(await ids({ limit: 10, environment: 'sandbox' })).toEqual(['alr_2']);
        expect(await ids({ limit: 10, state: 'open', keyId: 'pk_live_a' })).toEqual([
          'alr_2',
          'alr_1',
        ]);
      });
    });

    describe('first sightings', () => {
      it('answers first once per value, and counts the other values seen', async () => {
        const seen = (value: string, atMs: number) =>
          store.sight(prefixSighting(value, atMs), prefixRule(atMs));
        expect(await seen('198.51.100.0/24', T0)).toEqual({ first: true, others: 0 });
        expect(await seen('198.51.100.0/24', T0 + MINUTE)).toEqual({ first: false, others: 0 });
        expect(await seen('203.0.113.0/24', T0 + 2 * MINUTE)).toEqual({ first: true, others: 1 });
        // Per subject, kind and environment.
        expect(
          await store.sight(prefixSighting('198.51.100.0/24', T0, 'pk_live_b'), prefixRule(T0)),
        ).toEqual({ first: true, others: 0 });
        const action: Sighting = {
          environment: 'production',
          subject: { type: 'account', id: 'acc_a' },
          kind: 'action',
          value: 'withdrawal.create',
          atMs: T0,
        };
        const never: SightingRule = { sinceMs: 0, keep: 0 };
        expect(await store.sight(action, never)).toEqual({ first: true, others: 0 });
        expect(await store.sight({ ...action, atMs: T0 + 400 * DAY }, never)).toEqual({
          first: false,
          others: 0,
        });
        expect(await store.sight({ ...action, environment: 'sandbox' }, never)).toEqual({
          first: true,
          others: 0,
        });
      });

      it('a value unseen since the rule forgets is first again; others count only live ones', async () => {
        const seen = (value: string, atMs: number) =>
          store.sight(prefixSighting(value, atMs), prefixRule(atMs));
        await seen('198.51.100.0/24', T0);
        await seen('203.0.113.0/24', T0 + 20 * DAY);
        expect(await seen('198.51.100.0/24', T0 + 31 * DAY)).toEqual({ first: true, others: 1 });
        // Seen again on day 31, so still known on day 60; the other one is forgotten.
        expect(await seen('198.51.100.0/24', T0 + 60 * DAY)).toEqual({ first: false, others: 0 });
      });

      it('keeps at most `keep` values per subject, dropping the least recently seen', async () => {
        const seen = (value: string, atMs: number) =>
          store.sight(prefixSighting(value, atMs), prefixRule(atMs, 2));
        await seen('10.0.1.0/24', T0);
        await seen('10.0.2.0/24', T0 + 1);
        await seen('10.0.1.0/24', T0 + 2);
        await seen('10.0.3.0/24', T0 + 3); // drops 10.0.2.0/24, the least recently seen
        expect(await seen('10.0.1.0/24', T0 + 4)).toEqual({ first: false, others: 1 });
        expect(await seen('10.0.2.0/24', T0 + 5)).toEqual({ first: true, others: 2 });
      });
    });

    describe('shared by the nodes on one store', () => {
      it('a value one node has seen is not first on another; concurrent news: one first', async (context) => {
        if (harness.openPeer === undefined) {
          context.skip();
          return;
        }
        const peer = await harness.openPeer();
        await store.sight(prefixSighting('198.51.100.0/24', T0), prefixRule(T0));
        expect(
          await peer.sight(prefixSighting('198.51.100.0/24', T0 + 1), prefixRule(T0 + 1)),
        ).toEqual({ first: false, others: 0 });
        const answers = await Promise.all(
          [store, peer, store, peer].map((each, i) =>
            each.sight(prefixSighting('203.0.113.0/24', T0 + 10 + i), prefixRule(T0 + 10 + i)),
          ),
        );
        expect(answers.filter((a) => a.first)).toHaveLength(1);
      });

      it("reads another node's responses and lifts, and its alerts", async (context) => {
        if (harness.openPeer === undefined) {
          context.skip();
          return;
        }
        const peer = await harness.openPeer();
        await store.insertResponse(response('rsp_1', { expiresAtMs: null }));
        await store.insertAlert(alert('alr_1'));
        expect((await peer.listActiveResponses(T0)).map((r) => r.id)).toEqual(['rsp_1']);
        expect(await peer.getAlert('alr_1')).toEqual(alert('alr_1'));
        await peer.liftResponse('rsp_1', T0 + 1, 'adm_op');
        expect(await store.listActiveResponses(T0)).toEqual([]);
      });
    });
  });
}
