/**
 * Driving the web console in Debian's chromium through playwright-core: a headless browser with
 * a fresh profile, console errors collected per page, sign-in, and screenshots for docs/console.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from '../../helpers/server-process.js';
import { createTempDir } from '../../helpers/temp-dir.js';

export const CHROMIUM = process.env.PORTCULLIS_CHROMIUM ?? '/usr/bin/chromium';
/** Generous: the machine is small and shared; nothing here waits on a timer for correctness. */
export const UI_TIMEOUT_MS = 30_000;
/**
 * Where screenshots go: docs/console (committed documentation) only when asked with
 * PORTCULLIS_UPDATE_SCREENSHOTS=1; otherwise a scratch directory, so that `npm test` never
 * rewrites tracked files (every run used to leave ten changed PNGs in the working tree).
 */
const SCREENSHOTS =
  process.env.PORTCULLIS_UPDATE_SCREENSHOTS === '1'
    ? join(REPO_ROOT, 'docs', 'console')
    : join(tmpdir(), 'portcullis-console-screenshots');

/** Fails early with a clear message when the console or the browser is missing. */
export function assertConsoleBuilt(): void {
  if (!existsSync(join(REPO_ROOT, 'dist', 'console', 'index.html'))) {
    throw new Error('dist/console is missing: run `npm run build` before the console e2e tests.');
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: .ci/run installs chromium through apt-get.`);
  }
}

export interface ConsoleBrowser {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Console errors and uncaught page errors since the last `takeErrors()`. */
  takeErrors(): string[];
  close(): Promise<void>;
}

export async function openBrowser(): Promise<ConsoleBrowser> {
  assertConsoleBuilt();
  const profile = createTempDir('portcullis-chromium-');
  const context = await chromium.launchPersistentContext(profile.path, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
    viewport: { width: 1280, height: 800 },
    timeout: 60_000,
  });
  context.setDefaultTimeout(UI_TIMEOUT_MS);
  const page = context.pages()[0] ?? (await context.newPage());
  let errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  return {
    context,
    page,
    takeErrors() {
      const taken = errors;
      errors = [];
      return taken;
    },
    async close() {
      await context.close();
      profile.remove();
    },
  };
}

/**
 * Signs in with the keyboard only (the token field has focus, Enter submits), from a clean
 * tab: whoever was signed in before is forgotten first.
 */
export async function signIn(page: Page, adminUrl: string, token: string): Promise<void> {
  await page.goto(new URL('/console/', adminUrl).href);
  await page.evaluate('sessionStorage.clear()');
  await page.reload();
  const field = page.locator('#token');
  await field.waitFor();
  await page.keyboard.type(token);
  await page.keyboard.press('Enter');
  await page.getByTestId('who').waitFor();
}

export async function signOut(page: Page): Promise<void> {
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.locator('#token').waitFor();
}

/** Opens a page of the console through its navigation and waits for its heading. */
export async function openPage(page: Page, title: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Pages' }).getByRole('link', { name: title }).click();
  await page.getByRole('heading', { level: 1, name: new RegExp(`^${title}`) }).waitFor();
}

/**
 * Writes <SCREENSHOTS>/<name>.png (docs/console when updating the documentation). A shown secret
 * is masked: even a throwaway test server's secret does not belong in the documentation.
 */
export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({
    path: join(SCREENSHOTS, `${name}.png`),
    fullPage: false,
    mask: [page.getByTestId('secret')],
    maskColor: '#adb5bd',
  });
}
