/**
 * Governance row shapes (policies, approvals, address book, reservations) and their mapping to
 * the domain, shared by the SQLite and PostgreSQL adapters: both store the same columns, JSON as
 * text (kept byte for byte), times as integer epoch milliseconds.
 */
import type { Approval, ApprovalState } from '../../core/approvals/approval.js';
import type { JsonValue } from '../../core/audit/canonical-json.js';
import type { AddressBookEntry } from '../../core/transactions/address-book.js';
import type { Reservation } from '../../core/transactions/withdrawal-ledger.js';
import type { ApprovalRecord, PolicyRecord } from '../../ports.js';

export interface PolicyRow {
  id: string;
  version: number;
  effect: PolicyRecord['effect'];
  target: string;
  condition: string;
  mode: PolicyRecord['mode'];
  description: string;
  quorum: number | null;
  active: number;
  created_at: number;
  updated_at: number;
  updated_by: string;
}

export interface ApprovalRow {
  id: string;
  kind: string;
  state: ApprovalState;
  version: number;
  request_digest: string;
  initiator: string;
  quorum: number;
  approver_pool: string | null;
  votes: string;
  created_at: number;
  expires_at: number;
  updated_at: number;
  execute_by: number | null;
  execution: string | null;
  subject: string;
  result: string | null;
}

export interface AddressRow {
  id: string;
  account_id: string;
  asset: string;
  network: string;
  address: string;
  memo: string | null;
  added_at: number;
  usable_from: number;
  removed_at: number | null;
}

export interface ReservationRow {
  id: string;
  account_id: string;
  key_id: string;
  asset: string;
  network: string;
  address: string;
  amount: string;
  created_at: number;
  expires_at: number;
  status: 'reserved' | 'committed';
}

export type JsonObject = { readonly [name: string]: JsonValue };

/** A stored policy version as the domain record. */
export function policyFromRow(row: PolicyRow): PolicyRecord {
  return {
    id: row.id,
    version: Number(row.version),
    effect: row.effect,
    target: JSON.parse(row.target) as PolicyRecord['target'],
    condition: row.condition,
    mode: row.mode,
    description: row.description,
    quorum: row.quorum === null ? null : Number(row.quorum),
    active: Number(row.active) === 1,
    createdAt: Number(row.created_at),
    updatedAt: Number(row.updated_at),
    updatedBy: row.updated_by,
  };
}

/** An approval as named statement parameters (JSON columns serialised). */
export function approvalParams(approval: Approval): Record<string, string | number | null> {
  return {
    id: approval.id,
    kind: approval.kind,
    state: approval.state,
    version: approval.version,
    requestDigest: approval.requestDigest,
    initiator: approval.initiator,
    quorum: approval.quorum,
    approverPool: approval.approverPool === null ? null : JSON.stringify(approval.approverPool),
    votes: JSON.stringify(approval.votes),
    createdAt: approval.createdAt,
    expiresAt: approval.expiresAt,
    updatedAt: approval.updatedAt,
    executeBy: approval.executeBy ?? null,
    execution: approval.execution === undefined ? null : JSON.stringify(approval.execution),
  };
}

/** An approval row as the record the approval service works on. */
export function approvalFromRow(row: ApprovalRow): ApprovalRecord {
  const approval: Approval = {
    id: row.id,
    kind: row.kind,
    requestDigest: row.request_digest,
    initiator: row.initiator,
    quorum: Number(row.quorum),
    approverPool: row.approver_pool === null ? null : (JSON.parse(row.approver_pool) as string[]),
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    state: row.state,
    votes: JSON.parse(row.votes) as Approval['votes'],
    version: Number(row.version),
    updatedAt: Number(row.updated_at),
    ...(row.execute_by !== null ? { executeBy: Number(row.execute_by) } : {}),
    ...(row.execution !== null
      ? { execution: JSON.parse(row.execution) as NonNullable<Approval['execution']> }
      : {}),
  };
  return {
    approval,
    subject: JSON.parse(row.subject) as JsonObject,
    result: row.result === null ? null : (JSON.parse(row.result) as JsonObject),
  };
}

/** An address-book row as the domain entry (absent optionals left out). */
export function addressFromRow(row: AddressRow): AddressBookEntry {
  return {
    id: row.id,
    accountId: row.account_id,
    asset: row.asset,
    network: row.network,
    address: row.address,
    ...(row.memo !== null ? { memo: row.memo } : {}),
    addedAt: Number(row.added_at),
    usableFrom: Number(row.usable_from),
    ...(row.removed_at !== null ? { removedAt: Number(row.removed_at) } : {}),
  };
}

/** A reservation row as the ledger's reservation. */
export function reservationFromRow(row: ReservationRow): Reservation {
  return {
    id: row.id,
    accountId: row.account_id,
    keyId: row.key_id,
    asset: row.asset,
    network: row.network,
    address: row.address,
    amount: row.amount,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
    status: row.status,
  };
}
