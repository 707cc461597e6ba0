/**
 * The console's static handler on a bare Fastify app over a temp directory: content types,
 * cache headers, the index.html fallback for client routes, path traversal refused in every
 * spelling, and a clear page (not a 500) when the console is not built.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  registerConsoleRoutes,
  resolveConsolePath,
} from '../../../src/server/admin/console-static.js';
import { createTempDir } from '../../helpers/temp-dir.js';

const temp = createTempDir('portcullis-console-');
const built = join(temp.path, 'console');
let app: FastifyInstance;
let missing: FastifyInstance;

beforeAll(async () => {
  mkdirSync(join(built, 'assets'), { recursive: true });
  writeFileSync(join(built, 'index.html'), '<!doctype html><title>console</title>');
  writeFileSync(join(built, 'assets', 'main-abc123.js'), 'console.log(1);');
  writeFileSync(join(built, 'assets', 'main-abc123.css'), 'body{}');
  // A file next to the console directory that traversal must never reach.
  writeFileSync(join(temp.path, 'secret.txt'), 'TOP SECRET');
  app = Fastify();
  registerConsoleRoutes(app, { dir: built });
  missing = Fastify();
  registerConsoleRoutes(missing, { dir: join(temp.path, 'nothing-here') });
  await Promise.all([app.ready(), missing.ready()]);
});
afterAll(async () => {
  await Promise.all([app.close(), missing.close()]);
  temp.remove();
});

describe('serving the built console', () => {
  it('redirects /console to /console/', async () => {
    const res = await app.inject({ method: 'GET', url: '/console' });
    expect(res.statusCode).toBe(302);
    expect(res.headers.location).toBe('/console/');
  });

  it('serves index.html at /console/ with no-cache and a strict CSP', async () => {
    const res = await app.inject({ method: 'GET', url: '/console/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.body).toContain('<title>console</title>');
  });

  it.each([
    ['assets/main-abc123.js', 'text/javascript; charset=utf-8', 'console.log(1);'],
    ['assets/main-abc123.css', 'text/css; charset=utf-8', 'body{}'],
  ])('serves %s as %s, cached as immutable', async (path, type, body) => {
    const res = await app.inject({ method: 'GET', url: `/console/${path}` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe(type);
    expect(res.headers['cache-control']).toContain('immutable');
    expect(res.body).toBe(body);
  });

  it('answers index.html for a client-side route', async () => {
    const res = await app.inject({ method: 'GET', url: '/console/keys/pk_test_1' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('<title>console</title>');
  });

  it('answers 404 for a missing file with an extension', async () => {
    const res = await app.inject({ method: 'GET', url: '/console/assets/gone.js' });
    expect(res.statusCode).toBe(404);
  });

  it.each([
    '/console/../secret.txt',
    '/console/..%2fsecret.txt',
    '/console/%2e%2e/secret.txt',
    '/console/assets/..%2f..%2fsecret.txt',
    '/console/..%5csecret.txt',
    '/console/%00index.html',
  ])('never leaves the console directory: %s', async (url) => {
    const res = await app.inject({ method: 'GET', url });
    expect(res.body).not.toContain('TOP SECRET');
    expect(res.statusCode).not.toBe(500);
  });

  it('refuses traversal in resolveConsolePath itself', () => {
    expect(resolveConsolePath(built, '../secret.txt')).toBeUndefined();
    expect(resolveConsolePath(built, 'assets/../../secret.txt')).toBeUndefined();
    expect(resolveConsolePath(built, '..\\secret.txt')).toBeUndefined();
    expect(resolveConsolePath(built, 'a\0b')).toBeUndefined();
    expect(resolveConsolePath(built, 'assets/main-abc123.js')).toBe(
      join(built, 'assets', 'main-abc123.js'),
    );
  });
});

describe('without a console build', () => {
  it('answers a clear 404 page saying how to build it, not a 500', async () => {
    const res = await missing.inject({ method: 'GET', url: '/console/' });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.body).toContain('npm run build');
  });
});
