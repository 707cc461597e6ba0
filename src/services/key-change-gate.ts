/**
 * Key updates that widen what a key can do — adding `withdraw`, or removing its IP allowlist —
 * are held for multi-party approval when the switch is on (quorum > 0). Reference §2.5: the most
 * sensitive changes need several people.
 */
import { createHash } from 'node:crypto';
import { canonicalJson, type JsonValue } from '../core/audit/canonical-json.js';
import type { ApprovalService } from './approval-service.js';
import type { ActorContext, KeyService, UpdateKeyInput } from './key-service.js';
import { keyJson } from './key-service.js';

type JsonObject = { readonly [name: string]: JsonValue };

export interface KeyChangeGate {
  /** Holds the update and returns the approval id, or undefined when it may run now. */
  maybeHold(
    keyId: string,
    patch: UpdateKeyInput,
    ctx: ActorContext & { person: string },
  ): Promise<{ approvalId: string; quorum: number } | undefined>;
}

export function createKeyChangeGate(deps: {
  keys: KeyService;
  approvals: ApprovalService;
  quorum: number;
}): KeyChangeGate {
  const { keys, approvals, quorum } = deps;
  const digest = (subject: JsonObject): string =>
    createHash('sha256').update(canonicalJson(subject)).digest('hex');
  approvals.register('key.update', {
    digest,
    async execute(record, ctx) {
      const subject = record.subject as { keyId: string; patch: JsonObject };
      const patch = subject.patch as UpdateKeyInput;
      const key = await keys.updateKey(subject.keyId, patch, ctx);
      return { ok: true, result: { key: keyJson(key) }, detail: 'key updated' };
    },
  });
  return {
    async maybeHold(keyId, patch, ctx) {
      if (quorum <= 0) return undefined;
      const current = await keys.getKey(keyId);
      const addsWithdraw =
        patch.scopes !== undefined &&
        patch.scopes.includes('withdraw') &&
        !current.scopes.includes('withdraw');
      const removesAllowlist =
        patch.ipAllowlist !== undefined &&
        patch.ipAllowlist.length === 0 &&
        current.ipAllowlist.length > 0;
      if (!addsWithdraw && !removesAllowlist) return undefined;
      const subject: JsonObject = {
        keyId,
        patch: {
          ...(patch.scopes !== undefined ? { scopes: [...patch.scopes] } : {}),
          ...(patch.ipAllowlist !== undefined ? { ipAllowlist: [...patch.ipAllowlist] } : {}),
          ...(patch.label !== undefined ? { label: patch.label } : {}),
          ...(patch.expiresAt !== undefined ? { expiresAt: patch.expiresAt } : {}),
        },
        reasons: [
          ...(addsWithdraw ? ['adds withdraw'] : []),
          ...(removesAllowlist ? ['removes the IP allowlist'] : []),
        ],
      };
      const approval = await approvals.hold(
        { kind: 'key.update', subject, digest: digest(subject), initiator: ctx.person, quorum },
        ctx,
      );
      return { approvalId: approval.id, quorum };
    },
  };
}
