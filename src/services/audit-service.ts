import {
  createAuditVerifier,
  type AuditSealer,
  type AuditVerification,
} from '../core/audit/audit-chain.js';
import type { AuditQuery, ControlStore } from '../ports.js';

/** Reading and verifying the tamper-evident audit log. */
export function createAuditService(deps: { store: ControlStore; sealer: () => AuditSealer }) {
  return {
    list: (query: AuditQuery) => deps.store.listAudit(query),

    /** Walks the whole chain and names the first bad sequence number, if any. */
    async verify(): Promise<AuditVerification> {
      const verifier = createAuditVerifier(deps.sealer());
      let done = false;
      await deps.store.scanAudit((entries) => {
        if (done) return;
        for (const entry of entries) {
          if (verifier.push(entry)) {
            done = true;
            return;
          }
        }
      });
      return verifier.result();
    },
  };
}

export type AuditService = ReturnType<typeof createAuditService>;
