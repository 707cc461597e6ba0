/**
 * Shared set-up for the dialect e2e tests: one real `portcullis start` process per test file,
 * keys made by the real CLI, ccxt instances pointed at the gateway with only `urls.api`
 * overridden, and a raw HTTP client that sends exact bytes (fetch would re-encode the target).
 */
import ccxt from 'ccxt';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import {
  cliCreateAccount,
  cliCreateKey,
  cliRevokeKey,
  type CliKey,
} from '../../helpers/cli-keys.js';
import { adminRequest, startServer, type ServerHandle } from '../../helpers/server-process.js';

export type Binance = InstanceType<typeof ccxt.binance>;
export type Bybit = InstanceType<typeof ccxt.bybit>;
export type Okx = InstanceType<typeof ccxt.okx>;

/** The passphrase every OKX-capable test key is created with. */
export const PASSPHRASE = 'e2e-Passphrase-1';

/** Keys one gateway needs for every dialect test: one key works in every dialect. */
export interface DialectKeys {
  /** read + trade, with a passphrase. */
  readonly trader: CliKey;
  /** read only. */
  readonly reader: CliKey;
  /** read + trade, allowlisted for 10.0.0.0/8 only (the tests call from 127.0.0.1). */
  readonly elsewhere: CliKey;
  /** read + trade, created with a 2 s lifetime. */
  readonly shortLived: CliKey;
  /** read + trade, revoked right after creation. */
  readonly revoked: CliKey;
  /** A production key (read + trade), for the environment-mismatch rule. */
  readonly production: CliKey;
}

export interface DialectGateway {
  readonly server: ServerHandle;
  readonly sandboxUrl: string;
  readonly productionUrl: string;
  readonly keys: DialectKeys;
}

/** Starts the gateway and creates the keys (CLI calls in parallel; the short-lived key first). */
export async function startDialectGateway(
  env: Readonly<Record<string, string>> = {},
): Promise<DialectGateway> {
  const server = await startServer({ env });
  try {
    const dir = server.dataDir;
    const accountId = await cliCreateAccount(dir, 'dialects');
    const withPassphrase = ['--passphrase', PASSPHRASE];
    const [shortLived, trader, reader, elsewhere, toRevoke, production] = await Promise.all([
      cliCreateKey(dir, { accountId, extra: [...withPassphrase, '--expires-in', '2s'] }),
      cliCreateKey(dir, { accountId, extra: withPassphrase }),
      cliCreateKey(dir, { accountId, scopes: 'read', extra: withPassphrase }),
      cliCreateKey(dir, { accountId, extra: [...withPassphrase, '--ip', '10.0.0.0/8'] }),
      cliCreateKey(dir, { accountId, extra: withPassphrase }),
      cliCreateKey(dir, { accountId, env: 'production', extra: withPassphrase }),
    ]);
    const revoked: CliKey = {
      ...(await cliRevokeKey(dir, toRevoke.id)),
      secret: secretOf(toRevoke),
    };
    const planes = server.info.dataPlanes;
    return {
      server,
      sandboxUrl: planeUrl(planes, 'sandbox'),
      productionUrl: planeUrl(planes, 'production'),
      keys: { trader, reader, elsewhere, shortLived, revoked, production },
    };
  } catch (error) {
    await server.cleanup();
    throw error;
  }
}

function planeUrl(planes: Record<string, { url: string }>, name: string): string {
  const plane = planes[name];
  if (plane === undefined) throw new Error(`runtime.json names no ${name} data plane`);
  return plane.url;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls the admin API (bounded) until the key's state is `expired`. */
export async function waitUntilExpired(server: ServerHandle, keyId: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { body } = await adminRequest(server, 'GET', `/v1/keys/${keyId}`);
    if ((body.key as { state?: string } | undefined)?.state === 'expired') return;
    if (Date.now() > deadline) throw new Error(`key ${keyId} did not expire in time`);
    await pause(100);
  }
}

function secretOf(key: CliKey): string {
  if (key.secret === undefined) throw new Error(`the CLI printed no secret for ${key.id}`);
  return key.secret;
}

export interface ClientOptions {
  /** Overrides the key's secret (the wrong-secret tests). */
  readonly secret?: string;
  readonly passphrase?: string;
}

/**
 * ccxt binance pointed at the gateway. Only `urls.api` changes; `adjustForTimeDifference` stays
 * at ccxt's default (false) and `recvWindow` at ccxt's default (10000).
 */
export function binanceClient(baseUrl: string, key: CliKey, options: ClientOptions = {}): Binance {
  return new ccxt.binance({
    apiKey: key.id,
    secret: options.secret ?? secretOf(key),
    urls: { api: { public: `${baseUrl}/api/v3`, private: `${baseUrl}/api/v3` } },
  });
}

/** ccxt bybit pointed at the gateway (v5 signing is chosen from the `/v5/` path). */
export function bybitClient(baseUrl: string, key: CliKey, options: ClientOptions = {}): Bybit {
  const api = { public: baseUrl, private: baseUrl, spot: baseUrl, futures: baseUrl, v2: baseUrl };
  return new ccxt.bybit({ apiKey: key.id, secret: options.secret ?? secretOf(key), urls: { api } });
}

/** ccxt okx pointed at the gateway; the passphrase is ccxt's `password`. */
export function okxClient(baseUrl: string, key: CliKey, options: ClientOptions = {}): Okx {
  return new ccxt.okx({
    apiKey: key.id,
    secret: options.secret ?? secretOf(key),
    password: options.passphrase ?? PASSPHRASE,
    urls: { api: { rest: baseUrl } },
  });
}

/** What a raw request got back; `json` is undefined when the body is not JSON. */
export interface RawResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  readonly json: Record<string, unknown> | undefined;
}

export interface RawRequest {
  readonly method: string;
  /** Path and query exactly as they go on the request line. */
  readonly target: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** Sends exactly these bytes (no re-encoding of the target or body) and reads the answer. */
export function sendRaw(baseUrl: string, raw: RawRequest): Promise<RawResponse> {
  const url = new URL(baseUrl);
  const body = raw.body ?? '';
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: url.hostname,
        port: url.port,
        method: raw.method,
        path: raw.target,
        headers: {
          ...(body.length > 0 ? { 'content-length': String(Buffer.byteLength(body)) } : {}),
          ...raw.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> | undefined;
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Expects a promise to reject and returns what it rejected with. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail, but it succeeded');
}
