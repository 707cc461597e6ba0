import type { FastifyInstance } from 'fastify';
import { ENVIRONMENTS } from '../../../core/keys/model.js';
import { formatScopes } from '../../../core/oauth/scopes.js';
import type { AuditDraft } from '../../../core/audit/audit-chain.js';
import type { AccessTokenService, TokenClaims } from '../../../services/access-tokens.js';
import { actorOf } from '../build-admin-app.js';

export interface AdminOAuthDeps {
  readonly service: AccessTokenService;
  readonly clock: { now(): number };
  /** Appends the audit entry of a revocation. */
  readonly audit: (draft: AuditDraft) => Promise<unknown>;
}

const tokenBody = {
  type: 'object',
  additionalProperties: false,
  properties: { token: { type: 'string', minLength: 1, maxLength: 8192 } },
  required: ['token'],
} as const;

/**
 * Operators' view of access tokens on the admin API (docs/admin-api.md): introspection for any
 * key's token (`keys:read`) and revocation of one token (`keys:write`, audited). Registered by
 * the composition root once the token service exists; the admin app's authentication hook
 * covers these routes like every other.
 */
export function registerAdminOAuthRoutes(app: FastifyInstance, deps: AdminOAuthDeps): void {
  /** The token's verified claims in whichever environment's audience it carries. */
  async function claimsOf(token: string): Promise<TokenClaims | undefined> {
    for (const environment of ENVIRONMENTS) {
      const verdict = await deps.service.verify(token, { environment });
      if (!verdict.ok) continue;
      const inspected = await deps.service.inspect(token, { environment });
      if (inspected.ok) return { ...inspected.claims, scopes: verdict.scopes };
    }
    return undefined;
  }

  app.post<{ Body: { token: string } }>(
    '/v1/oauth/introspect',
    { config: { permission: 'keys:read' }, schema: { body: tokenBody } },
    async (request, reply) => {
      void reply.header('cache-control', 'no-store');
      const claims = await claimsOf(request.body.token);
      if (claims === undefined) return { active: false };
      return {
        active: true,
        scope: formatScopes(claims.scopes),
        client_id: claims.keyId,
        token_type: 'Bearer',
        exp: claims.exp,
        iat: claims.iat,
        nbf: claims.nbf,
        sub: claims.keyId,
        aud: claims.aud,
        iss: claims.iss,
        jti: claims.jti,
        acct: claims.accountId,
        env: claims.environment,
      };
    },
  );

  app.post<{ Body: { token: string } }>(
    '/v1/oauth/revoke',
    { config: { permission: 'keys:write' }, schema: { body: tokenBody } },
    async (request) => {
      const claims = await claimsOf(request.body.token);
      if (claims === undefined) return { revoked: false };
      await deps.service.revoke(claims);
      const { actor, requestId } = actorOf(request);
      await deps.audit({
        ts: deps.clock.now(),
        actor,
        action: 'oauth.token.revoke',
        target: claims.keyId,
        requestId,
        data: { jti: claims.jti, exp: claims.exp, environment: claims.environment },
      });
      return { revoked: true, keyId: claims.keyId, jti: claims.jti };
    },
  );
}
