/**
 * The web console end to end: a real `portcullis start` serving dist/console on its admin
 * listener, Debian's chromium driven by playwright-core. Sign in (keyboard only); create a key
 * and read its secret once (a reload does not show it again); rotate; revoke and see the next
 * signed request refused; approve a held withdrawal with two approvers; see a tampered audit
 * entry flagged. Every page is checked for console errors, and the main pages are captured
 * (into docs/console/*.png with PORTCULLIS_UPDATE_SCREENSHOTS=1; see helpers.ts SCREENSHOTS).
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { cliCreateAccount, cliCreateKey } from '../../helpers/cli-keys.js';
import { adminRequest, startServer, type ServerHandle } from '../../helpers/server-process.js';
import { createTempDir } from '../../helpers/temp-dir.js';
import { codeOf, NO_LIMITS, send, signed, writeConfig } from '../data-plane/helpers.js';
import {
  openBrowser,
  openPage,
  screenshot,
  signIn,
  signOut,
  type ConsoleBrowser,
} from './helpers.js';

// Chromium on a loaded two-core machine: generous, and every step waits on a selector.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 120_000 });

const configDir = createTempDir('portcullis-e2e-console-');
let server: ServerHandle;
let sandboxUrl: string;
let browser: ConsoleBrowser;
let page: Page;

const balances = (key: { id: string; secret: string }) =>
  send(signed(sandboxUrl, 'GET', '/api/v1/balances', undefined, key));

async function approverToken(label: string): Promise<string> {
  const issued = await adminRequest(server, 'POST', '/v1/admin-tokens', {
    role: 'approver',
    label,
  });
  expect(issued.status).toBe(201);
  return issued.body.secret as string;
}

/** The page's console stayed clean since the last check. */
function expectNoConsoleErrors(): void {
  expect(browser.takeErrors()).toEqual([]);
}

beforeAll(async () => {
  const config = writeConfig(configDir.path, {
    environments: { sandbox: { ...NO_LIMITS }, production: { ...NO_LIMITS } },
  });
  server = await startServer({ args: ['--config', config] });
  sandboxUrl = (server.info.dataPlanes.sandbox as { url: string }).url;
  browser = await openBrowser();
  page = browser.page;
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.cleanup();
  configDir.remove();
}, 60_000);

describe('serving and signing in', () => {
  it('serves the console under /console/ with a strict content security policy', async () => {
    const response = await fetch(new URL('/console/', server.adminUrl));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await response.text()).toContain('<div id="root">');
  });

  it('refuses an unknown token with its code and keeps nothing', async () => {
    await page.goto(new URL('/console/', server.adminUrl).href);
    await page.locator('#token').fill(`pct_${'x'.repeat(43)}`);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('[role="alert"][data-code="ADMIN_TOKEN_INVALID"]').waitFor();
    expect(await page.evaluate<number>('sessionStorage.length')).toBe(0);
    // The API's 401 is logged by the browser as a failed fetch; nothing else may appear.
    expect(browser.takeErrors().filter((e) => !e.includes('status of 401'))).toEqual([]);
  });

  it('signs in with the keyboard; the token is kept in sessionStorage, not localStorage', async () => {
    await page.goto(new URL('/console/', server.adminUrl).href);
    await page.locator('#token').waitFor();
    await screenshot(page, 'sign-in');
    await signIn(page, server.adminUrl, server.token);
    await expect(page.getByTestId('who').textContent()).resolves.toContain('owner');
    // Browser code as a string: the test project is typed for Node, not the DOM.
    const stored = await page.evaluate<{ session: string[]; local: number }>(
      '({ session: Object.keys(sessionStorage), local: localStorage.length })',
    );
    expect(stored.session).toContain('portcullis.adminToken');
    expect(stored.local).toBe(0);
    expectNoConsoleErrors();
  });
});

describe('keys', () => {
  let keyId: string;
  let secret: string;

  it('creates an account and a key; the allowlist is validated before sending', async () => {
    await openPage(page, 'Accounts & keys');
    await page.locator('#account-name').fill('console desk');
    await page.getByRole('button', { name: 'Create account' }).click();
    await page.locator('.accounts').getByText('console desk').waitFor();

    await page.getByRole('checkbox', { name: /^trade/ }).check();
    await page.locator('#key-ips').fill('127.0.0.300, 10.0.0.0/33');
    const problems = page.getByTestId('ip-problems');
    await problems.waitFor();
    expect(await problems.locator('li').count()).toBe(2);
    const create = page.getByRole('button', { name: 'Create sandbox key' });
    expect(await create.isDisabled()).toBe(true);

    await page.locator('#key-ips').fill('127.0.0.1');
    await problems.waitFor({ state: 'detached' });
    await create.click();
    const shown = page.getByTestId('secret');
    await shown.waitFor();
    secret = await shown.inputValue();
    expect(secret).toMatch(/^psk_/);
    keyId = (await page.locator('#secret-title code').textContent()) ?? '';
    expect(keyId).toMatch(/^pk_test_/);
    await page.locator(`tr[data-key-id="${keyId}"]`).waitFor();
    await screenshot(page, 'secret-once');
    expectNoConsoleErrors();

    // The secret works on the sandbox data plane from the allowed address.
    expect((await balances({ id: keyId, secret })).status).toBe(200);
  });

  it('never shows the secret again: not after a reload, not in any API answer', async () => {
    await page.reload();
    await page.locator(`tr[data-key-id="${keyId}"]`).waitFor();
    expect(await page.getByTestId('secret').count()).toBe(0);
    expect(await page.content()).not.toContain(secret);
    const listed = await adminRequest(server, 'GET', `/v1/keys/${keyId}`);
    expect(JSON.stringify(listed.body)).not.toContain(secret);
    await screenshot(page, 'keys');
    expectNoConsoleErrors();
  });

  it('rotates with no grace: the new secret works, the old one is refused', async () => {
    await page
      .locator(`tr[data-key-id="${keyId}"]`)
      .getByRole('button', { name: 'Rotate' })
      .click();
    await page.locator('#grace').selectOption('0s');
    await page.getByRole('dialog').getByRole('button', { name: 'Rotate' }).click();
    const shown = page.getByTestId('secret');
    await shown.waitFor();
    const rotated = await shown.inputValue();
    expect(rotated).toMatch(/^psk_/);
    expect(rotated).not.toBe(secret);
    expect((await balances({ id: keyId, secret: rotated })).status).toBe(200);
    expect(codeOf(await balances({ id: keyId, secret }))).toBe('SIGNATURE_INVALID');
    await page.getByRole('button', { name: 'I have stored it' }).click();
    await shown.waitFor({ state: 'detached' });
    secret = rotated;
    expectNoConsoleErrors();
  });

  it('revokes after a confirmation; the next signed request is refused', async () => {
    const row = page.locator(`tr[data-key-id="${keyId}"]`);
    await row.getByRole('button', { name: 'Revoke' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Revoke now' }).click();
    await row.getByTestId('key-state').filter({ hasText: 'revoked' }).waitFor();
    const answer = await balances({ id: keyId, secret });
    expect(answer.status).toBe(401);
    expect(codeOf(answer)).toBe('KEY_REVOKED');
    expectNoConsoleErrors();
  });

  it('an auditor sees keys but no create, rotate or revoke', async () => {
    const issued = await adminRequest(server, 'POST', '/v1/admin-tokens', { role: 'auditor' });
    await signOut(page);
    await signIn(page, server.adminUrl, issued.body.secret as string);
    await page.locator(`tr[data-key-id="${keyId}"]`).waitFor();
    expect(await page.getByRole('heading', { name: 'Create a key' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Revoke' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Create account' }).count()).toBe(0);
    await signOut(page);
    expectNoConsoleErrors();
  });
});

describe('a held withdrawal approved by two approvers in the console', () => {
  let approvalId: string;
  let key: { id: string; secret: string };

  beforeAll(async () => {
    const accountId = await cliCreateAccount(server.dataDir, 'held');
    const created = await cliCreateKey(server.dataDir, { accountId, scopes: 'read,withdraw' });
    key = { id: created.id, secret: created.secret as string };
    const policy = await adminRequest(server, 'POST', '/v1/policies', {
      id: 'large-withdrawals',
      effect: 'require-approval',
      target: { actions: ['withdrawal.create'], accounts: [accountId] },
      condition: 'params.amount > 500.0',
      quorum: 2,
    });
    expect(policy.status).toBe(201);
    const held = await send(
      signed(
        sandboxUrl,
        'POST',
        '/api/v1/withdrawals',
        {
          asset: 'USDT',
          amount: '600',
          address: 'addr-console-0001',
        },
        key,
      ),
    );
    expect(held.status).toBe(202);
    approvalId = (held.body.approval as { id: string }).id;
  });

  const approveAs = async (label: string) => {
    await signIn(page, server.adminUrl, await approverToken(label));
    await openPage(page, 'Approvals');
    const card = page.locator(`article[data-approval-id="${approvalId}"]`);
    await card.waitFor();
    await expect(card.getByTestId('bound-request').textContent()).resolves.toContain(
      'POST /api/v1/withdrawals',
    );
    return card;
  };

  it('the first approver sees the exact request and approves; the round stays pending', async () => {
    const card = await approveAs('alice');
    expect(await page.getByRole('link', { name: 'Audit log' }).count()).toBe(0);
    await screenshot(page, 'approvals');
    await card.getByRole('button', { name: 'Approve' }).click();
    await card.getByText('1 of 2 approvals').waitFor();
    await signOut(page);
    expectNoConsoleErrors();
  });

  it('the second approver completes the quorum: executed once at the sandbox', async () => {
    const card = await approveAs('bob');
    await card.getByRole('button', { name: 'Approve' }).click();
    const row = page.locator(`tr[data-approval-id="${approvalId}"]`);
    await row.getByTestId('history-state').filter({ hasText: 'executed' }).waitFor();
    expect(await page.locator(`article[data-approval-id="${approvalId}"]`).count()).toBe(0);
    const answer = await balances(key);
    const usdt = (answer.body.balances as { asset: string; free: string }[]).find(
      (b) => b.asset === 'USDT',
    );
    expect(usdt?.free).toBe('99400');
    await signOut(page);
    expectNoConsoleErrors();
  });
});

describe('policies, alerts and traffic', () => {
  beforeAll(async () => {
    await signIn(page, server.adminUrl, server.token);
  });

  it('marks a compile error at its line and column, and simulates a decision', async () => {
    await openPage(page, 'Policies');
    await page.locator('tr[data-policy-id="large-withdrawals"]').waitFor();
    await page.getByRole('button', { name: 'New policy' }).click();
    await page.locator('#policy-id').fill('broken');
    await page.locator('#policy-condition').fill('request.ip == "10.0.0.1" &&\n  params.amount >');
    await page.getByRole('button', { name: 'Save' }).click();
    const marked = page.getByTestId('policy-problems');
    await marked.waitFor();
    expect(await marked.textContent()).toMatch(/^\s+\^ [a-z_]+: /m);
    // The API refused it (400): the browser logs the failed fetch, nothing else may appear.
    expect(browser.takeErrors().filter((e) => !e.includes('status of 400'))).toEqual([]);
    await screenshot(page, 'policies');
    await page.getByRole('button', { name: 'Close' }).click();

    await page.locator('#sim-action').fill('withdrawal.create');
    await page.getByRole('button', { name: 'Simulate' }).click();
    await page.getByTestId('simulation').waitFor();
    expectNoConsoleErrors();
  });

  it('acknowledges and resolves an alert', async () => {
    // A key's first allowed withdrawal raises first_sensitive_action (default step: alert).
    const accountId = await cliCreateAccount(server.dataDir, 'alerting');
    const created = await cliCreateKey(server.dataDir, { accountId, scopes: 'read,withdraw' });
    const key = { id: created.id, secret: created.secret as string };
    const withdrawal = await send(
      signed(
        sandboxUrl,
        'POST',
        '/api/v1/withdrawals',
        { asset: 'USDT', amount: '1', address: 'addr-console-0002' },
        key,
      ),
    );
    expect(withdrawal.status).toBe(201);
    // The risk engine runs off the request path: wait (bounded) until the alert is stored.
    const deadline = Date.now() + 60_000;
    let alertId: string | undefined;
    while (alertId === undefined && Date.now() < deadline) {
      const listed = await adminRequest(server, 'GET', `/v1/alerts?keyId=${key.id}`);
      alertId = (listed.body.alerts as { id: string }[] | undefined)?.[0]?.id;
      if (alertId === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    expect(alertId).toBeDefined();

    await openPage(page, 'Alerts');
    const row = page.locator(`tr[data-alert-id="${String(alertId)}"]`);
    await row.waitFor();
    await screenshot(page, 'alerts');
    await row.getByRole('button', { name: 'Acknowledge' }).click();
    await row.waitFor({ state: 'detached' }); // no longer open
    await page.locator('#alert-state').selectOption('acknowledged');
    await row.getByRole('button', { name: 'Resolve' }).click();
    await row.waitFor({ state: 'detached' });
    await page.locator('#alert-state').selectOption('resolved');
    await row.waitFor();
    const stored = await adminRequest(server, 'GET', `/v1/alerts?keyId=${key.id}&state=resolved`);
    expect((stored.body.alerts as { id: string }[]).map((a) => a.id)).toContain(alertId);
    await page.locator('#alert-state').selectOption('open');
    expectNoConsoleErrors();
  });

  it('draws the traffic charts with uPlot', async () => {
    await openPage(page, 'Traffic');
    await page.locator('.uplot canvas').nth(2).waitFor();
    expect(await page.locator('.uplot').count()).toBe(3);
    await screenshot(page, 'traffic');
    expectNoConsoleErrors();
  });

  it('switches to production: the whole page is marked as production', async () => {
    await page.getByRole('radio', { name: 'Production', exact: true }).check();
    await page.locator('.shell-production').waitFor();
    await openPage(page, 'Accounts & keys');
    await page.getByRole('button', { name: 'Create production key' }).waitFor();
    await screenshot(page, 'keys-production');
    await page.getByRole('radio', { name: 'Sandbox', exact: true }).check();
    await page.locator('.shell-sandbox').waitFor();
    expectNoConsoleErrors();
  });

  it('stays readable on a narrow window: no horizontal scrolling of the page', async () => {
    // The longest name an account may have, in wide glyphs: it shows in the account list and
    // in the create-key form's account select, whose natural width is its longest option.
    await cliCreateAccount(server.dataDir, 'W'.repeat(128));
    await page.setViewportSize({ width: 420, height: 800 });
    await openPage(page, 'Policies');
    await openPage(page, 'Accounts & keys');
    await page.locator('.accounts').getByText('W'.repeat(128)).waitFor();
    await page.locator('tr[data-key-id]').first().waitFor();
    const overflow = await page.evaluate<number>(
      'document.documentElement.scrollWidth - document.documentElement.clientWidth',
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(page, 'keys-narrow');
    await page.evaluate(`(() => {
      window.__widestChartOverflow = -Infinity;
      const measure = (node) => {
        const chart = node instanceof Element ? node.closest('.uplot') : null;
        if (chart === null || chart.parentElement === null) return;
        const over = chart.getBoundingClientRect().width - chart.parentElement.clientWidth;
        window.__widestChartOverflow = Math.max(window.__widestChartOverflow, over);
      };
      // Every size a chart is ever given (uPlot sizes its root and canvas after inserting them).
      new MutationObserver((records) => {
        for (const record of records) {
          measure(record.target);
          for (const node of record.addedNodes) measure(node);
        }
      }).observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ['style', 'width'] });
    })()`);
    for (const title of ['Approvals', 'Policies', 'Audit log', 'Alerts', 'Traffic']) {
      await openPage(page, title);
      await page.waitForLoadState('networkidle');
      if (title === 'Traffic') {
        // Each chart is drawn at its box's width from its first paint: the width of every chart
        // as it is inserted, before any resize could correct it (a fixed first width made the
        // page scroll on a narrow window until a ResizeObserver redrew it; seen once in CI).
        await page.locator('.uplot canvas').nth(2).waitFor();
        expect(await page.evaluate<number>('window.__widestChartOverflow')).toBeLessThanOrEqual(0);
      }
      const pageOverflow = await page.evaluate<number>(
        'document.documentElement.scrollWidth - document.documentElement.clientWidth',
      );
      expect({ title, overflow: pageOverflow }).toEqual({ title, overflow: 0 });
    }
    await page.setViewportSize({ width: 1280, height: 800 });
    expectNoConsoleErrors();
  });
});

describe('the audit log', () => {
  it('verifies the chain, then flags an entry altered in the database', async () => {
    await openPage(page, 'Audit log');
    const status = page.getByTestId('chain-status');
    await status.waitFor();
    expect(await status.getAttribute('data-ok')).toBe('true');
    expectNoConsoleErrors();

    // Tamper with one row behind the server's back, as an attacker with the file would.
    const db = new Database(join(server.dataDir, 'portcullis.db'));
    try {
      db.pragma('busy_timeout = 10000');
      const changed = db.prepare("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3").run();
      expect(changed.changes).toBe(1);
    } finally {
      db.close();
    }

    await page.getByRole('button', { name: 'Verify again' }).click();
    await page.locator('[data-testid="chain-status"][data-ok="false"]').waitFor();
    expect(await page.getByTestId('first-bad-seq').textContent()).toBe('#3');
    expect(await status.textContent()).toContain('HASH_MISMATCH');
    await page.locator('tr[data-seq="3"][data-bad="true"]').first().waitFor();
    await screenshot(page, 'audit-tampered');
    expectNoConsoleErrors();
  });
});

describe('more accounts than one page', () => {
  it('shows the first 200 accounts and loads the rest on request', async () => {
    const before = await adminRequest(server, 'GET', '/v1/accounts?limit=1000');
    const existing = (before.body.accounts as unknown[]).length;
    const total = Math.max(existing, 200) + 5;
    for (let i = existing; i < total; i++) {
      const created = await adminRequest(server, 'POST', '/v1/accounts', {
        name: `bulk desk ${i}`,
      });
      expect(created.status).toBe(201);
    }
    await openPage(page, 'Accounts & keys');
    const more = page.getByRole('button', { name: 'Show more accounts' });
    await more.waitFor();
    expect(await page.locator('.accounts li').count()).toBe(200);
    await more.click();
    await page
      .locator('.accounts')
      .getByText(`bulk desk ${total - 1}`, { exact: true })
      .waitFor();
    await more.waitFor({ state: 'detached' });
    expect(await page.locator('.accounts li').count()).toBe(total);
    expectNoConsoleErrors();
  });
});
