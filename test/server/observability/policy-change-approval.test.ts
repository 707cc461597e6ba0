/**
 * Policy changes held for multi-party approval (PORTCULLIS_POLICY_CHANGE_QUORUM): a create,
 * update or delete answers 202 and changes nothing until two distinct approvers (never the
 * initiator) approve; then it is applied once, as the initiator, and takes effect on the next
 * data-plane request. Off by default.
 */
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { newKey, send, startGateway, type Gateway } from './gateway.js';

const open: Gateway[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((g) => g.close()));
});

async function call<T = Record<string, unknown>>(
  g: Gateway,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
  token: string = g.token,
): Promise<{ status: number; body: T }> {
  const response = await request(`${g.adminUrl}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.statusCode, body: (await response.body.json()) as T };
}

async function approver(g: Gateway, label: string): Promise<string> {
  const created = await call<{ secret: string }>(g, 'POST', '/v1/admin-tokens', {
    role: 'approver',
    label,
  });
  expect(created.status).toBe(201);
  return created.body.secret;
}

const BASELINE = { id: 'baseline', effect: 'permit', target: {}, condition: 'true' };
const NO_ORDERS = {
  id: 'no-orders',
  effect: 'forbid',
  target: { actions: ['order.place'] },
  condition: 'true',
};

interface Held {
  approval: { id: string; state: string; quorum: number };
}

describe('policy changes with PORTCULLIS_POLICY_CHANGE_QUORUM=2', () => {
  it('a create is held (202), applied once on the second distinct approval, enforced next request', async () => {
    const g = await startGateway({}, {}, { PORTCULLIS_POLICY_CHANGE_QUORUM: '2' });
    open.push(g);
    const held = await call<Held>(g, 'POST', '/v1/policies', BASELINE);
    expect(held.status).toBe(202);
    expect(held.body.approval).toMatchObject({ state: 'pending', quorum: 2 });
    expect((await call<{ policies: unknown[] }>(g, 'GET', '/v1/policies')).body.policies).toEqual(
      [],
    );
    const [alice, bob] = [await approver(g, 'alice'), await approver(g, 'bob')];
    const id = held.body.approval.id;
    const first = await call<{ approval: { state: string } }>(
      g,
      'POST',
      `/v1/approvals/${id}/approve`,
      {},
      alice,
    );
    expect(first.body.approval.state).toBe('pending');
    // The same person again does not make a quorum.
    const again = await call<{ error: { code: string } }>(
      g,
      'POST',
      `/v1/approvals/${id}/approve`,
      {},
      alice,
    );
    expect(again.body.error.code).toBe('APPROVAL_REFUSED');
    const second = await call<{ approval: { state: string } }>(
      g,
      'POST',
      `/v1/approvals/${id}/approve`,
      {},
      bob,
    );
    expect(second.body.approval.state).toBe('executed');
    const listed = await call<{ policies: { id: string; version: number; updatedBy: string }[] }>(
      g,
      'GET',
      '/v1/policies',
    );
    expect(listed.body.policies).toMatchObject([{ id: 'baseline', version: 1 }]);

    // A forbid on orders: held too; once approved the next order is POLICY_DENIED.
    const key = await newKey(g);
    expect((await send(g, key, 'order')).status).toBe(201);
    const forbid = await call<Held>(g, 'POST', '/v1/policies', NO_ORDERS);
    expect(forbid.status).toBe(202);
    expect((await send(g, key, 'order')).status).toBe(201);
    for (const token of [alice, bob])
      await call(g, 'POST', `/v1/approvals/${forbid.body.approval.id}/approve`, {}, token);
    expect(await send(g, key, 'order')).toEqual({ status: 403, code: 'POLICY_DENIED' });

    // Delete is held as well; a rejection ends it and the policy stays.
    const del = await call<Held>(g, 'DELETE', '/v1/policies/no-orders');
    expect(del.status).toBe(202);
    await call(g, 'POST', `/v1/approvals/${del.body.approval.id}/reject`, {}, alice);
    expect((await send(g, key, 'order')).code).toBe('POLICY_DENIED');
    const actions = (await g.runtime.audit.list({ limit: 1000 })).map(
      (e: { action: string }) => e.action,
    );
    expect(actions.filter((a) => a === 'policy.create')).toHaveLength(2);
    expect(actions).toContain('approval.reject');
    expect(actions).not.toContain('policy.delete');
  });

  it('the initiator cannot approve its own change', async () => {
    const g = await startGateway({}, {}, { PORTCULLIS_POLICY_CHANGE_QUORUM: '2' });
    open.push(g);
    // Carol holds an owner token (she asks) and an approver token (same label: same person).
    const carolOwner = await call<{ secret: string }>(g, 'POST', '/v1/admin-tokens', {
      role: 'owner',
      label: 'carol',
    });
    const carolApprover = await approver(g, 'carol');
    const held = await call<Held>(g, 'POST', '/v1/policies', BASELINE, carolOwner.body.secret);
    expect(held.status).toBe(202);
    const self = await call<{ error: { code: string } }>(
      g,
      'POST',
      `/v1/approvals/${held.body.approval.id}/approve`,
      {},
      carolApprover,
    );
    expect(self.body.error.code).toBe('APPROVAL_SELF');
    // Approvers cannot write policies themselves.
    expect((await call(g, 'POST', '/v1/policies', BASELINE, carolApprover)).status).toBe(403);
  });

  it('refuses at once what could never apply: an existing id, an unknown id', async () => {
    const g = await startGateway({}, {}, { PORTCULLIS_POLICY_CHANGE_QUORUM: '2' });
    open.push(g);
    expect(
      (
        await call<{ error: { code: string } }>(g, 'PUT', '/v1/policies/nope', {
          effect: 'permit',
          condition: 'true',
        })
      ).body,
    ).toMatchObject({ error: { code: 'POLICY_NOT_FOUND' } });
    expect(
      (await call<{ error: { code: string } }>(g, 'DELETE', '/v1/policies/nope')).body,
    ).toMatchObject({ error: { code: 'POLICY_NOT_FOUND' } });
  });
});

describe('without the switch', () => {
  it('policy changes apply at once (201)', async () => {
    const g = await startGateway();
    open.push(g);
    expect((await call(g, 'POST', '/v1/policies', BASELINE)).status).toBe(201);
  });
});
