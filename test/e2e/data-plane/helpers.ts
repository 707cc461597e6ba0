/**
 * Helpers for the data-plane e2e suite: natively signed requests sent over real sockets, raw
 * HTTP/1.1 exchanges for what fetch cannot send (oversized header blocks, byte-by-byte clients),
 * configuration files, and tiny upstreams that echo, hang or are closed.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { signNativeRequest } from '../../../src/core/signing/native/index.js';
import type { CliKey } from '../../helpers/cli-keys.js';

export interface Answer {
  readonly status: number;
  readonly text: string;
  readonly body: {
    readonly error?: {
      readonly code: string;
      readonly message?: string;
      readonly requestId: string;
    };
  } & Record<string, unknown>;
}

export interface PreparedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

export interface SignOptions {
  readonly keyId?: string;
  readonly secret?: string;
  readonly createdSeconds?: number;
  /** Bytes sent instead of the signed ones. */
  readonly sendBody?: Buffer;
  /** Exact body bytes to sign and send (instead of JSON.stringify(body)). */
  readonly rawBody?: Buffer;
  readonly headers?: Readonly<Record<string, string>>;
}

export const nonce = (): string => randomBytes(16).toString('base64url');
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** Signs a request natively (HMAC, the key's secret unless overridden) against `base`. */
export function signed(
  base: string,
  method: string,
  target: string,
  body: unknown,
  key: Pick<CliKey, 'id' | 'secret'>,
  options: SignOptions = {},
): PreparedRequest {
  const q = target.indexOf('?');
  const bytes =
    options.rawBody ?? (body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body)));
  const headers: Record<string, string> = {
    ...signNativeRequest({
      method,
      path: q < 0 ? target : target.slice(0, q),
      rawQuery: q < 0 ? null : target.slice(q + 1),
      body: bytes,
      keyId: options.keyId ?? key.id,
      secret: options.secret ?? (key.secret as string),
      createdSeconds: options.createdSeconds ?? nowSeconds(),
      nonce: nonce(),
    }),
  };
  if (bytes.length > 0) headers['content-type'] = 'application/json';
  return {
    method,
    url: `${base}${target}`,
    headers: { ...headers, ...options.headers },
    body: options.sendBody ?? bytes,
  };
}

/** Sends a prepared request with fetch and reads the whole answer. */
export async function send(request: PreparedRequest): Promise<Answer> {
  const response = await fetch(request.url, {
    method: request.method,
    headers: request.headers,
    ...(request.body.length > 0 ? { body: request.body } : {}),
  });
  const text = await response.text();
  let body: Answer['body'] = {};
  try {
    body = JSON.parse(text) as Answer['body'];
  } catch {
    // not JSON: the assertions on `status` and `text` say what went wrong
  }
  return { status: response.status, text, body };
}

/** The answer minus what legitimately differs between two requests (the request id). */
export function comparable(answer: Answer): unknown {
  const error = answer.body.error;
  return {
    status: answer.status,
    body:
      error === undefined ? answer.body : { ...answer.body, error: { ...error, requestId: 'x' } },
  };
}

export const codeOf = (answer: Answer): string | undefined => answer.body.error?.code;

/** Writes a JSON configuration file (YAML is a superset) into `dir`. */
export function writeConfig(dir: string, config: unknown, name = 'portcullis.json'): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

/** Limits off: the suite sends many refused requests from one address on purpose. */
export const NO_LIMITS = { limits: { enabled: false } } as const;

export interface RawExchange {
  /** The raw bytes the server sent before it closed the connection (or the time ran out). */
  readonly response: string;
  /** Whether the server closed the connection. */
  readonly closed: boolean;
  /** First status code of the response, if any. */
  readonly status: number | undefined;
}

/**
 * Writes `chunks` to a fresh TCP connection, `delayMs` apart, and collects whatever comes back
 * until the server closes the connection or `waitMs` passes. Never throws on a reset.
 */
export function rawExchange(
  url: string,
  chunks: readonly (string | Buffer)[],
  options: { delayMs?: number; waitMs?: number } = {},
): Promise<RawExchange> {
  const { hostname, port } = new URL(url);
  return new Promise((resolveExchange) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let response = '';
    let done = false;
    const finish = (closed: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const match = /^HTTP\/1\.1 (\d{3})/.exec(response);
      resolveExchange({ response, closed, status: match ? Number(match[1]) : undefined });
    };
    const timer = setTimeout(() => finish(false), options.waitMs ?? 5000);
    socket.on('data', (chunk: Buffer) => (response += chunk.toString('latin1')));
    socket.on('close', () => finish(true));
    // A reset (the server answered and closed while we were still writing) is followed by
    // 'close'; finishing there keeps whatever was read before it.
    socket.on('error', () => undefined);
    socket.on('connect', () => {
      let index = 0;
      const writeNext = () => {
        // Stop writing once the server has answered: writing on would only provoke a reset that
        // can discard the answer before it is read.
        if (done || socket.destroyed || index >= chunks.length || response.length > 0) return;
        const chunk = chunks[index++] as string | Buffer;
        socket.write(chunk, () => {
          if (options.delayMs === undefined) writeNext();
          else setTimeout(writeNext, options.delayMs);
        });
      };
      writeNext();
    });
  });
}

export interface TestUpstream {
  readonly url: string;
  /** Headers of every request that reached this upstream, in order. */
  readonly seen: { method: string; url: string; headers: IncomingHttpHeaders; body: string }[];
  close(): Promise<void>;
}

/**
 * A tiny upstream: a request carrying `x-test-hang` is never answered; `x-test-answer: <n>`
 * answers n bytes (`a`…) with a Content-Length, `x-test-answer: chunked-<n>` the same without
 * one, and `x-test-answer: cut-<n>` announces 2n bytes, sends n and drops the connection;
 * everything else answers 200 with the request it received (method, url, headers, body) as JSON.
 */
export async function startTestUpstream(): Promise<TestUpstream> {
  const seen: TestUpstream['seen'] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const entry = {
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      seen.push(entry);
      if (request.headers['x-test-hang'] !== undefined) return; // never answers
      const shape = /^(chunked-|cut-)?(\d+)$/.exec(String(request.headers['x-test-answer'] ?? ''));
      if (shape !== null) {
        const bytes = Buffer.alloc(Number(shape[2]), 0x61);
        if (shape[1] === 'chunked-') {
          response.writeHead(200, { 'content-type': 'text/plain' });
          response.write(bytes.subarray(0, bytes.length >> 1));
          response.end(bytes.subarray(bytes.length >> 1));
        } else if (shape[1] === 'cut-') {
          response.writeHead(200, {
            'content-type': 'text/plain',
            'content-length': 2 * bytes.length,
          });
          response.write(bytes, () => response.socket?.destroy());
        } else {
          response.writeHead(200, { 'content-type': 'text/plain', 'content-length': bytes.length });
          response.end(bytes);
        }
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(entry));
    });
  });
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolveClose) => {
        server.closeAllConnections();
        server.close(() => resolveClose());
      }),
  };
}

/** A port nothing listens on: bound once to learn a free number, then closed. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
  return port;
}
