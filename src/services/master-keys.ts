import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { AuditSealer } from '../core/audit/audit-chain.js';
import { PortcullisError } from '../core/errors.js';
import type { ControlStore, SealedSecret } from '../ports.js';
import {
  createKeyring,
  masterKeyFromBytes,
  openSecret,
  rewrapSecret,
  sealSecret,
  type Keyring,
  type MasterKey,
} from './envelope.js';

export type KeyringSource =
  { readonly kind: 'env' } | { readonly kind: 'file'; readonly path: string };

export interface LoadedKeyring {
  readonly keyring: Keyring;
  readonly source: KeyringSource;
  /** True when a key file was generated just now (the operator should be warned). */
  readonly generated: boolean;
}

/** Decodes a 32-byte key written as base64 or 64 hex characters. */
function decodeKey(text: string): Buffer {
  const trimmed = text.trim();
  const bytes = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, 'hex')
    : Buffer.from(trimmed, 'base64');
  if (bytes.length !== 32) {
    throw new PortcullisError(
      'CONFIG_INVALID',
      'PORTCULLIS_MASTER_KEY must hold 32-byte keys in base64 or hex.',
    );
  }
  return bytes;
}

interface KeyFile {
  readonly version: 1;
  readonly active: string;
  readonly keys: readonly { readonly id: string; readonly key: string }[];
}

function writeKeyFile(path: string, keyring: Keyring): void {
  const body: KeyFile = {
    version: 1,
    active: keyring.active.id,
    keys: [...keyring.keys.values()].map((k) => ({ id: k.id, key: k.key.toString('base64') })),
  };
  // Write-then-rename so that a crash never leaves a half-written key file.
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/**
 * The master key comes from PORTCULLIS_MASTER_KEY (comma-separated; the first is active, the
 * others only unwrap during a rotation) or, if that is unset, from a key file in the data
 * directory that is generated with mode 0600 on first start.
 */
export function loadKeyring(options: {
  envValue: string | undefined;
  keyFilePath: string;
}): LoadedKeyring {
  if (options.envValue !== undefined && options.envValue.trim() !== '') {
    const keys = options.envValue.split(',').map((part) => masterKeyFromBytes(decodeKey(part)));
    const [active, ...others] = keys as [MasterKey, ...MasterKey[]];
    return { keyring: createKeyring(active, others), source: { kind: 'env' }, generated: false };
  }
  const path = options.keyFilePath;
  if (!existsSync(path)) {
    const keyring = createKeyring(masterKeyFromBytes(randomBytes(32)));
    writeKeyFile(path, keyring);
    return { keyring, source: { kind: 'file', path }, generated: true };
  }
  let file: KeyFile;
  try {
    file = JSON.parse(readFileSync(path, 'utf8')) as KeyFile;
  } catch {
    throw new PortcullisError('CONFIG_INVALID', `The master key file ${path} is not valid JSON.`);
  }
  const keys = file.keys.map((entry) => masterKeyFromBytes(decodeKey(entry.key)));
  const active = keys.find((key) => key.id === file.active);
  if (!active)
    throw new PortcullisError('CONFIG_INVALID', `The master key file ${path} names no active key.`);
  return { keyring: createKeyring(active, keys), source: { kind: 'file', path }, generated: false };
}

const AUDIT_KEY_META = 'audit_key';
const AUDIT_KEY_BINDING = 'audit-key';

function encodeSealed(sealed: SealedSecret): string {
  return JSON.stringify({
    ciphertext: sealed.ciphertext.toString('base64'),
    iv: sealed.iv.toString('base64'),
    tag: sealed.tag.toString('base64'),
    wrappedDek: sealed.wrappedDek.toString('base64'),
    dekIv: sealed.dekIv.toString('base64'),
    dekTag: sealed.dekTag.toString('base64'),
    kekId: sealed.kekId,
  });
}

function decodeSealed(text: string): SealedSecret {
  const raw = JSON.parse(text) as Record<string, string>;
  const b = (name: string): Buffer => Buffer.from(raw[name] ?? '', 'base64');
  return {
    ciphertext: b('ciphertext'),
    iv: b('iv'),
    tag: b('tag'),
    wrappedDek: b('wrappedDek'),
    dekIv: b('dekIv'),
    dekTag: b('dekTag'),
    kekId: raw.kekId ?? '',
  };
}

/**
 * Opens (or on first start creates) the audit key, wrapped by the master key like every
 * secret, and checks that every stored envelope names a configured master key. Fails loudly
 * with MASTER_KEY_MISMATCH when the master key is wrong.
 */
export async function openAuditSealer(store: ControlStore, keyring: Keyring): Promise<AuditSealer> {
  let encoded = await store.getMeta(AUDIT_KEY_META);
  if (encoded === undefined) {
    encoded = encodeSealed(sealSecret(keyring, randomBytes(32), AUDIT_KEY_BINDING));
    await store.setMeta(AUDIT_KEY_META, encoded);
  }
  const auditKey = openSecret(keyring, decodeSealed(encoded), AUDIT_KEY_BINDING);
  const unknown = (await store.listKekIds()).filter((id) => !keyring.keys.has(id));
  if (unknown.length > 0) {
    throw new PortcullisError(
      'MASTER_KEY_MISMATCH',
      `Stored secrets are wrapped by master key(s) ${unknown.join(', ')}, which are not configured.`,
    );
  }
  return (hash) => createHmac('sha256', auditKey).update(hash).digest('hex');
}

/** Envelopes re-wrapped per transaction. */
const REWRAP_BATCH = 500;

/**
 * Master-key rotation without downtime: the new key becomes active at once (a file key is
 * generated; an environment key must already be first in PORTCULLIS_MASTER_KEY), so new
 * secrets are sealed under it; every older envelope is re-wrapped in batches while the old
 * key still unwraps; the old key leaves the key file only once nothing references it.
 */
export async function rotateMasterKey(
  store: ControlStore,
  current: LoadedKeyring,
  setKeyring: (keyring: Keyring) => void,
): Promise<{ rewrapped: number; activeKeyId: string; previousKeyIds: string[] }> {
  let keyring = current.keyring;
  const previousKeyIds = [...keyring.keys.keys()].filter((id) => id !== keyring.active.id);
  if (current.source.kind === 'file') {
    const fresh = masterKeyFromBytes(randomBytes(32));
    previousKeyIds.push(keyring.active.id);
    keyring = createKeyring(fresh, [...keyring.keys.values()]);
    writeKeyFile(current.source.path, keyring);
    setKeyring(keyring);
  }
  let rewrapped = 0;
  let clean = false;
  // Loop until no envelope names an old key: a secret sealed concurrently under the old key
  // (an in-flight write on an async store) is caught by the next pass.
  for (let pass = 0; pass < 10; pass++) {
    for (;;) {
      const batch = await store.listSealedNotUnder(keyring.active.id, REWRAP_BATCH);
      if (batch.length === 0) break;
      await store.replaceSealed(
        batch.map((row) => ({
          keyId: row.keyId,
          version: row.version,
          sealed: rewrapSecret(keyring, row.sealed, `${row.keyId}#${row.version}`),
        })),
      );
      rewrapped += batch.length;
      // The embedded store answers at once: without a turn between batches the whole rotation
      // ran in one go, and no data plane of the process answered until it ended.
      await nextTurn();
    }
    const auditKey = await store.getMeta(AUDIT_KEY_META);
    if (auditKey !== undefined) {
      const sealed = decodeSealed(auditKey);
      if (sealed.kekId !== keyring.active.id) {
        await store.setMeta(
          AUDIT_KEY_META,
          encodeSealed(rewrapSecret(keyring, sealed, AUDIT_KEY_BINDING)),
        );
      }
    }
    const remaining = (await store.listKekIds()).filter((id) => id !== keyring.active.id);
    if (remaining.length === 0) {
      clean = true;
      break;
    }
  }
  // Never drop a key that still unwraps something.
  if (clean && current.source.kind === 'file') {
    keyring = createKeyring(keyring.active);
    writeKeyFile(current.source.path, keyring);
    setKeyring(keyring);
  }
  return { rewrapped, activeKeyId: keyring.active.id, previousKeyIds };
}
