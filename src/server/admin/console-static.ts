/**
 * Serves the built web console (a Vite single-page app, `npm run build` → dist/console) under
 * `/console/`. Static files only: no token is needed to fetch them, every action the console
 * takes goes through the admin API and its roles. Paths are resolved inside the console
 * directory and anything that would leave it is refused; a path without a file extension is a
 * client-side route and gets index.html.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply } from 'fastify';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

// The console only talks to its own origin; inline styles are set by React and uPlot.
const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

const NOT_BUILT =
  '<!doctype html><meta charset="utf-8"><title>Portcullis console not built</title>' +
  '<p>The web console is not built on this node. Run <code>npm run build</code> ' +
  '(it writes <code>dist/console</code>) and reload this page.</p>\n';

/** `<package root>/dist/console`, found from this module whether it runs from src or dist. */
export function defaultConsoleDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return join(dir, 'dist', 'console');
}

/**
 * The file a request path names inside `root`, or undefined when it would leave `root`
 * (`..`, an absolute path, a NUL byte, a backslash).
 */
export function resolveConsolePath(root: string, requestPath: string): string | undefined {
  if (requestPath.includes('\0') || requestPath.includes('\\')) return undefined;
  const segments = requestPath.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..')) return undefined;
  const base = resolve(root);
  const file = resolve(base, ...segments);
  return file === base || file.startsWith(base + sep) ? file : undefined;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function sendFile(reply: FastifyReply, file: string, immutable: boolean) {
  const type = CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
  return reply
    .headers(SECURITY_HEADERS)
    .header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
    .type(type)
    .send(await readFile(file));
}

/** `GET /console` (redirect), `GET /console/` and `GET /console/*` — public static files. */
export function registerConsoleRoutes(app: FastifyInstance, options: { dir: string }): void {
  const root = resolve(options.dir);
  const index = join(root, 'index.html');
  app.get('/console', (_request, reply) => reply.redirect('/console/'));
  app.get<{ Params: { '*': string } }>('/console/*', async (request, reply) => {
    if (!(await isFile(index))) {
      return reply.status(404).headers(SECURITY_HEADERS).type('text/html').send(NOT_BUILT);
    }
    const wanted = request.params['*'];
    const file = resolveConsolePath(root, wanted);
    if (file === undefined) {
      return reply.status(404).type('text/plain; charset=utf-8').send('Not found.\n');
    }
    if (file !== root && (await isFile(file))) {
      // Vite names built assets by content hash: they never change under one name.
      return sendFile(reply, file, wanted.startsWith('assets/'));
    }
    // A path with an extension is a missing file; anything else is a route of the app.
    if (extname(file) !== '') {
      return reply.status(404).type('text/plain; charset=utf-8').send('Not found.\n');
    }
    return sendFile(reply, index, false);
  });
}
