import type { FastifyInstance } from 'fastify';
import { parseDuration } from '../../../core/duration.js';
import { PortcullisError } from '../../../core/errors.js';
import type { AdminToken } from '../../../ports.js';
import { requireRole } from '../../../services/admin-tokens.js';
import { actorOf, type AdminDeps } from '../build-admin-app.js';
import { createTokenBody, emptyBody } from '../schemas.js';

const tokenJson = (token: AdminToken) => ({
  id: token.id,
  role: token.role,
  label: token.label,
  createdAt: new Date(token.createdAt).toISOString(),
  expiresAt: token.expiresAt === null ? null : new Date(token.expiresAt).toISOString(),
  revokedAt: token.revokedAt === null ? null : new Date(token.revokedAt).toISOString(),
  createdBy: token.createdBy,
});

export function registerTokenRoutes(app: FastifyInstance, deps: AdminDeps): void {
  app.post<{ Body: { role: string; label?: string; expiresIn?: string } }>(
    '/v1/admin-tokens',
    { config: { permission: 'tokens:write' }, schema: { body: createTokenBody } },
    async (request, reply) => {
      const role = requireRole(request.body.role);
      let expiresAt: number | null = null;
      if (request.body.expiresIn !== undefined) {
        const ms = parseDuration(request.body.expiresIn);
        if (ms === undefined || ms === 0)
          throw new PortcullisError('INVALID_DURATION', 'expiresIn must be a positive duration.');
        expiresAt = deps.clock.now() + ms;
      }
      const { token, secret } = await deps.tokens.issue(
        role,
        request.body.label ?? '',
        expiresAt,
        actorOf(request),
      );
      return reply.status(201).send({ token: tokenJson(token), secret });
    },
  );

  app.get('/v1/admin-tokens', { config: { permission: 'tokens:write' } }, async () => ({
    tokens: (await deps.tokens.list()).map(tokenJson),
  }));

  app.post(
    '/v1/master-key/rotate',
    { config: { permission: 'master-key:rotate' }, schema: { body: emptyBody } },
    async (request) => deps.rotateMasterKey(actorOf(request)),
  );
}
