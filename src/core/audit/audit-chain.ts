import { createHash, timingSafeEqual } from 'node:crypto';
import { canonicalJson, type JsonValue } from './canonical-json.js';

/** What a change records about itself; the chain fields are added when it is appended. */
export interface AuditDraft {
  /** Epoch milliseconds. */
  readonly ts: number;
  /** Who: an admin token id (`adm_…`), `system`, or `cli:local`. */
  readonly actor: string;
  /** What: e.g. `key.create`, `key.rotate`, `key.revoke`. */
  readonly action: string;
  /** The object changed, by id. */
  readonly target: string;
  readonly requestId: string;
  /** Before/after and other facts, never a secret, signature or token. */
  readonly data: { readonly [key: string]: JsonValue };
}

export interface AuditEntry extends AuditDraft {
  readonly seq: number;
  readonly prevHash: string;
  readonly hash: string;
  /**
   * HMAC of `hash` under the audit key (held outside the database, wrapped by the master key).
   * A plain hash chain can be extended or rewritten by anyone who can write the database; the
   * seal cannot be forged without the key.
   */
  readonly seal: string;
}

/** The previous hash of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/** SHA-256 over the entry's canonical JSON, which includes its sequence number and prevHash. */
export function hashAuditEntry(entry: AuditDraft & { seq: number; prevHash: string }): string {
  const canonical = canonicalJson({
    seq: entry.seq,
    ts: entry.ts,
    actor: entry.actor,
    action: entry.action,
    target: entry.target,
    requestId: entry.requestId,
    data: entry.data,
    prevHash: entry.prevHash,
  });
  return createHash('sha256').update(canonical).digest('hex');
}

/** Computes an entry's seal from its hash. */
export type AuditSealer = (hash: string) => string;

/** Links a draft after `previous` (undefined for the first entry). */
export function chainAuditEntry(
  draft: AuditDraft,
  previous: { seq: number; hash: string } | undefined,
  seal: AuditSealer,
): AuditEntry {
  const seq = previous ? previous.seq + 1 : 1;
  const prevHash = previous ? previous.hash : GENESIS_HASH;
  const hash = hashAuditEntry({ ...draft, seq, prevHash });
  return { ...draft, seq, prevHash, hash, seal: seal(hash) };
}

export type AuditProblem =
  'HASH_MISMATCH' | 'PREV_HASH_MISMATCH' | 'SEQUENCE_GAP' | 'SEAL_MISMATCH';

export type AuditVerification =
  | {
      readonly ok: true;
      readonly entries: number;
      readonly headSeq: number;
      readonly headHash: string;
    }
  | {
      readonly ok: false;
      readonly entries: number;
      /** The first sequence number at which the chain stops being consistent. */
      readonly firstBadSeq: number;
      readonly problem: AuditProblem;
    };

/**
 * Incremental verifier: feed entries in ascending stored order. Detects an altered entry (its
 * hash no longer matches), a deleted or inserted one (sequence gap or broken link) and a
 * reordering (broken link), naming the first bad sequence number.
 */
export function createAuditVerifier(seal: AuditSealer): {
  push(entry: AuditEntry): AuditVerification | undefined;
  result(): AuditVerification;
} {
  let count = 0;
  let previous: { seq: number; hash: string } | undefined;
  let failure: AuditVerification | undefined;
  const fail = (seq: number, problem: AuditProblem): AuditVerification => {
    failure = { ok: false, entries: count, firstBadSeq: seq, problem };
    return failure;
  };
  return {
    push(entry) {
      if (failure) return failure;
      count += 1;
      const expectedSeq = previous ? previous.seq + 1 : 1;
      if (entry.seq !== expectedSeq) return fail(Math.min(entry.seq, expectedSeq), 'SEQUENCE_GAP');
      if (entry.prevHash !== (previous ? previous.hash : GENESIS_HASH)) {
        return fail(entry.seq, 'PREV_HASH_MISMATCH');
      }
      if (hashAuditEntry(entry) !== entry.hash) return fail(entry.seq, 'HASH_MISMATCH');
      if (!safeEqualHex(seal(entry.hash), entry.seal)) return fail(entry.seq, 'SEAL_MISMATCH');
      previous = { seq: entry.seq, hash: entry.hash };
      return undefined;
    },
    result() {
      if (failure) return failure;
      return previous
        ? { ok: true, entries: count, headSeq: previous.seq, headHash: previous.hash }
        : { ok: true, entries: 0, headSeq: 0, headHash: GENESIS_HASH };
    },
  };
}

function safeEqualHex(expected: string, actual: string): boolean {
  return (
    expected.length === actual.length && timingSafeEqual(Buffer.from(expected), Buffer.from(actual))
  );
}
