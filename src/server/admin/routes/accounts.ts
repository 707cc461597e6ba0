import type { FastifyInstance } from 'fastify';
import type { Account } from '../../../core/keys/model.js';
import { actorOf, type AdminDeps } from '../build-admin-app.js';
import { accountSchema, createAccountBody, listAccountsQuery } from '../schemas.js';

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
  // Oldest first, a page at a time (as GET /v1/keys): `next` is the `after` of the next page.
  app.get<{ Querystring: { after?: string; limit?: string } }>(
    '/v1/accounts',
    {
      config: { permission: 'accounts:read' },
      schema: {
        querystring: listAccountsQuery,
        response: {
          200: {
            type: 'object',
            properties: {
              accounts: { type: 'array', items: accountSchema },
              next: { type: ['string', 'null'] },
            },
          },
        },
      },
    },
    async (request) => {
      const limit = request.query.limit !== undefined ? Number(request.query.limit) : 100;
      const { after } = request.query;
      const accounts = await deps.keys.listAccounts({ limit, ...(after ? { after } : {}) });
      const last = accounts[accounts.length - 1];
      return {
        accounts: accounts.map(accountJson),
        next: accounts.length === limit && last ? last.id : null,
      };
    },
  );
}
