import type { FastifyInstance } from 'fastify';
import { actorOf, type AdminDeps } from '../build-admin-app.js';

const banSchema = {
  type: 'object',
  properties: {
    environment: { enum: ['production', 'sandbox'] },
    prefix: { type: 'string' },
    until: { type: 'string', format: 'date-time' },
    offences: { type: 'integer' },
  },
  required: ['environment', 'prefix', 'until', 'offences'],
} as const;

const liftBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    prefix: { type: 'string', minLength: 1, maxLength: 64 },
    forgive: { type: 'boolean', default: false },
  },
  required: ['prefix'],
} as const;

/** `GET /v1/bans` and `POST /v1/bans/lift`: IP-prefix bans decided by the data plane. */
export function registerBanRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const bans = deps.bans;
  app.get(
    '/v1/bans',
    {
      config: { permission: 'bans:read' },
      schema: {
        response: {
          200: { type: 'object', properties: { bans: { type: 'array', items: banSchema } } },
        },
      },
    },
    () => ({
      bans: (bans?.list() ?? []).map((ban) => ({
        environment: ban.environment,
        prefix: ban.prefix,
        until: new Date(ban.untilMs).toISOString(),
        offences: ban.offences,
      })),
    }),
  );
  app.post<{ Body: { prefix: string; forgive: boolean } }>(
    '/v1/bans/lift',
    {
      config: { permission: 'bans:write' },
      schema: {
        body: liftBody,
        response: {
          200: {
            type: 'object',
            properties: {
              prefix: { type: 'string' },
              lifted: { type: 'array', items: { enum: ['production', 'sandbox'] } },
            },
          },
        },
      },
    },
    async (request) => {
      const lifted =
        (await bans?.lift(request.body.prefix, request.body.forgive, actorOf(request))) ?? [];
      return { prefix: request.body.prefix, lifted };
    },
  );
}
