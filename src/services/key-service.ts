import { createPublicKey, type KeyObject } from 'node:crypto';
import type { AuditDraft } from '../core/audit/audit-chain.js';
import type { JsonValue } from '../core/audit/canonical-json.js';
import type { Clock } from '../core/clock.js';
import { PortcullisError } from '../core/errors.js';
import {
  KEY_ID_PREFIX,
  isScope,
  keyState,
  type Account,
  type ApiKey,
  type Environment,
  type KeyScheme,
  type Scope,
} from '../core/keys/model.js';
import { parseCidrList } from '../core/net/cidr.js';
import type {
  AccountPage,
  ChangeEvents,
  ControlStore,
  StoredKey,
  StoredSecretVersion,
} from '../ports.js';
import { openSecret, sealSecret, type Keyring } from './envelope.js';
import { newHmacSecret, newId } from './ids.js';
import { hashPassphrase } from './passphrase.js';

/** Who is acting and under which request id: every change is audited with it. */
export interface ActorContext {
  readonly actor: string;
  readonly requestId: string;
}

export interface CreateKeyInput {
  readonly accountId: string;
  readonly environment: Environment;
  readonly scheme: KeyScheme;
  readonly scopes: readonly string[];
  readonly ipAllowlist?: readonly string[];
  readonly label?: string;
  /** Ed25519 public key: SPKI PEM, or base64 of the raw 32 bytes or of the SPKI DER. */
  readonly publicKey?: string;
  readonly passphrase?: string;
  readonly expiresAt?: number | null;
}

export interface UpdateKeyInput {
  readonly scopes?: readonly string[];
  readonly ipAllowlist?: readonly string[];
  readonly label?: string;
  readonly expiresAt?: number | null;
}

/** The view of a key that leaves the server: never a secret, hash or ciphertext. */
export type KeyView = ApiKey & { readonly state: 'active' | 'revoked' | 'expired' };

export interface KeyWithSecret {
  readonly key: KeyView;
  /** Shown exactly once; absent for ed25519 keys. */
  readonly secret?: string;
}

/** Material the data plane verifies with; held in memory only. */
export interface KeyVerificationMaterial {
  readonly stored: StoredKey;
  /** HMAC secret versions (UTF-8 bytes) with the time each stops verifying (null = current). */
  readonly secrets: readonly { readonly bytes: Buffer; readonly notAfter: number | null }[];
  readonly publicKey: KeyObject | null;
}

export interface KeyServiceDeps {
  readonly store: ControlStore;
  readonly clock: Clock;
  readonly keyring: () => Keyring;
  readonly events: ChangeEvents;
}

export const DEFAULT_ROTATION_GRACE_MS = 24 * 3_600_000;
const LABEL_MAX = 128;
// eslint-disable-next-line no-control-regex -- control characters are exactly what is refused
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** Account and key lifecycle: create, restrict, rotate with grace, expire, revoke. */
export function createKeyService(deps: KeyServiceDeps) {
  const { store, clock, events } = deps;
  const binding = (keyId: string, version: number): string => `${keyId}#${version}`;

  const audit = (
    ctx: ActorContext,
    action: string,
    target: string,
    data: Record<string, JsonValue>,
  ): AuditDraft => ({
    ts: clock.now(),
    actor: ctx.actor,
    action,
    target,
    requestId: ctx.requestId,
    data,
  });

  const view = (key: ApiKey): KeyView => ({ ...key, state: keyState(key, clock.now()) });

  function sealNewSecret(
    keyId: string,
    version: number,
  ): { secret: string; row: StoredSecretVersion } {
    const secret = newHmacSecret();
    const sealed = sealSecret(deps.keyring(), Buffer.from(secret, 'utf8'), binding(keyId, version));
    return { secret, row: { keyId, version, sealed, createdAt: clock.now(), notAfter: null } };
  }

  async function requireKey(id: string): Promise<StoredKey> {
    const stored = await store.getKey(id);
    if (!stored) throw new PortcullisError('KEY_NOT_FOUND', `No key ${id}.`);
    return stored;
  }

  /** Applies a change computed from the current row; retries once if a concurrent change won. */
  async function changeKey(
    id: string,
    ctx: ActorContext,
    action: string,
    compute: (current: StoredKey) => {
      next: StoredKey;
      newSecret?: StoredSecretVersion;
      retireOthersAt?: number;
    },
  ): Promise<StoredKey> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const current = await requireKey(id);
      const { next, newSecret, retireOthersAt } = compute(current);
      const written = await store.updateKey(
        {
          stored: next,
          expectedEpoch: current.key.epoch,
          ...(newSecret ? { newSecret } : {}),
          ...(retireOthersAt !== undefined ? { retireOthersAt } : {}),
        },
        audit(ctx, action, id, { before: keyJson(current.key), after: keyJson(next.key) }),
      );
      if (written) {
        events.publish({ type: 'key.changed', keyId: id, epoch: next.key.epoch });
        return next;
      }
    }
    throw new PortcullisError('CONFLICT', `Key ${id} changed concurrently; retry.`);
  }

  return {
    async createAccount(name: string, ctx: ActorContext): Promise<Account> {
      const account: Account = { id: newId('acc_'), name: name.trim(), createdAt: clock.now() };
      await store.createAccount(
        account,
        audit(ctx, 'account.create', account.id, { after: { ...account } }),
      );
      return account;
    },

    /** A page of accounts, oldest first; an `after` that names no account is ACCOUNT_NOT_FOUND. */
    async listAccounts(page: AccountPage): Promise<Account[]> {
      if (page.after !== undefined && !(await store.getAccount(page.after)))
        throw new PortcullisError('ACCOUNT_NOT_FOUND', `after: no account ${page.after}.`);
      return store.listAccounts(page);
    },

    async createKey(input: CreateKeyInput, ctx: ActorContext): Promise<KeyWithSecret> {
      const account = await store.getAccount(input.accountId);
      if (!account)
        throw new PortcullisError('ACCOUNT_NOT_FOUND', `No account ${input.accountId}.`);
      const now = clock.now();
      const scopes = validateScopes(input.scopes);
      const ipAllowlist = validateAllowlist(input.ipAllowlist ?? []);
      const expiresAt = validateExpiry(input.expiresAt ?? null, now);
      let publicKeyPem: string | null = null;
      if (input.scheme === 'ed25519') {
        if (input.publicKey === undefined) {
          throw new PortcullisError('INVALID_PUBLIC_KEY', 'An ed25519 key needs the public key.');
        }
        publicKeyPem = parseEd25519PublicKey(input.publicKey);
      } else if (input.publicKey !== undefined) {
        throw new PortcullisError(
          'VALIDATION_FAILED',
          'A public key is only accepted with scheme ed25519.',
        );
      }
      const key: ApiKey = {
        id: newId(KEY_ID_PREFIX[input.environment]),
        accountId: account.id,
        label: validateLabel(input.label ?? ''),
        environment: input.environment,
        scheme: input.scheme,
        scopes,
        ipAllowlist,
        hasPassphrase: input.passphrase !== undefined,
        status: 'active',
        createdAt: now,
        expiresAt,
        revokedAt: null,
        lastUsedAt: null,
        epoch: 1,
        secretVersion: 1,
      };
      const passphraseHash =
        input.passphrase !== undefined
          ? hashPassphrase(validatePassphrase(input.passphrase))
          : null;
      const sealed = input.scheme === 'hmac' ? sealNewSecret(key.id, 1) : undefined;
      await store.createKey(
        { key, passphraseHash, publicKeyPem },
        sealed?.row ?? null,
        audit(ctx, 'key.create', key.id, { after: keyJson(key) }),
      );
      return sealed ? { key: view(key), secret: sealed.secret } : { key: view(key) };
    },

    async getKey(id: string): Promise<KeyView> {
      return view((await requireKey(id)).key);
    },

    async listKeys(filter: {
      accountId?: string;
      environment?: Environment;
      after?: string;
      limit?: number;
    }) {
      const rows = await store.listKeys({ ...filter, limit: Math.min(filter.limit ?? 100, 1000) });
      return rows.map((row) => view(row.key));
    },

    async updateKey(id: string, patch: UpdateKeyInput, ctx: ActorContext): Promise<KeyView> {
      const scopes = patch.scopes !== undefined ? validateScopes(patch.scopes) : undefined;
      const ipAllowlist =
        patch.ipAllowlist !== undefined ? validateAllowlist(patch.ipAllowlist) : undefined;
      const label = patch.label !== undefined ? validateLabel(patch.label) : undefined;
      const next = await changeKey(id, ctx, 'key.update', (current) => {
        requireActive(current.key, clock.now());
        const expiresAt =
          patch.expiresAt !== undefined
            ? validateExpiry(patch.expiresAt, clock.now())
            : current.key.expiresAt;
        return {
          next: {
            ...current,
            key: {
              ...current.key,
              ...(scopes ? { scopes } : {}),
              ...(ipAllowlist ? { ipAllowlist } : {}),
              ...(label !== undefined ? { label } : {}),
              expiresAt,
              epoch: current.key.epoch + 1,
            },
          },
        };
      });
      return view(next.key);
    },

    async rotateKey(id: string, graceMs: number, ctx: ActorContext): Promise<KeyWithSecret> {
      if (!Number.isSafeInteger(graceMs) || graceMs < 0) {
        throw new PortcullisError(
          'INVALID_DURATION',
          'The grace period must be a non-negative duration.',
        );
      }
      let secret: string | undefined;
      const next = await changeKey(id, ctx, 'key.rotate', (current) => {
        requireActive(current.key, clock.now());
        if (current.key.scheme !== 'hmac') {
          throw new PortcullisError('VALIDATION_FAILED', 'Only hmac keys have a secret to rotate.');
        }
        const version = current.key.secretVersion + 1;
        const sealed = sealNewSecret(id, version);
        secret = sealed.secret;
        return {
          next: {
            ...current,
            key: { ...current.key, secretVersion: version, epoch: current.key.epoch + 1 },
          },
          newSecret: sealed.row,
          retireOthersAt: clock.now() + graceMs,
        };
      });
      return secret !== undefined ? { key: view(next.key), secret } : { key: view(next.key) };
    },

    async revokeKey(id: string, ctx: ActorContext): Promise<KeyView> {
      const next = await changeKey(id, ctx, 'key.revoke', (current) => {
        if (current.key.status === 'revoked')
          throw new PortcullisError('KEY_NOT_ACTIVE', `Key ${id} is already revoked.`);
        const now = clock.now();
        return {
          next: {
            ...current,
            key: {
              ...current.key,
              status: 'revoked',
              revokedAt: now,
              epoch: current.key.epoch + 1,
            },
          },
        };
      });
      return view(next.key);
    },

    /** Loads what the data plane needs to verify a key's requests; undefined for an unknown id. */
    async loadVerificationMaterial(id: string): Promise<KeyVerificationMaterial | undefined> {
      const stored = await store.getKey(id);
      if (!stored) return undefined;
      const now = clock.now();
      const versions = stored.key.scheme === 'hmac' ? await store.getSecrets(id) : [];
      const secrets = versions
        .filter((version) => version.notAfter === null || version.notAfter > now)
        .map((version) => ({
          bytes: openSecret(deps.keyring(), version.sealed, binding(id, version.version)),
          notAfter: version.notAfter,
        }));
      const publicKey = stored.publicKeyPem ? createPublicKey(stored.publicKeyPem) : null;
      return { stored, secrets, publicKey };
    },
  };
}

export type KeyService = ReturnType<typeof createKeyService>;

/** The audited picture of a key: everything but secret material. */
export function keyJson(key: ApiKey): { [name: string]: JsonValue } {
  return {
    id: key.id,
    accountId: key.accountId,
    label: key.label,
    environment: key.environment,
    scheme: key.scheme,
    scopes: [...key.scopes],
    ipAllowlist: [...key.ipAllowlist],
    hasPassphrase: key.hasPassphrase,
    status: key.status,
    createdAt: key.createdAt,
    expiresAt: key.expiresAt,
    revokedAt: key.revokedAt,
    epoch: key.epoch,
    secretVersion: key.secretVersion,
  };
}

function requireActive(key: ApiKey, now: number): void {
  const state = keyState(key, now);
  if (state !== 'active') throw new PortcullisError('KEY_NOT_ACTIVE', `Key ${key.id} is ${state}.`);
}

export function validateScopes(scopes: readonly string[]): Scope[] {
  const unknown = scopes.filter((scope) => !isScope(scope));
  if (unknown.length > 0) {
    throw new PortcullisError(
      'UNKNOWN_SCOPE',
      `Unknown scope(s): ${unknown.map((s) => JSON.stringify(s)).join(', ')}.`,
    );
  }
  if (scopes.length === 0)
    throw new PortcullisError('VALIDATION_FAILED', 'A key needs at least one scope.');
  return [...new Set(scopes as Scope[])];
}

export function validateAllowlist(entries: readonly string[]): string[] {
  const parsed = parseCidrList(entries);
  if (!parsed.ok)
    throw new PortcullisError(
      'INVALID_CIDR',
      `Invalid IP allowlist: ${parsed.errors.join('; ')}`,
      parsed.errors,
    );
  return parsed.cidrs;
}

function validateLabel(label: string): string {
  const trimmed = label.trim();
  if (trimmed.length > LABEL_MAX || CONTROL_CHARS.test(trimmed)) {
    throw new PortcullisError(
      'VALIDATION_FAILED',
      `A label is at most ${LABEL_MAX} printable characters.`,
    );
  }
  return trimmed;
}

function validatePassphrase(passphrase: string): string {
  if (passphrase.length < 4 || passphrase.length > 128 || CONTROL_CHARS.test(passphrase)) {
    throw new PortcullisError(
      'VALIDATION_FAILED',
      'A passphrase is 4 to 128 printable characters.',
    );
  }
  return passphrase;
}

function validateExpiry(expiresAt: number | null, now: number): number | null {
  if (expiresAt === null) return null;
  if (!Number.isSafeInteger(expiresAt) || expiresAt <= now) {
    throw new PortcullisError('VALIDATION_FAILED', 'The expiry must be in the future.');
  }
  return expiresAt;
}

/** Accepts SPKI PEM, or base64 of SPKI DER or of the raw 32-byte key; returns SPKI PEM. */
export function parseEd25519PublicKey(text: string): string {
  let key: KeyObject;
  try {
    const trimmed = text.trim();
    if (trimmed.startsWith('-----BEGIN')) {
      key = createPublicKey(trimmed);
    } else {
      const der = Buffer.from(trimmed, 'base64');
      key =
        der.length === 32
          ? createPublicKey({
              key: { kty: 'OKP', crv: 'Ed25519', x: der.toString('base64url') },
              format: 'jwk',
            })
          : createPublicKey({ key: der, format: 'der', type: 'spki' });
    }
  } catch {
    throw new PortcullisError(
      'INVALID_PUBLIC_KEY',
      'The public key is not a valid Ed25519 public key.',
    );
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new PortcullisError('INVALID_PUBLIC_KEY', 'The public key is not an Ed25519 key.');
  }
  return key.export({ format: 'pem', type: 'spki' }).toString();
}
