import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { Clock } from '../core/clock.js';
import { PortcullisError, type ErrorCode } from '../core/errors.js';
import type { AdminRole, AdminToken, ChangeEvents, ControlStore } from '../ports.js';
import { newId, randomAlphanumeric } from './ids.js';
import type { ActorContext } from './key-service.js';

const TOKEN = /^pct_[A-Za-z0-9]{43}$/;

export const hashAdminToken = (token: string): string =>
  createHash('sha256').update(token).digest('hex');

export type AdminAuthResult =
  | { readonly ok: true; readonly token: AdminToken }
  | { readonly ok: false; readonly code: ErrorCode };

export interface AdminTokenServiceDeps {
  readonly store: ControlStore;
  readonly clock: Clock;
  readonly events: ChangeEvents;
}

/** Bearer admin tokens: random, shown once, stored as SHA-256 (they carry 256 bits of entropy). */
export function createAdminTokenService(deps: AdminTokenServiceDeps) {
  const { store, clock } = deps;

  async function issue(
    role: AdminRole,
    label: string,
    expiresAt: number | null,
    ctx: ActorContext,
  ) {
    const secret = `pct_${randomAlphanumeric(43)}`;
    const token: AdminToken = {
      id: newId('adm_'),
      role,
      label,
      tokenHash: hashAdminToken(secret),
      createdAt: clock.now(),
      expiresAt,
      revokedAt: null,
      createdBy: ctx.actor,
    };
    await store.createAdminToken(token, {
      ts: token.createdAt,
      actor: ctx.actor,
      action: 'admin-token.create',
      target: token.id,
      requestId: ctx.requestId,
      data: { after: { id: token.id, role, label, expiresAt } },
    });
    return { token, secret };
  }

  return {
    issue,

    /** Resolves an `Authorization` header value to a token, or a stable error code. */
    async authenticate(header: string | undefined): Promise<AdminAuthResult> {
      if (header === undefined || header === '') return { ok: false, code: 'ADMIN_TOKEN_MISSING' };
      const match = /^Bearer (\S+)$/i.exec(header);
      if (!match?.[1] || !TOKEN.test(match[1])) return { ok: false, code: 'ADMIN_TOKEN_INVALID' };
      const token = await store.findAdminTokenByHash(hashAdminToken(match[1]));
      if (!token || token.revokedAt !== null) return { ok: false, code: 'ADMIN_TOKEN_INVALID' };
      if (token.expiresAt !== null && clock.now() >= token.expiresAt)
        return { ok: false, code: 'ADMIN_TOKEN_EXPIRED' };
      return { ok: true, token };
    },

    /** On first start, creates the owner token and writes it to `path` (mode 0600). */
    async bootstrap(path: string): Promise<{ created: boolean }> {
      if ((await store.countAdminTokens()) > 0) return { created: false };
      const { secret } = await issue('owner', 'bootstrap owner', null, {
        actor: 'system',
        requestId: 'bootstrap',
      });
      writeFileSync(path, `${secret}\n`, { mode: 0o600 });
      return { created: true };
    },

    list: () => store.listAdminTokens(),
  };
}

export type AdminTokenService = ReturnType<typeof createAdminTokenService>;

export function requireRole(role: string): AdminRole {
  if (role === 'owner' || role === 'operator' || role === 'auditor' || role === 'approver')
    return role;
  throw new PortcullisError('INVALID_ROLE', `Unknown role ${JSON.stringify(role)}.`);
}
