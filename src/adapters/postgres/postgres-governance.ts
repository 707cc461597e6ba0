/**
 * The governance ports over PostgreSQL: versioned policies, approvals with compare-and-set, the
 * withdrawal address book and the reservation ledger. Every change runs in one transaction of
 * the control store together with its audit entry (the audit head row is locked last).
 *
 * Concurrency, with several nodes on one database (READ COMMITTED):
 * - a policy version is an INSERT … ON CONFLICT DO NOTHING on (id, version): of two writers
 *   from the same version, the second waits for the first's commit and then inserts nothing;
 * - an approval transition is an UPDATE … WHERE state and version match: a loser re-checks the
 *   WHERE against the committed row and matches nothing;
 * - a reservation locks the account's ledger row (`SELECT … FOR UPDATE`) before it reads the
 *   reservations, so two withdrawals of one account decide one after the other on the latest
 *   state and cannot pass a limit together;
 * - spend allowances: see postgres-allowances.ts.
 */
import type { AuditDraft, AuditEntry } from '../../core/audit/audit-chain.js';
import {
  DAY_MS,
  commitReservation,
  releaseReservation,
  reserve,
  type LedgerState,
} from '../../core/transactions/withdrawal-ledger.js';
import type { GovernanceStore, WithdrawalSettings } from '../../ports.js';
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
} from '../sqlite/governance-rows.js';
import type { PgQueryable } from './pg-pool.js';
import { createPostgresAllowances } from './postgres-allowances.js';

/** What the control store lends the governance methods: reads, transactions, audit appends. */
export interface PostgresTx {
  read<Row>(text: string, values?: readonly unknown[]): Promise<Row[]>;
  tx<T>(fn: (client: PgQueryable) => Promise<T>): Promise<T>;
  appendInTx(client: PgQueryable, draft: AuditDraft): Promise<AuditEntry>;
}

const POLICY_COLUMNS = `id, version, effect, target, condition, mode, description, quorum, active,
  created_at, updated_at, updated_by`;
const APPROVAL_COLUMNS = `id, kind, state, version, request_digest, initiator, quorum,
  approver_pool, votes, created_at, expires_at, updated_at, execute_by, execution, subject, result`;
const ADDRESS_COLUMNS = `id, account_id, asset, network, address, memo, added_at, usable_from,
  removed_at`;
const RESERVATION_COLUMNS = `id, account_id, key_id, asset, network, address, amount, created_at,
  expires_at, status`;

/**
 * The account's ledger, locked for the rest of the transaction. The row is created on first use
 * (a concurrent creator waits on the unique index, then finds it), then locked, and only then
 * are lapsed and out-of-window reservations dropped and the rest read.
 */
async function lockedLedger(
  client: PgQueryable,
  accountId: string,
  nowMs: number,
): Promise<LedgerState> {
  await client.query(
    `INSERT INTO withdrawal_ledgers (account_id, version) VALUES ($1, 0)
     ON CONFLICT (account_id) DO NOTHING`,
    [accountId],
  );
  const locked = await client.query<{ version: number }>(
    'SELECT version FROM withdrawal_ledgers WHERE account_id = $1 FOR UPDATE',
    [accountId],
  );
  await client.query(
    `DELETE FROM withdrawal_reservations WHERE account_id = $1 AND
       (created_at <= $2 OR (status = 'reserved' AND expires_at <= $3))`,
    [accountId, nowMs - DAY_MS, nowMs],
  );
  const rows = await client.query<ReservationRow>(
    `SELECT ${RESERVATION_COLUMNS} FROM withdrawal_reservations WHERE account_id = $1
     ORDER BY created_at, id`,
    [accountId],
  );
  return {
    version: locked.rows[0]?.version ?? 0,
    reservations: rows.rows.map(reservationFromRow),
  };
}

const setLedgerVersion = (client: PgQueryable, accountId: string, version: number) =>
  client.query('UPDATE withdrawal_ledgers SET version = $2 WHERE account_id = $1', [
    accountId,
    version,
  ]);

/** Builds the governance methods over the control store's pool and transaction helpers. */
export function createPostgresGovernance(pg: PostgresTx): GovernanceStore {
  return {
    ...createPostgresAllowances(pg),
    async listPolicies() {
      const rows = await pg.read<PolicyRow>(
        `SELECT ${POLICY_COLUMNS} FROM (
           SELECT DISTINCT ON (id) * FROM policies ORDER BY id, version DESC) latest
         WHERE active = 1 ORDER BY created_at, id`,
      );
      return rows.map(policyFromRow);
    },
    async getPolicy(id) {
      const [row] = await pg.read<PolicyRow>(
        `SELECT ${POLICY_COLUMNS} FROM policies WHERE id = $1 ORDER BY version DESC LIMIT 1`,
        [id],
      );
      return row && policyFromRow(row);
    },
    async policyHistory(id) {
      const rows = await pg.read<PolicyRow>(
        `SELECT ${POLICY_COLUMNS} FROM policies WHERE id = $1 ORDER BY version`,
        [id],
      );
      return rows.map(policyFromRow);
    },
    writePolicy: (record, expectedVersion, audit) =>
      pg.tx(async (client) => {
        const latest = await client.query<{ version: number }>(
          'SELECT max(version) AS version FROM policies WHERE id = $1',
          [record.id],
        );
        if ((latest.rows[0]?.version ?? 0) !== expectedVersion) return false;
        const inserted = await client.query(
          `INSERT INTO policies (${POLICY_COLUMNS})
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
           ON CONFLICT (id, version) DO NOTHING`,
          [
            record.id,
            record.version,
            record.effect,
            JSON.stringify(record.target),
            record.condition,
            record.mode,
            record.description,
            record.quorum,
            record.active ? 1 : 0,
            record.createdAt,
            record.updatedAt,
            record.updatedBy,
          ],
        );
        if (inserted.rowCount !== 1) return false;
        await pg.appendInTx(client, audit);
        return true;
      }),

    createApproval: (record, audit) =>
      pg.tx(async (client) => {
        const a = approvalParams(record.approval);
        await client.query(
          `INSERT INTO approvals (${APPROVAL_COLUMNS})
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, NULL)`,
          [
            a['id'],
            a['kind'],
            a['state'],
            a['version'],
            a['requestDigest'],
            a['initiator'],
            a['quorum'],
            a['approverPool'],
            a['votes'],
            a['createdAt'],
            a['expiresAt'],
            a['updatedAt'],
            a['executeBy'],
            a['execution'],
            JSON.stringify(record.subject),
          ],
        );
        await pg.appendInTx(client, audit);
      }),
    async getApproval(id) {
      const [row] = await pg.read<ApprovalRow>(
        `SELECT ${APPROVAL_COLUMNS} FROM approvals WHERE id = $1`,
        [id],
      );
      return row && approvalFromRow(row);
    },
    async listApprovals(filter) {
      const rows =
        filter.state === undefined
          ? await pg.read<ApprovalRow>(
              `SELECT ${APPROVAL_COLUMNS} FROM approvals ORDER BY created_at DESC, id LIMIT $1`,
              [filter.limit],
            )
          : await pg.read<ApprovalRow>(
              `SELECT ${APPROVAL_COLUMNS} FROM approvals WHERE state = $1
               ORDER BY created_at DESC, id LIMIT $2`,
              [filter.state, filter.limit],
            );
      return rows.map(approvalFromRow);
    },
    transitionApproval: (next, transition, audit, result) =>
      pg.tx(async (client) => {
        if (transition.from === null) return false;
        const a = approvalParams(next);
        const changed = await client.query(
          `UPDATE approvals SET state = $2, version = $3, votes = $4, updated_at = $5,
             execute_by = $6, execution = $7, result = coalesce($8, result)
           WHERE id = $1 AND state = $9 AND version = $10`,
          [
            a['id'],
            a['state'],
            a['version'],
            a['votes'],
            a['updatedAt'],
            a['executeBy'],
            a['execution'],
            result === undefined ? null : JSON.stringify(result),
            transition.from.state,
            transition.from.version,
          ],
        );
        if (changed.rowCount !== 1) return false;
        await pg.appendInTx(client, audit);
        return true;
      }),

    async getWithdrawalSettings(accountId) {
      const [row] = await pg.read<{ settings: string }>(
        'SELECT settings FROM withdrawal_settings WHERE account_id = $1',
        [accountId],
      );
      return row && (JSON.parse(row.settings) as WithdrawalSettings);
    },
    putWithdrawalSettings: (settings, audit) =>
      pg.tx(async (client) => {
        await client.query(
          `INSERT INTO withdrawal_settings (account_id, settings, updated_at) VALUES ($1, $2, $3)
           ON CONFLICT (account_id)
           DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at`,
          [settings.accountId, JSON.stringify(settings), settings.updatedAt],
        );
        await pg.appendInTx(client, audit);
      }),
    addAddress: (entry, audit) =>
      pg.tx(async (client) => {
        await client.query(
          `INSERT INTO withdrawal_addresses (${ADDRESS_COLUMNS})
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
          [
            entry.id,
            entry.accountId,
            entry.asset,
            entry.network,
            entry.address,
            entry.memo ?? null,
            entry.addedAt,
            entry.usableFrom,
            entry.removedAt ?? null,
          ],
        );
        await pg.appendInTx(client, audit);
      }),
    async listAddresses(accountId) {
      const rows = await pg.read<AddressRow>(
        `SELECT ${ADDRESS_COLUMNS} FROM withdrawal_addresses WHERE account_id = $1
         ORDER BY added_at, id`,
        [accountId],
      );
      return rows.map(addressFromRow);
    },
    reserveWithdrawal: (request, rules, nowMs, audit) =>
      pg.tx(async (client) => {
        const state = await lockedLedger(client, request.accountId, nowMs);
        const { addressBookRequired, ...limits } = rules;
        const entries = addressBookRequired
          ? (
              await client.query<AddressRow>(
                `SELECT ${ADDRESS_COLUMNS} FROM withdrawal_addresses WHERE account_id = $1
                 ORDER BY added_at, id`,
                [request.accountId],
              )
            ).rows.map(addressFromRow)
          : [];
        const result = reserve(
          state,
          request,
          { ...limits, addressBook: { required: addressBookRequired, entries } },
          nowMs,
        );
        if (!result.ok) return result;
        const r = result.reservation;
        await client.query(
          `INSERT INTO withdrawal_reservations (${RESERVATION_COLUMNS})
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
          [
            r.id,
            r.accountId,
            r.keyId,
            r.asset,
            r.network,
            r.address,
            r.amount,
            r.createdAt,
            r.expiresAt,
            r.status,
          ],
        );
        await setLedgerVersion(client, request.accountId, result.newState.version);
        await pg.appendInTx(client, { ...audit, data: { ...audit.data, amount: r.amount } });
        return result;
      }),
    settleReservation: (accountId, reservationId, outcome, nowMs, audit) =>
      pg.tx(async (client) => {
        const state = await lockedLedger(client, accountId, nowMs);
        const result =
          outcome === 'commit'
            ? commitReservation(state, reservationId, nowMs)
            : releaseReservation(state, reservationId);
        if (!result.ok) return false;
        await client.query(
          outcome === 'commit'
            ? `UPDATE withdrawal_reservations SET status = 'committed' WHERE id = $1`
            : 'DELETE FROM withdrawal_reservations WHERE id = $1',
          [reservationId],
        );
        await setLedgerVersion(client, accountId, result.newState.version);
        await pg.appendInTx(client, audit);
        return true;
      }),
  };
}
