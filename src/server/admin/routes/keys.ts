import type { FastifyInstance } from 'fastify';
import { parseDuration } from '../../../core/duration.js';
import { PortcullisError } from '../../../core/errors.js';
import type { Environment, KeyScheme } from '../../../core/keys/model.js';
import {
  DEFAULT_ROTATION_GRACE_MS,
  type KeyView,
  type KeyWithSecret,
} from '../../../services/key-service.js';
import { actorOf, type AdminDeps } from '../build-admin-app.js';
import { personOf } from './governance.js';
import {
  createKeyBody,
  keyIdParams,
  keySchema,
  listKeysQuery,
  rotateKeyBody,
  updateKeyBody,
} from '../schemas.js';

interface CreateKeyBody {
  accountId: string;
  environment: Environment;
  scheme: KeyScheme;
  scopes: string[];
  ipAllowlist?: string[];
  label?: string;
  publicKey?: string;
  passphrase?: string;
  expiresIn?: string;
  expiresAt?: string;
}

interface UpdateKeyBody {
  scopes?: string[];
  ipAllowlist?: string[];
  label?: string;
  expiresIn?: string;
  expiresAt?: string | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/**
 * The key as the API shows it: times as ISO-8601, never secret material. `lastUsedIp` is the
 * client IP of its newest allowed request seen by the observability pipeline (null when unknown).
 */
export function keyJson(key: KeyView, lastUsedIp: string | null = null) {
  return {
    ...key,
    createdAt: new Date(key.createdAt).toISOString(),
    expiresAt: iso(key.expiresAt),
    revokedAt: iso(key.revokedAt),
    lastUsedAt: iso(key.lastUsedAt),
    lastUsedIp,
  };
}

const withSecret = (result: KeyWithSecret) => ({
  key: keyJson(result.key),
  ...(result.secret !== undefined ? { secret: result.secret } : {}),
});

/** `expiresIn` (a duration) or `expiresAt` (ISO-8601, or null to clear), never both. */
function expiryOf(
  body: { expiresIn?: string; expiresAt?: string | null },
  now: number,
): number | null | undefined {
  if (body.expiresIn !== undefined && body.expiresAt !== undefined) {
    throw new PortcullisError('VALIDATION_FAILED', 'Give expiresIn or expiresAt, not both.');
  }
  if (body.expiresIn !== undefined) {
    const ms = parseDuration(body.expiresIn);
    if (ms === undefined || ms === 0)
      throw new PortcullisError(
        'INVALID_DURATION',
        'expiresIn must be a positive duration like 90d.',
      );
    return now + ms;
  }
  if (body.expiresAt === null) return null;
  if (body.expiresAt !== undefined) return Date.parse(body.expiresAt);
  return undefined;
}

const heldResponse = {
  type: 'object',
  properties: {
    approval: {
      type: 'object',
      properties: {
        id: { type: 'string' },
        state: { type: 'string' },
        quorum: { type: 'integer' },
      },
    },
  },
} as const;
const keyResponse = { type: 'object', properties: { key: keySchema } } as const;
const keyWithSecretResponse = {
  type: 'object',
  properties: { key: keySchema, secret: { type: 'string' } },
} as const;

export function registerKeyRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const withUse = (key: KeyView) =>
    keyJson(key, deps.observability?.keyUse?.lastUse(key.id)?.ip ?? null);
  app.post<{ Body: CreateKeyBody }>(
    '/v1/keys',
    {
      config: { permission: 'keys:write' },
      schema: { body: createKeyBody, response: { 201: keyWithSecretResponse } },
    },
    async (request, reply) => {
      const { expiresIn: _in, expiresAt: _at, ...input } = request.body;
      const expiresAt = expiryOf(request.body, deps.clock.now());
      const result = await deps.keys.createKey(
        { ...input, ...(expiresAt !== undefined ? { expiresAt } : {}) },
        actorOf(request),
      );
      return reply.status(201).send(withSecret(result));
    },
  );

  app.get<{
    Querystring: { accountId?: string; environment?: Environment; after?: string; limit?: string };
  }>(
    '/v1/keys',
    {
      config: { permission: 'keys:read' },
      schema: {
        querystring: listKeysQuery,
        response: {
          200: {
            type: 'object',
            properties: {
              keys: { type: 'array', items: keySchema },
              next: { type: ['string', 'null'] },
            },
          },
        },
      },
    },
    async (request) => {
      const limit = request.query.limit !== undefined ? Number(request.query.limit) : 100;
      const { limit: _limit, ...filter } = request.query;
      const keys = await deps.keys.listKeys({ ...filter, limit });
      const last = keys[keys.length - 1];
      return { keys: keys.map(withUse), next: keys.length === limit && last ? last.id : null };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/v1/keys/:id',
    {
      config: { permission: 'keys:read' },
      schema: { params: keyIdParams, response: { 200: keyResponse } },
    },
    async (request) => ({ key: withUse(await deps.keys.getKey(request.params.id)) }),
  );

  app.patch<{ Params: { id: string }; Body: UpdateKeyBody }>(
    '/v1/keys/:id',
    {
      config: { permission: 'keys:write' },
      schema: {
        params: keyIdParams,
        body: updateKeyBody,
        response: { 200: keyResponse, 202: heldResponse },
      },
    },
    async (request, reply) => {
      const { expiresIn: _in, expiresAt: _at, ...patch } = request.body;
      const expiresAt = expiryOf(request.body, deps.clock.now());
      const input = { ...patch, ...(expiresAt !== undefined ? { expiresAt } : {}) };
      // Widening a key (withdraw, no allowlist) may need approval: answered 202 with its id.
      const held = await deps.governance?.keyChanges?.maybeHold(request.params.id, input, {
        ...actorOf(request),
        person: personOf(request.admin),
      });
      if (held) {
        return reply
          .status(202)
          .send({ approval: { id: held.approvalId, state: 'pending', quorum: held.quorum } });
      }
      const key = await deps.keys.updateKey(request.params.id, input, actorOf(request));
      return { key: keyJson(key) };
    },
  );

  app.post<{ Params: { id: string }; Body: { grace?: string } | undefined }>(
    '/v1/keys/:id/rotate',
    {
      config: { permission: 'keys:write' },
      schema: {
        params: keyIdParams,
        body: rotateKeyBody,
        response: { 200: keyWithSecretResponse },
      },
    },
    async (request) => {
      const grace = request.body?.grace;
      const graceMs = grace === undefined ? DEFAULT_ROTATION_GRACE_MS : parseDuration(grace);
      if (graceMs === undefined)
        throw new PortcullisError('INVALID_DURATION', 'grace must be a duration like 1h or 0s.');
      return withSecret(await deps.keys.rotateKey(request.params.id, graceMs, actorOf(request)));
    },
  );

  app.post<{ Params: { id: string } }>(
    '/v1/keys/:id/revoke',
    {
      config: { permission: 'keys:write' },
      schema: { params: keyIdParams, response: { 200: keyResponse } },
    },
    async (request) => ({
      key: keyJson(await deps.keys.revokeKey(request.params.id, actorOf(request))),
    }),
  );
}
