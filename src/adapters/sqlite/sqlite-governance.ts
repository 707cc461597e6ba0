/**
 * The governance ports over SQLite: versioned policies, approvals with compare-and-set, the
 * withdrawal address book, the reservation ledger and spend allowances (sqlite-allowances.ts).
 * Every change runs inside the control store's BEGIN IMMEDIATE transaction together with its
 * audit entry.
 */
import type { Database } from 'better-sqlite3';
import type { AuditDraft, AuditEntry } from '../../core/audit/audit-chain.js';
import {
  DAY_MS,
  commitReservation,
  releaseReservation,
  reserve,
  type LedgerState,
} from '../../core/transactions/withdrawal-ledger.js';
import type { GovernanceStore, WithdrawalSettings } from '../../ports.js';
import { createSqliteAllowances } from './sqlite-allowances.js';
import {
  addressFromRow,
  approvalFromRow,
  approvalParams,
  policyFromRow,
  reservationFromRow,
  type AddressRow,
  type ApprovalRow,
  type PolicyRow,
  type ReservationRow,
} from './governance-rows.js';

export interface SqliteTx {
  readonly db: Database;
  tx<T>(fn: () => T): T;
  appendInTx(draft: AuditDraft): AuditEntry;
}

/** Builds the governance methods over the control store's database and transaction helpers. */
export function createSqliteGovernance(sql: SqliteTx): GovernanceStore {
  const { db } = sql;
  const p = (text: string) => db.prepare(text);
  const s = {
    latestPolicy: p('SELECT * FROM policies WHERE id = ? ORDER BY version DESC LIMIT 1'),
    policyHistory: p('SELECT * FROM policies WHERE id = ? ORDER BY version'),
    currentPolicies: p(`SELECT p.* FROM policies p
      JOIN (SELECT id, max(version) AS v FROM policies GROUP BY id) l ON p.id = l.id AND p.version = l.v
      WHERE p.active = 1 ORDER BY p.created_at, p.id`),
    insertPolicy:
      p(`INSERT INTO policies (id, version, effect, target, condition, mode, description,
      quorum, active, created_at, updated_at, updated_by) VALUES (@id, @version, @effect, @target,
      @condition, @mode, @description, @quorum, @active, @createdAt, @updatedAt, @updatedBy)`),
    insertApproval:
      p(`INSERT INTO approvals (id, kind, state, version, request_digest, initiator, quorum,
      approver_pool, votes, created_at, expires_at, updated_at, execute_by, execution, subject, result)
      VALUES (@id, @kind, @state, @version, @requestDigest, @initiator, @quorum, @approverPool, @votes,
      @createdAt, @expiresAt, @updatedAt, @executeBy, @execution, @subject, NULL)`),
    getApproval: p('SELECT * FROM approvals WHERE id = ?'),
    casApproval: p(`UPDATE approvals SET state = @state, version = @version, votes = @votes,
      updated_at = @updatedAt, execute_by = @executeBy, execution = @execution,
      result = coalesce(@result, result)
      WHERE id = @id AND state = @fromState AND version = @fromVersion`),
    getSettings: p('SELECT settings FROM withdrawal_settings WHERE account_id = ?'),
    putSettings:
      p(`INSERT INTO withdrawal_settings (account_id, settings, updated_at) VALUES (?, ?, ?)
      ON CONFLICT(account_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at`),
    insertAddress:
      p(`INSERT INTO withdrawal_addresses (id, account_id, asset, network, address, memo,
      added_at, usable_from, removed_at) VALUES (@id, @accountId, @asset, @network, @address, @memo,
      @addedAt, @usableFrom, @removedAt)`),
    listAddresses: p(
      'SELECT * FROM withdrawal_addresses WHERE account_id = ? ORDER BY added_at, id',
    ),
    ledgerVersion: p('SELECT version FROM withdrawal_ledgers WHERE account_id = ?'),
    setLedgerVersion: p(`INSERT INTO withdrawal_ledgers (account_id, version) VALUES (?, ?)
      ON CONFLICT(account_id) DO UPDATE SET version = excluded.version`),
    pruneReservations: p(`DELETE FROM withdrawal_reservations WHERE account_id = ? AND
      (created_at <= ? OR (status = 'reserved' AND expires_at <= ?))`),
    reservations: p(
      'SELECT * FROM withdrawal_reservations WHERE account_id = ? ORDER BY created_at, id',
    ),
    insertReservation:
      p(`INSERT INTO withdrawal_reservations (id, account_id, key_id, asset, network,
      address, amount, created_at, expires_at, status) VALUES (@id, @accountId, @keyId, @asset, @network,
      @address, @amount, @createdAt, @expiresAt, @status)`),
    commitReservation: p(`UPDATE withdrawal_reservations SET status = 'committed' WHERE id = ?`),
    deleteReservation: p('DELETE FROM withdrawal_reservations WHERE id = ?'),
  };

  /** The account's ledger inside the transaction; lapsed and out-of-window rows are dropped first. */
  function ledgerOf(accountId: string, nowMs: number): LedgerState {
    s.pruneReservations.run(accountId, nowMs - DAY_MS, nowMs);
    const version = (s.ledgerVersion.get(accountId) as { version: number } | undefined)?.version;
    const rows = s.reservations.all(accountId) as ReservationRow[];
    return { version: version ?? 0, reservations: rows.map(reservationFromRow) };
  }

  return {
    ...createSqliteAllowances(sql),
    listPolicies: () => settle(() => (s.currentPolicies.all() as PolicyRow[]).map(policyFromRow)),
    getPolicy: (id) =>
      settle(() => {
        const row = s.latestPolicy.get(id) as PolicyRow | undefined;
        return row && policyFromRow(row);
      }),
    policyHistory: (id) =>
      settle(() => (s.policyHistory.all(id) as PolicyRow[]).map(policyFromRow)),
    writePolicy: (record, expectedVersion, audit) =>
      settle(() =>
        sql.tx(() => {
          const latest = s.latestPolicy.get(record.id) as PolicyRow | undefined;
          if ((latest?.version ?? 0) !== expectedVersion) return false;
          s.insertPolicy.run({
            ...record,
            target: JSON.stringify(record.target),
            active: record.active ? 1 : 0,
          });
          sql.appendInTx(audit);
          return true;
        }),
      ),

    createApproval: (record, audit) =>
      settle(() => {
        sql.tx(() => {
          s.insertApproval.run({
            ...approvalParams(record.approval),
            subject: JSON.stringify(record.subject),
          });
          sql.appendInTx(audit);
        });
      }),
    getApproval: (id) =>
      settle(() => {
        const row = s.getApproval.get(id) as ApprovalRow | undefined;
        return row && approvalFromRow(row);
      }),
    listApprovals: (filter) =>
      settle(() => {
        const rows = (
          filter.state === undefined
            ? db
                .prepare('SELECT * FROM approvals ORDER BY created_at DESC, id LIMIT ?')
                .all(filter.limit)
            : db
                .prepare(
                  'SELECT * FROM approvals WHERE state = ? ORDER BY created_at DESC, id LIMIT ?',
                )
                .all(filter.state, filter.limit)
        ) as ApprovalRow[];
        return rows.map(approvalFromRow);
      }),
    transitionApproval: (next, transition, audit, result) =>
      settle(() =>
        sql.tx(() => {
          if (transition.from === null) return false;
          const changed = s.casApproval.run({
            ...approvalParams(next),
            result: result === undefined ? null : JSON.stringify(result),
            fromState: transition.from.state,
            fromVersion: transition.from.version,
          });
          if (changed.changes !== 1) return false;
          sql.appendInTx(audit);
          return true;
        }),
      ),

    getWithdrawalSettings: (accountId) =>
      settle(() => {
        const row = s.getSettings.get(accountId) as { settings: string } | undefined;
        return row && (JSON.parse(row.settings) as WithdrawalSettings);
      }),
    putWithdrawalSettings: (settings, audit) =>
      settle(() => {
        sql.tx(() => {
          s.putSettings.run(settings.accountId, JSON.stringify(settings), settings.updatedAt);
          sql.appendInTx(audit);
        });
      }),
    addAddress: (entry, audit) =>
      settle(() => {
        sql.tx(() => {
          s.insertAddress.run({
            ...entry,
            memo: entry.memo ?? null,
            removedAt: entry.removedAt ?? null,
          });
          sql.appendInTx(audit);
        });
      }),
    listAddresses: (accountId) =>
      settle(() => (s.listAddresses.all(accountId) as AddressRow[]).map(addressFromRow)),
    reserveWithdrawal: (request, rules, nowMs, audit) =>
      settle(() =>
        sql.tx(() => {
          const state = ledgerOf(request.accountId, nowMs);
          const { addressBookRequired, ...limits } = rules;
          const entries = addressBookRequired
            ? (s.listAddresses.all(request.accountId) as AddressRow[]).map(addressFromRow)
            : [];
          const result = reserve(
            state,
            request,
            { ...limits, addressBook: { required: addressBookRequired, entries } },
            nowMs,
          );
          if (!result.ok) return result;
          s.insertReservation.run({ ...result.reservation });
          s.setLedgerVersion.run(request.accountId, result.newState.version);
          sql.appendInTx({ ...audit, data: { ...audit.data, amount: result.reservation.amount } });
          return result;
        }),
      ),
    settleReservation: (accountId, reservationId, outcome, nowMs, audit) =>
      settle(() =>
        sql.tx(() => {
          const state = ledgerOf(accountId, nowMs);
          const result =
            outcome === 'commit'
              ? commitReservation(state, reservationId, nowMs)
              : releaseReservation(state, reservationId);
          if (!result.ok) return false;
          if (outcome === 'commit') s.commitReservation.run(reservationId);
          else s.deleteReservation.run(reservationId);
          s.setLedgerVersion.run(accountId, result.newState.version);
          sql.appendInTx(audit);
          return true;
        }),
      ),
  };
}

/** A synchronous driver call behind a Promise: failures reject, never throw synchronously. */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}
