import type { FastifyInstance } from 'fastify';
import type { AuditEntry } from '../../../core/audit/audit-chain.js';
import type { AdminDeps } from '../build-admin-app.js';
import { auditEntrySchema, listAuditQuery } from '../schemas.js';

const entryJson = (entry: AuditEntry) => {
  const { seal: _seal, ...rest } = entry;
  return { ...rest, ts: new Date(entry.ts).toISOString() };
};

export function registerAuditRoutes(app: FastifyInstance, deps: AdminDeps): void {
  app.get<{ Querystring: { afterSeq?: string; action?: string; target?: string; limit?: string } }>(
    '/v1/audit',
    {
      config: { permission: 'audit:read' },
      schema: {
        querystring: listAuditQuery,
        response: {
          200: {
            type: 'object',
            properties: {
              entries: { type: 'array', items: auditEntrySchema },
              next: { type: ['integer', 'null'] },
            },
          },
        },
      },
    },
    async (request) => {
      const limit = request.query.limit !== undefined ? Number(request.query.limit) : 100;
      const entries = await deps.audit.list({
        limit,
        ...(request.query.afterSeq !== undefined
          ? { afterSeq: Number(request.query.afterSeq) }
          : {}),
        ...(request.query.action !== undefined ? { action: request.query.action } : {}),
        ...(request.query.target !== undefined ? { target: request.query.target } : {}),
      });
      const last = entries[entries.length - 1];
      return {
        entries: entries.map(entryJson),
        next: entries.length === limit && last ? last.seq : null,
      };
    },
  );

  app.get('/v1/audit/verify', { config: { permission: 'audit:read' } }, async () =>
    deps.audit.verify(),
  );
}
