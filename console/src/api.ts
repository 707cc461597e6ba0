/**
 * The admin API as the console uses it: same origin, `Authorization: Bearer <token>`, the
 * error envelope turned into an ApiError that keeps the stable code and the details.
 */

export type Environment = 'sandbox' | 'production';
export type Role = 'owner' | 'operator' | 'auditor' | 'approver';

export interface Whoami {
  readonly id: string;
  readonly role: Role;
  readonly label: string;
}

export interface Account {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
}

export interface ApiKey {
  readonly id: string;
  readonly accountId: string;
  readonly label?: string;
  readonly environment: Environment;
  readonly scheme: 'hmac' | 'ed25519';
  readonly scopes: string[];
  readonly ipAllowlist: string[];
  readonly state: 'active' | 'revoked' | 'expired';
  readonly createdAt: string;
  readonly expiresAt?: string | null;
  readonly revokedAt?: string | null;
  readonly lastUsedAt?: string | null;
  readonly epoch?: number;
  readonly secretVersion?: number;
}

export interface KeyRisk {
  readonly keyId: string;
  readonly level: 'normal' | 'elevated' | 'high' | 'locked';
  readonly responses: { id: string; step: string; reason: string; expiresAt: string | null }[];
}

export interface GovernanceRow {
  readonly keyId: string;
  readonly findings: { code: string; dueAtMs: number; breached: boolean }[];
}

export interface Approval {
  readonly id: string;
  readonly kind: string;
  readonly state: string;
  readonly quorum: number;
  readonly initiator: string;
  readonly requestDigest: string;
  readonly votes: { approver: string; vote: string; at: string }[];
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly subject: Record<string, unknown>;
  readonly result: { status?: number; body?: unknown } | null;
}

export interface Policy {
  readonly id: string;
  readonly version: number;
  readonly effect: 'permit' | 'forbid' | 'require-approval';
  readonly target: { actions?: string[]; environments?: Environment[]; accounts?: string[] };
  readonly condition: string;
  readonly mode: 'enforce' | 'shadow';
  readonly description: string;
  readonly quorum: number;
  readonly active: boolean;
  readonly updatedAt: string;
  readonly updatedBy: string;
}

export interface AuditEntry {
  readonly seq: number;
  readonly ts: string;
  readonly actor: string;
  readonly action: string;
  readonly target: string;
  readonly requestId: string;
  readonly data: unknown;
  readonly hash: string;
}

export type AuditVerification =
  | { ok: true; entries: number; headSeq: number; headHash: string }
  | { ok: false; entries: number; firstBadSeq: number; problem: string };

export interface Alert {
  readonly id: string;
  readonly state: 'open' | 'acknowledged' | 'resolved';
  readonly signal: string;
  readonly step: string;
  readonly environment: Environment;
  readonly keyId: string | null;
  readonly observed: number | null;
  readonly threshold: number | null;
  readonly createdAt: string;
}

export interface TrafficRecord {
  readonly ts: string;
  readonly environment: Environment;
  readonly decision: string;
  readonly reason: string | null;
  readonly totalMs: number | null;
}

/** A refused admin call: the stable code, the message and any per-field details. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: readonly string[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** One admin API call; resolves with the JSON body, rejects with an ApiError. */
export async function call<T>(
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const init: RequestInit = { method, headers, cache: 'no-store' };
  if (body !== undefined) init.body = JSON.stringify(body);
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'NETWORK', 'The admin API could not be reached.');
  }
  const text = await response.text();
  let json: unknown = {};
  try {
    json = text === '' ? {} : JSON.parse(text);
  } catch {
    json = {};
  }
  if (!response.ok) {
    const error = (json as { error?: { code?: string; message?: string; details?: string[] } })
      .error;
    throw new ApiError(
      response.status,
      error?.code ?? `HTTP_${response.status}`,
      error?.message ?? response.statusText,
      error?.details ?? [],
    );
  }
  return json as T;
}

/** `?a=1&b=2` from the defined entries of `params`. */
export function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== '') q.set(name, String(value));
  }
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}
