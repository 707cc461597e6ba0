import type { AuditEntry } from '../../core/audit/audit-chain.js';
import type { JsonValue } from '../../core/audit/canonical-json.js';
import type { ApiKey, Environment, KeyScheme, KeyStatus, Scope } from '../../core/keys/model.js';
import type { AllowanceKind } from '../../core/transactions/spend-allowance.js';
import type { AdminRole, AdminToken, StoredKey, StoredSecretVersion } from '../../ports.js';

/** Row shapes and their mapping to the domain, shared by the SQL adapters. */
export interface KeyRow {
  id: string;
  account_id: string;
  label: string;
  environment: Environment;
  scheme: KeyScheme;
  scopes: string;
  ip_allowlist: string;
  passphrase_hash: string | null;
  public_key_pem: string | null;
  status: KeyStatus;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
  epoch: number;
  secret_version: number;
  /** Comma-separated kinds of the key's spend allowances (getKey only); null when none. */
  allowance_kinds?: string | null;
}

export interface SecretRow {
  key_id: string;
  version: number;
  ciphertext: Buffer;
  iv: Buffer;
  tag: Buffer;
  wrapped_dek: Buffer;
  dek_iv: Buffer;
  dek_tag: Buffer;
  kek_id: string;
  created_at: number;
  not_after: number | null;
}

export interface AdminTokenRow {
  id: string;
  role: AdminRole;
  label: string;
  token_hash: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  created_by: string;
}

export interface AuditRow {
  seq: number;
  ts: number;
  actor: string;
  action: string;
  target: string;
  request_id: string;
  data: string;
  prev_hash: string;
  hash: string;
  seal: string;
}

const num = (value: number | bigint | null): number | null =>
  value === null ? null : Number(value);

export function keyFromRow(row: KeyRow): StoredKey {
  const key: ApiKey = {
    id: row.id,
    accountId: row.account_id,
    label: row.label,
    environment: row.environment,
    scheme: row.scheme,
    scopes: JSON.parse(row.scopes) as Scope[],
    ipAllowlist: JSON.parse(row.ip_allowlist) as string[],
    hasPassphrase: row.passphrase_hash !== null,
    status: row.status,
    createdAt: Number(row.created_at),
    expiresAt: num(row.expires_at),
    revokedAt: num(row.revoked_at),
    lastUsedAt: num(row.last_used_at),
    epoch: Number(row.epoch),
    secretVersion: Number(row.secret_version),
    ...allowanceKindsOf(row.allowance_kinds),
  };
  return { key, passphraseHash: row.passphrase_hash, publicKeyPem: row.public_key_pem };
}

export function keyParams(stored: StoredKey): Record<string, string | number | null> {
  const { key } = stored;
  return {
    id: key.id,
    accountId: key.accountId,
    label: key.label,
    environment: key.environment,
    scheme: key.scheme,
    scopes: JSON.stringify(key.scopes),
    ipAllowlist: JSON.stringify(key.ipAllowlist),
    passphraseHash: stored.passphraseHash,
    publicKeyPem: stored.publicKeyPem,
    status: key.status,
    createdAt: key.createdAt,
    expiresAt: key.expiresAt,
    revokedAt: key.revokedAt,
    lastUsedAt: key.lastUsedAt,
    epoch: key.epoch,
    secretVersion: key.secretVersion,
  };
}

export function secretFromRow(row: SecretRow): StoredSecretVersion {
  return {
    keyId: row.key_id,
    version: Number(row.version),
    createdAt: Number(row.created_at),
    notAfter: num(row.not_after),
    sealed: {
      ciphertext: row.ciphertext,
      iv: row.iv,
      tag: row.tag,
      wrappedDek: row.wrapped_dek,
      dekIv: row.dek_iv,
      dekTag: row.dek_tag,
      kekId: row.kek_id,
    },
  };
}

export function secretParams(
  secret: StoredSecretVersion,
): Record<string, string | number | Buffer | null> {
  return {
    keyId: secret.keyId,
    version: secret.version,
    createdAt: secret.createdAt,
    notAfter: secret.notAfter,
    ...secret.sealed,
  };
}

export function adminTokenFromRow(row: AdminTokenRow): AdminToken {
  return {
    id: row.id,
    role: row.role,
    label: row.label,
    tokenHash: row.token_hash,
    createdAt: Number(row.created_at),
    expiresAt: num(row.expires_at),
    revokedAt: num(row.revoked_at),
    createdBy: row.created_by,
  };
}

export function auditFromRow(row: AuditRow): AuditEntry {
  return {
    seq: Number(row.seq),
    ts: Number(row.ts),
    actor: row.actor,
    action: row.action,
    target: row.target,
    requestId: row.request_id,
    data: parseAuditData(row.data),
    prevHash: row.prev_hash,
    hash: row.hash,
    seal: row.seal,
  };
}

/** A row whose data was edited into invalid JSON still verifies (and fails) instead of crashing. */
function parseAuditData(text: string): { [key: string]: JsonValue } {
  try {
    const value = JSON.parse(text) as unknown;
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      return value as { [key: string]: JsonValue };
    }
  } catch {
    // fall through
  }
  return { unparseable: text };
}

/** `notional,withdrawal` → `{ allowanceKinds: [...] }`; nothing when the key holds none. */
function allowanceKindsOf(text: string | null | undefined): Pick<ApiKey, 'allowanceKinds'> {
  if (text === null || text === undefined || text === '') return {};
  const kinds = text
    .split(',')
    .filter((k): k is AllowanceKind => k === 'notional' || k === 'withdrawal');
  return kinds.length === 0 ? {} : { allowanceKinds: [...new Set(kinds)].sort() };
}
