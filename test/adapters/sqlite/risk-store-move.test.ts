/**
 * Upgrading a node whose alerts and responses lived in its own observability database: they move
 * once into the control store's shared risk tables, so a disable in force survives the upgrade.
 */
import BetterSqlite3, { type Database } from 'better-sqlite3';
import { afterEach, beforeEach, expect, it } from 'vitest';
import {
  createSqliteRiskStore,
  moveLocalRiskRows,
} from '../../../src/adapters/sqlite/risk-store.js';
import {
  createMemoryRiskStore,
  type StoredAlert,
  type StoredResponse,
} from '../../../src/services/risk-store.js';

const T0 = 1_767_225_600_000;
let local: Database;
beforeEach(() => {
  local = new BetterSqlite3(':memory:');
});
afterEach(() => {
  local.close();
});

const response = (id: string, liftedAtMs: number | null = null): StoredResponse => ({
  id,
  environment: 'production',
  keyId: 'pk_live_a',
  ipPrefix: null,
  action: { step: 'disable_key', keyId: 'pk_live_a', because: 'KEY_DORMANT' },
  reason: 'KEY_DORMANT',
  startedAtMs: T0,
  expiresAtMs: null,
  liftedAtMs,
  liftedBy: liftedAtMs === null ? null : 'adm_op',
});

const alert = (id: string, state: StoredAlert['state']): StoredAlert => ({
  id,
  state,
  signal: 'failure_burst',
  step: 'disable_key',
  environment: 'production',
  keyId: 'pk_live_a',
  accountId: null,
  ipPrefix: null,
  observed: 3,
  threshold: 3,
  responseId: 'rsp_live',
  createdAt: T0,
  updatedAt: T0,
  updatedBy: null,
});

it('moves the responses in force and the unresolved alerts once, then renames the local tables', async () => {
  const old = createSqliteRiskStore(local);
  await old.insertResponse(response('rsp_live'));
  await old.insertResponse(response('rsp_lifted', T0 + 1));
  await old.insertAlert(alert('alr_open', 'open'));
  await old.insertAlert(alert('alr_done', 'resolved'));
  const shared = createMemoryRiskStore();
  await shared.insertResponse(response('rsp_live')); // a move cut short before the rename

  expect(await moveLocalRiskRows(local, shared, T0)).toEqual({ responses: 0, alerts: 1 });
  expect((await shared.listActiveResponses(T0)).map((r) => r.id)).toEqual(['rsp_live']);
  expect((await shared.listAlerts({ limit: 10 })).map((a) => a.id)).toEqual(['alr_open']);
  expect(await moveLocalRiskRows(local, shared, T0)).toEqual({ responses: 0, alerts: 0 });
});

it('moves nothing from a database that never held risk tables', async () => {
  expect(await moveLocalRiskRows(local, createMemoryRiskStore(), T0)).toEqual({
    responses: 0,
    alerts: 0,
  });
});
