import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import type { Clock } from '../../core/clock.js';
import type { ControlStore, SealedSecret } from '../../ports.js';
import { openSecret, sealSecret, type Keyring } from '../envelope.js';
import { randomAlphanumeric } from '../ids.js';

/** A public Ed25519 verification key as published at /.well-known/jwks.json (RFC 7517, 8037). */
export interface PublicJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  readonly x: string;
  readonly kid: string;
  readonly alg: 'EdDSA';
  readonly use: 'sig';
}

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: KeyObject;
}

export interface SigningKeyring {
  /** The key that signs now, created (and persisted) on first use in its rotation period. */
  current(): Promise<SigningKey>;
  /** The verification key for `kid`, if it is published now; reloads from the store on a miss. */
  verifierFor(kid: string): Promise<KeyObject | undefined>;
  /** Every published verification key: the current period's and the previous one's. */
  jwks(): Promise<{ keys: PublicJwk[] }>;
}

export interface SigningKeyringOptions {
  /** A new signing key every this many ms; must be at least the longest token lifetime. */
  readonly rotationMs: number;
  /** How long a cached period entry is trusted before it is re-read (cluster convergence). */
  readonly refreshMs?: number;
}

interface PeriodEntry {
  readonly kid: string;
  readonly publicKey: KeyObject;
  readonly jwk: PublicJwk;
  readonly sealed: SealedSecret;
  readonly loadedAtMs: number;
  privateKey?: KeyObject;
}

interface StoredEntry {
  kid: string;
  x: string;
  sealed: Record<keyof SealedSecret, string>;
}

const SEALED_FIELDS = ['ciphertext', 'iv', 'tag', 'wrappedDek', 'dekIv', 'dekTag'] as const;

/**
 * The authorization server's Ed25519 signing keys. One key per rotation period, stored under a
 * period-derived name in the store's meta table, private half sealed with the master keyring
 * (envelope encryption, bound to the kid). Every node of a cluster derives the same period
 * from the clock and reads the same row, so they sign with and publish the same keys. A key
 * stays published for the whole next period: with the period at least as long as a token's
 * lifetime, every unexpired token's key is published (the overlap of the rotation).
 */
export function createSigningKeyring(
  deps: {
    store: Pick<ControlStore, 'getMeta' | 'setMeta'>;
    keyring: () => Keyring;
    clock: Clock;
  },
  options: SigningKeyringOptions,
): SigningKeyring {
  const refreshMs = options.refreshMs ?? 10_000;
  const periods = new Map<number, PeriodEntry | null>();
  // When a period was last found to have no key: the JWKS endpoint (public) then costs no read.
  const absentAt = new Map<number, number>();
  // Unknown kids re-read the store at most once a second: a flood of made-up kids costs no I/O.
  let missReloadAtMs = Number.NEGATIVE_INFINITY;
  const metaName = (period: number) => `oauth.signing-key.${options.rotationMs}.${period}`;
  // Every key also has a row of its own, never overwritten: a token signed by a key that lost
  // a creation race (two nodes at a period start) still verifies everywhere.
  const kidName = (kid: string) => `oauth.signing-key.kid.${kid}`;
  const byKid = new Map<string, PeriodEntry>();
  const periodOfKid = (kid: string) => parseInt(kid.split('-')[0] ?? '', 36);
  const binding = (kid: string) => `oauth-signing-key|${kid}`;
  const periodAt = (nowMs: number) => Math.floor(nowMs / options.rotationMs);

  function decode(raw: string, nowMs: number): PeriodEntry | null {
    try {
      const parsed = JSON.parse(raw) as StoredEntry;
      const sealed = Object.fromEntries(
        SEALED_FIELDS.map((f) => [f, Buffer.from(parsed.sealed[f], 'base64')]),
      ) as Omit<SealedSecret, 'kekId'>;
      const jwk: PublicJwk = {
        kty: 'OKP',
        crv: 'Ed25519',
        x: parsed.x,
        kid: parsed.kid,
        alg: 'EdDSA',
        use: 'sig',
      };
      const publicKey = createPublicKey({
        key: { kty: 'OKP', crv: 'Ed25519', x: parsed.x },
        format: 'jwk',
      });
      return {
        kid: parsed.kid,
        publicKey,
        jwk,
        sealed: { ...sealed, kekId: parsed.sealed.kekId },
        loadedAtMs: nowMs,
      };
    } catch {
      return null;
    }
  }

  function encode(kid: string, x: string, sealed: SealedSecret): string {
    const fields = Object.fromEntries(
      SEALED_FIELDS.map((f) => [f, sealed[f].toString('base64')]),
    ) as Record<(typeof SEALED_FIELDS)[number], string>;
    const entry: StoredEntry = { kid, x, sealed: { ...fields, kekId: sealed.kekId } };
    return JSON.stringify(entry);
  }

  /** `trustAbsent`: a recent "no key" answer may stand (never before creating a key). */
  async function load(
    period: number,
    nowMs: number,
    trustAbsent = false,
  ): Promise<PeriodEntry | null> {
    const cached = periods.get(period);
    if (cached !== undefined && cached !== null && nowMs - cached.loadedAtMs < refreshMs)
      return cached;
    const absent = absentAt.get(period);
    if (trustAbsent && cached === null && absent !== undefined && nowMs - absent < refreshMs)
      return null;
    const raw = await deps.store.getMeta(metaName(period));
    const entry = raw === undefined ? null : decode(raw, nowMs);
    if (entry === null) absentAt.set(period, nowMs);
    else absentAt.delete(period);
    for (const known of absentAt.keys()) if (known < period - 1) absentAt.delete(known);
    // Keep an already-opened private key when the row is unchanged.
    if (entry !== null && cached?.kid === entry.kid && cached.privateKey !== undefined)
      entry.privateKey = cached.privateKey;
    periods.set(period, entry);
    for (const known of periods.keys()) if (known < period - 1) periods.delete(known);
    return entry;
  }

  async function create(period: number, nowMs: number): Promise<PeriodEntry> {
    const pair = generateKeyPairSync('ed25519');
    const kid = `${period.toString(36)}-${randomAlphanumeric(10)}`;
    const x = (pair.publicKey.export({ format: 'jwk' }) as { x: string }).x;
    const der = pair.privateKey.export({ format: 'der', type: 'pkcs8' });
    const sealed = sealSecret(deps.keyring(), der, binding(kid));
    der.fill(0);
    const row = encode(kid, x, sealed);
    await deps.store.setMeta(kidName(kid), row);
    await deps.store.setMeta(metaName(period), row);
    // Read back: when two nodes create the same period's key at once, the row that stayed wins
    // on both (the other one never signed anything).
    periods.delete(period);
    const stored = await load(period, nowMs);
    if (stored === null) throw new Error('The signing key just written cannot be read back.');
    return stored;
  }

  function openPrivate(entry: PeriodEntry): KeyObject {
    if (entry.privateKey !== undefined) return entry.privateKey;
    const der = openSecret(deps.keyring(), entry.sealed, binding(entry.kid));
    try {
      entry.privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    } finally {
      der.fill(0);
    }
    return entry.privateKey;
  }

  async function currentEntry(nowMs: number): Promise<PeriodEntry> {
    const period = periodAt(nowMs);
    return (await load(period, nowMs)) ?? (await create(period, nowMs));
  }

  return {
    async current() {
      const nowMs = deps.clock.now();
      const entry = await currentEntry(nowMs);
      try {
        return { kid: entry.kid, privateKey: openPrivate(entry) };
      } catch {
        // Sealed under a master key that is no longer configured: replace this period's key
        // (tokens it signed stop verifying; they live minutes at most).
        const replaced = await create(periodAt(nowMs), nowMs);
        return { kid: replaced.kid, privateKey: openPrivate(replaced) };
      }
    },

    async verifierFor(kid) {
      const nowMs = deps.clock.now();
      const period = periodAt(nowMs);
      // Published: keys of the current and the previous period only.
      const kidPeriod = periodOfKid(kid);
      if (kidPeriod !== period && kidPeriod !== period - 1) return undefined;
      for (const p of [period, period - 1]) {
        const cached = periods.get(p);
        if (cached?.kid === kid) return cached.publicKey;
      }
      const known = byKid.get(kid);
      if (known !== undefined) return known.publicKey;
      if (nowMs - missReloadAtMs < 1000) return undefined;
      const raw = await deps.store.getMeta(kidName(kid));
      const entry = raw === undefined ? null : decode(raw, nowMs);
      if (entry === null || entry.kid !== kid) {
        missReloadAtMs = nowMs;
        return undefined;
      }
      for (const [id] of byKid) if (periodOfKid(id) < period - 1) byKid.delete(id);
      if (byKid.size < 64) byKid.set(kid, entry);
      return entry.publicKey;
    },

    async jwks() {
      const nowMs = deps.clock.now();
      const period = periodAt(nowMs);
      const current = await currentEntry(nowMs);
      const previous = await load(period - 1, nowMs, true);
      return { keys: previous === null ? [current.jwk] : [current.jwk, previous.jwk] };
    },
  };
}
