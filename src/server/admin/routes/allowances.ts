/**
 * Admin routes for the spend allowances of a key (docs/admin-api.md): list (`keys:read`), add
 * and remove (`keys:write`), each change audited by the service; a removal is held for approval
 * when PORTCULLIS_KEY_CHANGE_QUORUM > 0. Handlers parse, call the service, map the result.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PortcullisError } from '../../../core/errors.js';
import type { Clock } from '../../../core/clock.js';
import {
  allowanceJson,
  type AllowanceInput,
  type AllowanceService,
} from '../../../services/allowance-service.js';
import { actorOf } from '../build-admin-app.js';

const ID = { type: 'string', minLength: 1, maxLength: 64 } as const;
const keyParams = { type: 'object', properties: { id: ID }, required: ['id'] } as const;
const allowanceParams = {
  type: 'object',
  properties: { id: ID, allowanceId: ID },
  required: ['id', 'allowanceId'],
} as const;

const allowanceBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    kind: { type: 'string', enum: ['notional', 'withdrawal'] },
    asset: { type: 'string', minLength: 1, maxLength: 16 },
    amount: { type: 'string', minLength: 1, maxLength: 64 },
    period: { type: 'string', minLength: 1, maxLength: 16 },
    expiresAt: { type: 'string', minLength: 1, maxLength: 64 },
    expiresIn: { type: 'string', minLength: 1, maxLength: 16 },
  },
  required: ['kind', 'asset', 'amount', 'period'],
} as const;

/** The service, when the store implements the governance ports. */
export function registerAllowanceRoutes(
  app: FastifyInstance,
  deps: {
    readonly allowances: AllowanceService | undefined;
    readonly clock: Clock;
    /** The person behind the calling token (an initiator cannot approve its own removal). */
    readonly personOf: (request: FastifyRequest) => string;
  },
): void {
  const need = (): AllowanceService => {
    if (deps.allowances === undefined) {
      throw new PortcullisError(
        'GOVERNANCE_UNAVAILABLE',
        'This store does not implement spend allowances.',
      );
    }
    return deps.allowances;
  };
  app.get<{ Params: { id: string } }>(
    '/v1/keys/:id/allowances',
    { config: { permission: 'keys:read' }, schema: { params: keyParams } },
    async (request) => {
      const nowMs = deps.clock.now();
      const stored = await need().list(request.params.id);
      return { allowances: stored.map((s) => allowanceJson(s, nowMs)) };
    },
  );
  app.post<{ Params: { id: string }; Body: AllowanceInput }>(
    '/v1/keys/:id/allowances',
    {
      config: { permission: 'keys:write' },
      schema: { params: keyParams, body: allowanceBody },
    },
    async (request, reply) => {
      const stored = await need().add(request.params.id, request.body, actorOf(request));
      return reply.status(201).send({ allowance: allowanceJson(stored, deps.clock.now()) });
    },
  );
  app.delete<{ Params: { id: string; allowanceId: string } }>(
    '/v1/keys/:id/allowances/:allowanceId',
    { config: { permission: 'keys:write' }, schema: { params: allowanceParams } },
    async (request, reply) => {
      const result = await need().remove(request.params.id, request.params.allowanceId, {
        ...actorOf(request),
        person: deps.personOf(request),
      });
      if ('approvalId' in result) {
        return reply.status(202).send({
          approval: { id: result.approvalId, state: 'pending', quorum: result.quorum },
        });
      }
      return { removed: result.removed };
    },
  );
}
