/** The API key model shared by the control plane and the data plane. */
import type { AllowanceKind } from '../transactions/spend-allowance.js';

export const ENVIRONMENTS = ['sandbox', 'production'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

export const SCOPES = ['read', 'trade', 'withdraw', 'transfer'] as const;
export type Scope = (typeof SCOPES)[number];

export const KEY_SCHEMES = ['hmac', 'ed25519'] as const;
export type KeyScheme = (typeof KEY_SCHEMES)[number];

export type KeyStatus = 'active' | 'revoked';

/** What is stored about a key, minus its secret material. Times are epoch milliseconds. */
export interface ApiKey {
  readonly id: string;
  readonly accountId: string;
  readonly label: string;
  readonly environment: Environment;
  readonly scheme: KeyScheme;
  readonly scopes: readonly Scope[];
  /** Normalised CIDRs (IPv4-mapped IPv6 written as IPv4). Empty means any address. */
  readonly ipAllowlist: readonly string[];
  readonly hasPassphrase: boolean;
  readonly status: KeyStatus;
  readonly createdAt: number;
  readonly expiresAt: number | null;
  readonly revokedAt: number | null;
  readonly lastUsedAt: number | null;
  /** Bumped on every change (rotation, scope, allowlist, revocation): caches compare it. */
  readonly epoch: number;
  /** Version of the current secret; previous versions may still verify within their grace. */
  readonly secretVersion: number;
  /**
   * The kinds of spend allowance the key holds (docs/policies.md §4.1), as loaded with the key
   * for the data plane; absent when it holds none. Requests of these kinds are held against the
   * store, so a key without allowances costs the data plane no store round trip.
   */
  readonly allowanceKinds?: readonly AllowanceKind[];
}

export interface Account {
  readonly id: string;
  readonly name: string;
  readonly createdAt: number;
}

export const KEY_ID_PREFIX: Readonly<Record<Environment, string>> = {
  production: 'pk_live_',
  sandbox: 'pk_test_',
};

/** The environment a key id claims by its prefix, if any. */
export function environmentOfKeyId(keyId: string): Environment | undefined {
  if (keyId.startsWith(KEY_ID_PREFIX.production)) return 'production';
  if (keyId.startsWith(KEY_ID_PREFIX.sandbox)) return 'sandbox';
  return undefined;
}

export function isScope(value: string): value is Scope {
  return (SCOPES as readonly string[]).includes(value);
}

export function isEnvironment(value: string): value is Environment {
  return (ENVIRONMENTS as readonly string[]).includes(value);
}

/** Key state at a moment: revoked wins over expired. */
export function keyState(key: ApiKey, nowMs: number): 'active' | 'revoked' | 'expired' {
  if (key.status === 'revoked') return 'revoked';
  if (key.expiresAt !== null && nowMs >= key.expiresAt) return 'expired';
  return 'active';
}
