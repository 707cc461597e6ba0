/**
 * `portcullis sign`: in-process for the output formats and usage rules (fixed clock), and as a
 * real process whose headers a plain fetch (and curl, when installed) sends through a real
 * gateway.
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSign } from '../../src/cli/commands/sign.js';
import { parseNative, verifyNative } from '../../src/core/signing/native/index.js';
import type { VerifierKey } from '../../src/core/signing/types.js';
import { ed25519Pair } from '../client/fake-fetch.js';
import { cliCreateAccount, cliCreateKey, type CliKey } from '../helpers/cli-keys.js';
import { runCli, startServer, type ServerHandle } from '../helpers/server-process.js';
import { createTempDir } from '../helpers/temp-dir.js';

const KEY_ID = 'pk_test_signcli01';
const SECRET = 'sk_test_cli_secret_do_not_log_42';
const NOW_MS = 1_767_225_600_000;
const BODY = '{"symbol":"BTCUSDT","side":"buy","type":"market","quantity":"0.01"}';
const URL_TEXT = 'http://127.0.0.1:8090/api/v1/orders?test=1';

function sign(args: readonly string[], env: Record<string, string> = {}) {
  let out = '';
  let err = '';
  const code = runSign(
    args,
    env,
    { out: (t) => (out += t), err: (t) => (err += t) },
    { now: () => NOW_MS },
  );
  return { code, out, err };
}

/** Parses `Name: value` lines. */
function headerLines(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of text.trim().split('\n')) {
    const colon = line.indexOf(': ');
    headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 2);
  }
  return headers;
}

/** Whether the gateway's verifier accepts the headers for this request. */
function verifies(
  headers: Record<string, string>,
  method: string,
  url: string,
  body: string,
  key: VerifierKey,
) {
  const target = new URL(url);
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const request = {
    method,
    path: target.pathname,
    rawQuery: target.search === '' ? null : target.search.slice(1),
    headers: lower,
    body: Buffer.from(body),
  };
  const parsed = parseNative(request);
  return parsed.ok && verifyNative(parsed.credential, request, key) >= 0;
}

const hmacVerifier: VerifierKey = { scheme: 'hmac', secrets: [Buffer.from(SECRET)] };
const hmacArgs = ['--key-id', KEY_ID, '--method', 'post', '--url', URL_TEXT, '--body', BODY];

describe('portcullis sign (in process)', () => {
  it('prints Name: value lines that the gateway verifier accepts', () => {
    const { code, out } = sign(hmacArgs, { PORTCULLIS_SECRET: SECRET });
    const headers = headerLines(out);
    expect(code).toBe(0);
    expect(Object.keys(headers)).toEqual([
      'content-type',
      'signature-input',
      'signature',
      'content-digest',
    ]);
    expect(headers['signature-input']).toContain(`created=${NOW_MS / 1000}`);
    expect(verifies(headers, 'POST', URL_TEXT, BODY, hmacVerifier)).toBe(true);
  });

  it('prints one JSON document with --json', () => {
    const { out } = sign([...hmacArgs, '--json'], { PORTCULLIS_SECRET: SECRET });
    const json = JSON.parse(out) as {
      method: string;
      url: string;
      headers: Record<string, string>;
    };
    expect([json.method, json.url]).toEqual(['POST', URL_TEXT]);
    expect(verifies(json.headers, 'POST', URL_TEXT, BODY, hmacVerifier)).toBe(true);
  });

  it('prints a single-quoted curl command line with --curl', () => {
    const { out } = sign(
      [
        '--key-id',
        KEY_ID,
        '--method',
        'POST',
        '--url',
        URL_TEXT,
        '--body',
        `{"a":"it's"}`,
        '--curl',
      ],
      { PORTCULLIS_SECRET: SECRET },
    );
    expect(out).toMatch(
      /^curl -sS -X POST 'http:\/\/127\.0\.0\.1:8090\/api\/v1\/orders\?test=1' -H /,
    );
    expect(out).toContain(`--data-raw '{"a":"it'\\''s"}'`);
  });

  it('reads the secret from --secret-file, ignoring one trailing newline', () => {
    const dir = createTempDir();
    try {
      const file = join(dir.path, 'secret');
      writeFileSync(file, `${SECRET}\n`);
      const { out } = sign([...hmacArgs, '--secret-file', file]);
      expect(verifies(headerLines(out), 'POST', URL_TEXT, BODY, hmacVerifier)).toBe(true);
    } finally {
      dir.remove();
    }
  });

  it('signs with an Ed25519 private key file', () => {
    const dir = createTempDir();
    try {
      const { privateKey, verifier } = ed25519Pair();
      const file = join(dir.path, 'key.pem');
      writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }));
      const { out } = sign(['--key-id', KEY_ID, '--url', URL_TEXT, '--private-key', file]);
      const headers = headerLines(out);
      expect(headers['signature-input']).toContain('alg="ed25519"');
      expect(verifies(headers, 'GET', URL_TEXT, '', verifier)).toBe(true);
    } finally {
      dir.remove();
    }
  });

  it.each([
    ['no key at all', ['--key-id', KEY_ID, '--url', URL_TEXT]],
    [
      'two key options',
      ['--key-id', KEY_ID, '--url', URL_TEXT, '--secret', 'a', '--secret-file', 'b'],
    ],
    ['no --url', ['--key-id', KEY_ID, '--secret', SECRET]],
    ['no --key-id', ['--url', URL_TEXT, '--secret', SECRET]],
    ['a relative URL', ['--key-id', KEY_ID, '--url', '/api/v1/orders', '--secret', SECRET]],
    ['an unknown option', ['--key-id', KEY_ID, '--url', URL_TEXT, '--secret', SECRET, '--x']],
  ])('exits 2 on a usage mistake: %s', (_name, args) => {
    expect(sign(args).code).toBe(2);
  });

  it('never prints the secret, even when it fails', () => {
    const ok = sign([...hmacArgs, '--secret', SECRET, '--curl']);
    const bad = sign(['--key-id', 'bad key id!', '--url', URL_TEXT, '--secret', SECRET]);
    expect(bad.code).toBe(1);
    expect(`${ok.out}${ok.err}${bad.out}${bad.err}`).not.toContain(SECRET);
  });
});

describe('portcullis sign (real processes)', () => {
  let server: ServerHandle;
  let key: CliKey;
  let ordersUrl: string;

  beforeAll(async () => {
    server = await startServer();
    const accountId = await cliCreateAccount(server.dataDir, 'sign');
    key = await cliCreateKey(server.dataDir, { accountId });
    ordersUrl = `${server.info.dataPlanes.sandbox?.url ?? ''}/api/v1/orders`;
  });

  afterAll(async () => {
    await server?.cleanup();
  });

  it('prints headers that a plain fetch sends through the gateway', async () => {
    const result = await runCli(
      [
        'sign',
        '--key-id',
        key.id,
        '--method',
        'POST',
        '--url',
        ordersUrl,
        '--body',
        BODY,
        '--json',
      ],
      { env: { PORTCULLIS_SECRET: key.secret as string } },
    );
    expect(result.code).toBe(0);
    const { headers } = result.json as { headers: Record<string, string> };
    const response = await fetch(ordersUrl, { method: 'POST', headers, body: BODY });
    expect(response.status).toBe(201);
    expect(await response.json()).toMatchObject({ symbol: 'BTCUSDT', status: 'filled' });
  });

  it.skipIf(!existsSync('/usr/bin/curl'))(
    'prints a curl command that works as printed',
    async () => {
      const result = await runCli(['sign', '--key-id', key.id, '--url', ordersUrl, '--curl'], {
        env: { PORTCULLIS_SECRET: key.secret as string },
      });
      const { stdout } = await promisify(execFile)('/bin/sh', ['-c', result.stdout.trim()]);
      expect(JSON.parse(stdout)).toEqual({ orders: [] });
    },
  );
});
