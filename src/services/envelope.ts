import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { PortcullisError } from '../core/errors.js';
import type { SealedSecret } from '../ports.js';

export type { SealedSecret };

/** A master key (key-encryption key). The id is a fingerprint that reveals nothing useful. */
export interface MasterKey {
  readonly id: string;
  readonly key: Buffer;
}

/** The active master key wraps new data keys; the others can still unwrap during rotation. */
export interface Keyring {
  readonly active: MasterKey;
  readonly keys: ReadonlyMap<string, MasterKey>;
}

export function masterKeyFromBytes(key: Buffer): MasterKey {
  if (key.length !== 32)
    throw new PortcullisError('CONFIG_INVALID', 'A master key must be 32 bytes.');
  const id = createHash('sha256')
    .update('portcullis/kek-id/v1')
    .update(key)
    .digest('hex')
    .slice(0, 16);
  return { id, key };
}

export function createKeyring(active: MasterKey, others: readonly MasterKey[] = []): Keyring {
  const keys = new Map<string, MasterKey>([[active.id, active]]);
  for (const key of others) if (!keys.has(key.id)) keys.set(key.id, key);
  return { active, keys };
}

function gcmEncrypt(
  key: Buffer,
  plaintext: Buffer,
  aad: string,
): { ct: Buffer; iv: Buffer; tag: Buffer } {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { ct, iv, tag: cipher.getAuthTag() };
}

function gcmDecrypt(
  key: Buffer,
  ct: Buffer,
  iv: Buffer,
  tag: Buffer,
  aad: string,
): Buffer | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ct), decipher.final()]);
  } catch {
    return undefined;
  }
}

// The data key's wrapping binds the record and the master key id, so a wrapped key cannot be
// moved to another row or passed off under another master key.
const dekAad = (binding: string, kekId: string): string => `portcullis/dek/v1|${binding}|${kekId}`;
const secretAad = (binding: string): string => `portcullis/secret/v1|${binding}`;

/** Encrypts `plaintext` for the record named by `binding` (e.g. the key id and secret version). */
export function sealSecret(keyring: Keyring, plaintext: Buffer, binding: string): SealedSecret {
  const dek = randomBytes(32);
  try {
    const body = gcmEncrypt(dek, plaintext, secretAad(binding));
    const wrapped = gcmEncrypt(keyring.active.key, dek, dekAad(binding, keyring.active.id));
    return {
      ciphertext: body.ct,
      iv: body.iv,
      tag: body.tag,
      wrappedDek: wrapped.ct,
      dekIv: wrapped.iv,
      dekTag: wrapped.tag,
      kekId: keyring.active.id,
    };
  } finally {
    dek.fill(0);
  }
}

function unwrapDek(keyring: Keyring, sealed: SealedSecret, binding: string): Buffer {
  const master = keyring.keys.get(sealed.kekId);
  if (!master) {
    throw new PortcullisError(
      'MASTER_KEY_MISMATCH',
      `A stored secret is wrapped by master key ${sealed.kekId}, which is not configured.`,
    );
  }
  const dek = gcmDecrypt(
    master.key,
    sealed.wrappedDek,
    sealed.dekIv,
    sealed.dekTag,
    dekAad(binding, sealed.kekId),
  );
  if (!dek) {
    throw new PortcullisError(
      'MASTER_KEY_MISMATCH',
      'A stored data key does not authenticate under the master key.',
    );
  }
  return dek;
}

/** Decrypts a sealed secret; throws MASTER_KEY_MISMATCH if it does not authenticate. */
export function openSecret(keyring: Keyring, sealed: SealedSecret, binding: string): Buffer {
  const dek = unwrapDek(keyring, sealed, binding);
  try {
    const plaintext = gcmDecrypt(dek, sealed.ciphertext, sealed.iv, sealed.tag, secretAad(binding));
    if (!plaintext) {
      throw new PortcullisError(
        'MASTER_KEY_MISMATCH',
        'A stored secret does not authenticate for its record.',
      );
    }
    return plaintext;
  } finally {
    dek.fill(0);
  }
}

/** Re-wraps the data key under the active master key; the secret's ciphertext is unchanged. */
export function rewrapSecret(
  keyring: Keyring,
  sealed: SealedSecret,
  binding: string,
): SealedSecret {
  if (sealed.kekId === keyring.active.id) return sealed;
  const dek = unwrapDek(keyring, sealed, binding);
  try {
    const wrapped = gcmEncrypt(keyring.active.key, dek, dekAad(binding, keyring.active.id));
    return {
      ...sealed,
      wrappedDek: wrapped.ct,
      dekIv: wrapped.iv,
      dekTag: wrapped.tag,
      kekId: keyring.active.id,
    };
  } finally {
    dek.fill(0);
  }
}
