/**
 * Admin routes for policies (CRUD, simulate), approvals (list, show, approve, reject) and
 * withdrawal rules (settings, address book). Handlers parse, call a service, map the result.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseDuration } from '../../../core/duration.js';
import { PortcullisError } from '../../../core/errors.js';
import type { ApprovalState } from '../../../core/approvals/index.js';
import type { AdminToken } from '../../../ports.js';
import { approvalJson, type ApprovalService } from '../../../services/approval-service.js';
import type { PolicyChangeGate } from '../../../services/policy-change-gate.js';
import {
  recordJson,
  type PolicyInput,
  type PolicyService,
  type SimulationInput,
} from '../../../services/policy-service.js';
import {
  entryJson,
  settingsJson,
  type AddressInput,
  type SettingsInput,
  type WithdrawalService,
} from '../../../services/withdrawal-service.js';
import type { AllowanceService } from '../../../services/allowance-service.js';
import { actorOf, type AdminDeps } from '../build-admin-app.js';
import { registerAllowanceRoutes } from './allowances.js';
import {
  addressBody,
  approvalIdParams,
  listApprovalsQuery,
  policyBody,
  policyIdParams,
  simulateBody,
  voteBody,
  withdrawalRulesBody,
} from '../governance-schemas.js';
import { keyIdParams } from '../schemas.js';

/** The governance services; absent when the store does not implement the governance ports. */
export interface GovernanceDeps {
  readonly policies: PolicyService;
  readonly approvals: ApprovalService;
  readonly withdrawals: WithdrawalService;
  /** Spend allowances of keys (routes in allowances.ts). */
  readonly allowances?: AllowanceService;
  /** Holds policy changes for approval when on (PORTCULLIS_POLICY_CHANGE_QUORUM > 0). */
  readonly policyChanges?: PolicyChangeGate;
}

/** The 202 of a change held for approval. */
const heldAnswer = (held: { approvalId: string; quorum: number }) => ({
  approval: { id: held.approvalId, state: 'pending', quorum: held.quorum },
});

/** A person behind an admin token: its label when set (one person, several tokens), else its id. */
export function personOf(token: AdminToken | null): string {
  if (token === null) return 'anonymous';
  const label = token.label.trim();
  return label === '' ? token.id : `label:${label}`;
}

function need(deps: AdminDeps): GovernanceDeps {
  if (!deps.governance) {
    throw new PortcullisError(
      'GOVERNANCE_UNAVAILABLE',
      'This store does not implement policies, approvals and withdrawal rules yet.',
    );
  }
  return deps.governance;
}

const anyObject = { type: 'object', additionalProperties: true } as const;

export function registerGovernanceRoutes(app: FastifyInstance, deps: AdminDeps): void {
  registerPolicyRoutes(app, deps);
  registerApprovalRoutes(app, deps);
  registerWithdrawalRoutes(app, deps);
  registerAllowanceRoutes(app, {
    allowances: deps.governance?.allowances,
    clock: deps.clock,
    personOf: (request) => personOf(request.admin),
  });
}

function registerPolicyRoutes(app: FastifyInstance, deps: AdminDeps): void {
  app.post<{ Body: PolicyInput & { id: string } }>(
    '/v1/policies',
    { config: { permission: 'policies:write' }, schema: { body: policyBody(true) } },
    async (request, reply) => {
      const { id, ...input } = request.body;
      const governance = need(deps);
      const held = await governance.policyChanges?.maybeHold(
        { op: 'create', id, input },
        { ...actorOf(request), person: personOf(request.admin) },
      );
      if (held) return reply.status(202).send(heldAnswer(held));
      const record = await governance.policies.create(id, input, actorOf(request));
      return reply.status(201).send({ policy: recordJson(record) });
    },
  );
  app.get('/v1/policies', { config: { permission: 'policies:read' } }, () => ({
    policies: need(deps).policies.list().map(recordJson),
  }));
  app.post<{ Body: SimulationInput }>(
    '/v1/policies/simulate',
    {
      config: { permission: 'policies:read' },
      schema: { body: simulateBody, response: { 200: anyObject } },
    },
    (request) => need(deps).policies.simulate(request.body),
  );
  app.get<{ Params: { id: string } }>(
    '/v1/policies/:id',
    { config: { permission: 'policies:read' }, schema: { params: policyIdParams } },
    async (request) => {
      const { policies } = need(deps);
      const policy = await policies.get(request.params.id);
      const history = await policies.history(request.params.id);
      return { policy: recordJson(policy), history: history.map(recordJson) };
    },
  );
  app.put<{ Params: { id: string }; Body: PolicyInput }>(
    '/v1/policies/:id',
    {
      config: { permission: 'policies:write' },
      schema: { params: policyIdParams, body: policyBody(false) },
    },
    async (request, reply) => {
      const governance = need(deps);
      const held = await governance.policyChanges?.maybeHold(
        { op: 'update', id: request.params.id, input: request.body },
        { ...actorOf(request), person: personOf(request.admin) },
      );
      if (held) return reply.status(202).send(heldAnswer(held));
      const record = await governance.policies.update(
        request.params.id,
        request.body,
        actorOf(request),
      );
      return { policy: recordJson(record) };
    },
  );
  app.delete<{ Params: { id: string } }>(
    '/v1/policies/:id',
    { config: { permission: 'policies:write' }, schema: { params: policyIdParams } },
    async (request, reply) => {
      const governance = need(deps);
      const held = await governance.policyChanges?.maybeHold(
        { op: 'delete', id: request.params.id },
        { ...actorOf(request), person: personOf(request.admin) },
      );
      if (held) return reply.status(202).send(heldAnswer(held));
      const record = await governance.policies.remove(request.params.id, actorOf(request));
      return { policy: recordJson(record) };
    },
  );
}

function registerApprovalRoutes(app: FastifyInstance, deps: AdminDeps): void {
  app.get<{ Querystring: { state?: ApprovalState; limit?: string } }>(
    '/v1/approvals',
    { config: { permission: 'approvals:read' }, schema: { querystring: listApprovalsQuery } },
    async (request) => {
      const records = await need(deps).approvals.list({
        ...(request.query.state !== undefined ? { state: request.query.state } : {}),
        ...(request.query.limit !== undefined ? { limit: Number(request.query.limit) } : {}),
      });
      return { approvals: records.map(approvalJson) };
    },
  );
  app.get<{ Params: { id: string } }>(
    '/v1/approvals/:id',
    { config: { permission: 'approvals:read' }, schema: { params: approvalIdParams } },
    async (request) => ({
      approval: approvalJson(await need(deps).approvals.get(request.params.id)),
    }),
  );
  for (const vote of ['approve', 'reject'] as const) {
    app.post<{ Params: { id: string }; Body: { digest?: string } }>(
      `/v1/approvals/:id/${vote}`,
      {
        config: { permission: 'approvals:decide' },
        schema: { params: approvalIdParams, body: voteBody },
      },
      async (request: FastifyRequest<{ Params: { id: string }; Body: { digest?: string } }>) => {
        const record = await need(deps).approvals.vote(
          request.params.id,
          {
            person: personOf(request.admin),
            vote,
            ...(request.body.digest !== undefined ? { digest: request.body.digest } : {}),
          },
          actorOf(request),
        );
        return { approval: approvalJson(record) };
      },
    );
  }
}

function registerWithdrawalRoutes(app: FastifyInstance, deps: AdminDeps): void {
  app.get<{ Params: { id: string } }>(
    '/v1/accounts/:id/withdrawal-rules',
    { config: { permission: 'accounts:read' }, schema: { params: keyIdParams } },
    async (request) => {
      const settings = await need(deps).withdrawals.getSettings(request.params.id);
      return { rules: settings ? settingsJson(settings) : null };
    },
  );
  app.put<{
    Params: { id: string };
    Body: Omit<SettingsInput, 'coolDownMs'> & { coolDown?: string };
  }>(
    '/v1/accounts/:id/withdrawal-rules',
    {
      config: { permission: 'accounts:write' },
      schema: { params: keyIdParams, body: withdrawalRulesBody },
    },
    async (request) => {
      const { coolDown, ...rest } = request.body;
      const coolDownMs = coolDown === undefined ? undefined : parseDuration(coolDown);
      if (coolDown !== undefined && coolDownMs === undefined) {
        throw new PortcullisError('INVALID_DURATION', 'coolDown must be a duration like 24h.');
      }
      const settings = await need(deps).withdrawals.putSettings(
        request.params.id,
        { ...rest, ...(coolDownMs !== undefined ? { coolDownMs } : {}) },
        actorOf(request),
      );
      return { rules: settingsJson(settings) };
    },
  );
  app.get<{ Params: { id: string } }>(
    '/v1/accounts/:id/addresses',
    { config: { permission: 'accounts:read' }, schema: { params: keyIdParams } },
    async (request) => ({
      addresses: (await need(deps).withdrawals.listAddresses(request.params.id)).map(entryJson),
    }),
  );
  app.post<{ Params: { id: string }; Body: AddressInput }>(
    '/v1/accounts/:id/addresses',
    {
      config: { permission: 'accounts:write' },
      schema: { params: keyIdParams, body: addressBody },
    },
    async (request, reply) => {
      const result = await need(deps).withdrawals.addAddress(request.params.id, request.body, {
        ...actorOf(request),
        person: personOf(request.admin),
      });
      if ('approvalId' in result) {
        return reply.status(202).send({
          approval: { id: result.approvalId, state: 'pending', quorum: result.quorum },
        });
      }
      return reply.status(201).send({ address: entryJson(result.added) });
    },
  );
}
