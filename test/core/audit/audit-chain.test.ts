import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { auditFromRow } from '../../../src/adapters/sqlite/rows.js';
import {
  GENESIS_HASH,
  chainAuditEntry,
  createAuditVerifier,
  hashAuditEntry,
  type AuditDraft,
  type AuditEntry,
  type AuditSealer,
  type AuditVerification,
} from '../../../src/core/audit/audit-chain.js';

const sealerWith =
  (key: string): AuditSealer =>
  (hash) =>
    createHmac('sha256', key).update(hash).digest('hex');
const seal = sealerWith('audit-key-under-test');

const draft = (n: number): AuditDraft => ({
  ts: 1_767_225_600_000 + n,
  actor: 'adm_test',
  action: n % 2 ? 'key.update' : 'key.create',
  target: `pk_test_${n}`,
  requestId: `req_${n}`,
  data: { before: { n }, after: { n: n + 1, scopes: ['read'] } },
});

function buildChain(length: number): AuditEntry[] {
  const entries: AuditEntry[] = [];
  for (let n = 1; n <= length; n++) {
    entries.push(chainAuditEntry(draft(n), entries[entries.length - 1], seal));
  }
  return entries;
}

function verify(entries: readonly AuditEntry[], sealer: AuditSealer = seal): AuditVerification {
  const verifier = createAuditVerifier(sealer);
  for (const entry of entries) verifier.push(entry);
  return verifier.result();
}

const at = (entries: readonly AuditEntry[], seq: number): AuditEntry => {
  const entry = entries.find((e) => e.seq === seq);
  if (!entry) throw new Error(`no entry ${seq}`);
  return entry;
};

/** Re-links entry `seq` with its own hash recomputed, as an attacker without the key can. */
const rehash = (entry: AuditEntry): AuditEntry => ({ ...entry, hash: hashAuditEntry(entry) });

describe('audit chain', () => {
  it('links the first entry to the genesis hash with seq 1', () => {
    const [first] = buildChain(1);
    expect(first).toMatchObject({ seq: 1, prevHash: GENESIS_HASH });
  });

  it('links every entry to the hash of the one before', () => {
    const chain = buildChain(3);
    expect(chain[2]?.prevHash).toBe(chain[1]?.hash);
  });

  it('hashes the canonical JSON, so member order in data does not matter', () => {
    const a = { ...draft(1), seq: 1, prevHash: GENESIS_HASH, data: { x: 1, y: 2 } };
    const b = { ...a, data: { y: 2, x: 1 } };
    expect(hashAuditEntry(a)).toBe(hashAuditEntry(b));
  });

  it('verifies an intact chain and reports its head', () => {
    const chain = buildChain(5);
    expect(verify(chain)).toEqual({
      ok: true,
      entries: 5,
      headSeq: 5,
      headHash: chain[4]?.hash,
    });
  });

  it('verifies an empty chain', () => {
    expect(verify([])).toEqual({ ok: true, entries: 0, headSeq: 0, headHash: GENESIS_HASH });
  });
});

describe('audit verification names the first bad entry', () => {
  const chain = buildChain(6);

  it('an altered entry: HASH_MISMATCH at its seq', () => {
    const tampered = chain.map((e) => (e.seq === 3 ? { ...e, actor: 'someone-else' } : e));
    expect(verify(tampered)).toMatchObject({ ok: false, firstBadSeq: 3, problem: 'HASH_MISMATCH' });
  });

  it('an altered entry whose hash was recomputed: SEAL_MISMATCH at its seq', () => {
    const tampered = chain.map((e) =>
      e.seq === 3 ? rehash({ ...e, data: { after: { scopes: ['withdraw'] } } }) : e,
    );
    expect(verify(tampered)).toMatchObject({ ok: false, firstBadSeq: 3, problem: 'SEAL_MISMATCH' });
  });

  it('a deleted entry: the missing seq', () => {
    const tampered = chain.filter((e) => e.seq !== 4);
    expect(verify(tampered)).toMatchObject({ ok: false, firstBadSeq: 4, problem: 'SEQUENCE_GAP' });
  });

  it('a deleted entry with later entries renumbered: PREV_HASH_MISMATCH where the gap is', () => {
    const tampered = chain
      .filter((e) => e.seq !== 4)
      .map((e) => (e.seq > 4 ? { ...e, seq: e.seq - 1 } : e));
    expect(verify(tampered)).toMatchObject({
      ok: false,
      firstBadSeq: 4,
      problem: 'PREV_HASH_MISMATCH',
    });
  });

  it('an inserted entry linked in without the audit key: SEAL_MISMATCH at its seq', () => {
    const before = at(chain, 2);
    const forged = chainAuditEntry(draft(99), before, sealerWith('not-the-key'));
    const tampered = [
      ...chain.filter((e) => e.seq <= 2),
      forged,
      ...chain.filter((e) => e.seq > 2).map((e) => ({ ...e, seq: e.seq + 1 })),
    ];
    expect(verify(tampered)).toMatchObject({ ok: false, firstBadSeq: 3, problem: 'SEAL_MISMATCH' });
  });

  it('an inserted entry with a duplicate seq: SEQUENCE_GAP after it', () => {
    const copy = { ...at(chain, 3) };
    const tampered = [...chain.filter((e) => e.seq <= 3), copy, ...chain.filter((e) => e.seq > 3)];
    expect(verify(tampered)).toMatchObject({ ok: false, firstBadSeq: 3, problem: 'SEQUENCE_GAP' });
  });

  it('two entries swapped: the first position out of order', () => {
    const tampered = [...chain];
    [tampered[2], tampered[3]] = [at(chain, 4), at(chain, 3)];
    expect(verify(tampered)).toMatchObject({ ok: false, firstBadSeq: 3, problem: 'SEQUENCE_GAP' });
  });

  it('two entries swapped and renumbered: PREV_HASH_MISMATCH at the first', () => {
    const tampered = [...chain];
    [tampered[2], tampered[3]] = [
      { ...at(chain, 4), seq: 3 },
      { ...at(chain, 3), seq: 4 },
    ];
    expect(verify(tampered)).toMatchObject({
      ok: false,
      firstBadSeq: 3,
      problem: 'PREV_HASH_MISMATCH',
    });
  });

  it('an appended entry forged without the audit key: SEAL_MISMATCH at the new head', () => {
    const forged = chainAuditEntry(draft(7), at(chain, 6), sealerWith('guessed-key'));
    expect(verify([...chain, forged])).toMatchObject({
      ok: false,
      firstBadSeq: 7,
      problem: 'SEAL_MISMATCH',
    });
  });

  it('a seal copied from another entry: SEAL_MISMATCH', () => {
    const tampered = chain.map((e) => (e.seq === 5 ? { ...e, seal: at(chain, 4).seal } : e));
    expect(verify(tampered)).toMatchObject({ ok: false, firstBadSeq: 5, problem: 'SEAL_MISMATCH' });
  });

  it('data edited into invalid JSON in the store: HASH_MISMATCH, not a crash', () => {
    const rows = chain.map((e) => ({
      seq: e.seq,
      ts: e.ts,
      actor: e.actor,
      action: e.action,
      target: e.target,
      request_id: e.requestId,
      data: e.seq === 2 ? '{"before": {' : JSON.stringify(e.data),
      prev_hash: e.prevHash,
      hash: e.hash,
      seal: e.seal,
    }));
    expect(verify(rows.map(auditFromRow))).toMatchObject({
      ok: false,
      firstBadSeq: 2,
      problem: 'HASH_MISMATCH',
    });
  });

  it('the whole chain checked under another audit key: SEAL_MISMATCH at 1', () => {
    expect(verify(chain, sealerWith('other'))).toMatchObject({ ok: false, firstBadSeq: 1 });
  });

  it('keeps reporting the first failure after later entries are pushed', () => {
    const verifier = createAuditVerifier(seal);
    const tampered = chain.map((e) => (e.seq === 2 ? { ...e, target: 'x' } : e));
    const firsts = tampered.map((e) => verifier.push(e));
    expect(firsts[0]).toBeUndefined();
    expect(verifier.result()).toMatchObject({ firstBadSeq: 2 });
  });
});
