import type { FastifyInstance } from 'fastify';
import type { Account } from '../../../core/keys/model.js';
import { actorOf, type AdminDeps } from '../build-admin-app.js';
import { accountSchema, createAccountBody } from '../schemas.js';

const accountJson = (account: Account) => ({
  ...account,
  createdAt: new Date(account.createdAt).toISOString(),
});

export function registerAccountRoutes(app: FastifyInstance, deps: AdminDeps): void {
  app.post<{ Body: { name: string } }>(
    '/v1/accounts',
    {
      config: { permission: 'accounts:write' },
      schema: { body: createAccountBody, response: { 201: accountSchema } },
    },
    async (request, reply) => {
      const account = await deps.keys.createAccount(request.body.name, actorOf(request));
      return reply.status(201).send(accountJson(account));
    },
  );
  app.get(
    '/v1/accounts',
    {
      config: { permission: 'accounts:read' },
      schema: {
        response: {
          200: {
            type: 'object',
            properties: { accounts: { type: 'array', items: accountSchema } },
          },
        },
      },
    },
    async () => ({ accounts: (await deps.keys.listAccounts()).map(accountJson) }),
  );
}
