import { PortcullisError } from '../core/errors.js';
import { errorCodeOf, errorFromResponse, PortcullisApiError } from './portcullis-api-error.js';
import { createRateLimitPacer } from './rate-limit-pacer.js';
import {
  isIdempotentRequest,
  parseRetryAfterMs,
  planRetry,
  type AttemptOutcome,
} from './retry-policy.js';
import { sendAttempt, transportError, type Answer, type Attempt } from './send-attempt.js';
import { createSandboxApi, type SandboxApi } from './sandbox-api.js';
import { newNonce, resolveRequestUrl, signRequest, toSigningKey } from './sign-request.js';
import type { ClientOptions, ClientResponse, FetchLike, RequestOptions } from './types.js';

/** A Portcullis data-plane client: signs, syncs time, retries safely and fails over. */
export interface PortcullisClient extends SandboxApi {
  /** One signed call; resolves for status < 400 and throws PortcullisApiError otherwise. */
  request<T = unknown>(
    method: string,
    path: string,
    options?: RequestOptions,
  ): Promise<ClientResponse<T>>;
  get<T = unknown>(
    path: string,
    options?: Omit<RequestOptions, 'body'>,
  ): Promise<ClientResponse<T>>;
  post<T = unknown>(
    path: string,
    body?: unknown,
    options?: Omit<RequestOptions, 'body'>,
  ): Promise<ClientResponse<T>>;
  delete<T = unknown>(
    path: string,
    options?: Omit<RequestOptions, 'body'>,
  ): Promise<ClientResponse<T>>;
  /** Learns the gateway's clock offset from `GET /api/v1/time`; returns it (server − local, ms). */
  syncTime(): Promise<number>;
  /** The clock offset in use (server − local, ms). */
  timeOffsetMs(): number;
  /** The base URL the next request starts with: the last one that answered. */
  currentBaseUrl(): string;
}

const DEFAULTS = {
  timeoutMs: 10_000,
  maxRetries: 3,
  retryBaseDelayMs: 200,
  maxRetryDelayMs: 30_000,
};

/** Creates a client for one key and one environment's data-plane URLs. */
export function createClient(options: ClientOptions): PortcullisClient {
  const key = toSigningKey(options);
  if (options.baseUrls.length === 0) {
    throw new PortcullisError('VALIDATION_FAILED', 'baseUrls needs at least one URL.');
  }
  for (const url of options.baseUrls) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(url);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
      throw new PortcullisError('VALIDATION_FAILED', 'Each base URL must be an http(s) URL.');
    }
  }
  const baseUrls = [...options.baseUrls];
  const fetchImpl: FetchLike = options.fetch ?? ((url, init) => fetch(url, init));
  const clock = options.clock ?? { now: () => Date.now() };
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const pacer = options.pacer ?? createRateLimitPacer();
  const timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
  const maxRetries = options.maxRetries ?? DEFAULTS.maxRetries;
  const baseDelayMs = options.retryBaseDelayMs ?? DEFAULTS.retryBaseDelayMs;
  const maxDelayMs = options.maxRetryDelayMs ?? DEFAULTS.maxRetryDelayMs;

  let offsetMs = options.timeOffsetMs ?? 0;
  let initialSync: Promise<unknown> | undefined =
    options.timeOffsetMs === undefined ? undefined : Promise.resolve();
  let preferred = 0;

  /** The request loop: pace, sign (fresh nonce and time per attempt), send, plan the next step. */
  async function send(
    method: string,
    path: string,
    requestOptions: RequestOptions,
    signed: boolean,
  ): Promise<Answer> {
    const verb = method.toUpperCase();
    const extraHeaders = requestOptions.headers ?? {};
    const body =
      requestOptions.body === undefined
        ? undefined
        : Buffer.from(JSON.stringify(requestOptions.body), 'utf8');
    const idempotent = isIdempotentRequest(verb, requestOptions.body, extraHeaders);
    const tried = new Set<number>();
    let index = preferred;
    let retriesMade = 0;
    let resynced = false;
    let delayMs = 0;
    for (;;) {
      const waitMs = Math.min(maxDelayMs, Math.max(delayMs, pacer.delayBeforeNextMs(clock.now())));
      if (waitMs > 0) await sleep(waitMs);
      tried.add(index);
      const url = resolveRequestUrl(baseUrls[index] as string, path, requestOptions.query);
      const headers = baseHeaders(extraHeaders, body !== undefined);
      if (signed) {
        Object.assign(
          headers,
          signRequest(key, {
            method: verb,
            url,
            body,
            headers,
            createdSeconds: Math.floor((clock.now() + offsetMs) / 1000),
            nonce: newNonce(),
          }),
        );
      }
      const result = await sendAttempt(
        { fetch: fetchImpl, clock, timeoutMs },
        { method: verb, url, body, headers },
      );
      if (result.kind === 'response') {
        const { status, headers: answerHeaders, receivedAtMs } = result.answer;
        pacer.observe({
          status,
          headers: answerHeaders,
          nowMs: receivedAtMs,
          serverNowMs: receivedAtMs + offsetMs,
        });
        if (![502, 503, 504].includes(status)) preferred = index;
      }
      const next = (index + 1) % baseUrls.length;
      const plan = planRetry(toOutcome(result), {
        idempotent,
        retriesLeft: maxRetries - retriesMade,
        retriesMade,
        urlCount: baseUrls.length,
        nextUrlUntried: !tried.has(next),
        resynced: resynced || !signed,
        baseDelayMs,
        maxDelayMs,
      });
      if (plan.action === 'done') {
        if (result.kind === 'failure') throw transportError(verb, url.pathname, result);
        if (result.answer.status >= 400) {
          throw errorFromResponse(verb, url.pathname, result.answer);
        }
        return result.answer;
      }
      if (plan.action === 'resync') {
        resynced = true;
        // A failed re-sync leaves the gateway's answer as the one to report.
        const synced = await syncTime().then(
          () => true,
          () => false,
        );
        if (!synced && result.kind === 'response') {
          throw errorFromResponse(verb, url.pathname, result.answer);
        }
        delayMs = 0;
        continue;
      }
      retriesMade++;
      if (plan.moveToNextUrl) index = next;
      delayMs = plan.delayMs;
    }
  }

  function toOutcome(result: Attempt): AttemptOutcome {
    if (result.kind === 'failure') {
      return { kind: 'failure', notSent: result.notSent, timedOut: result.timedOut };
    }
    const { answer } = result;
    return {
      kind: 'response',
      status: answer.status,
      code: answer.status >= 400 ? errorCodeOf(answer.body) : undefined,
      retryAfterMs: parseRetryAfterMs(
        answer.headers['retry-after'],
        answer.receivedAtMs + offsetMs,
      ),
    };
  }

  async function syncTime(): Promise<number> {
    const answer = await send('GET', '/api/v1/time', {}, false);
    const serverTime = (answer.body as { serverTime?: unknown } | null)?.serverTime;
    if (typeof serverTime !== 'number' || !Number.isFinite(serverTime)) {
      throw new PortcullisApiError({
        code: 'TIME_SYNC_FAILED',
        status: answer.status,
        requestId: answer.headers['x-request-id'],
        method: 'GET',
        path: '/api/v1/time',
        serverMessage: 'The answer carries no numeric serverTime.',
      });
    }
    // The server read its clock somewhere in the round trip; the midpoint halves the error.
    offsetMs = Math.round(serverTime - (answer.sentAtMs + answer.receivedAtMs) / 2);
    return offsetMs;
  }

  async function request<T>(
    method: string,
    path: string,
    requestOptions: RequestOptions = {},
  ): Promise<ClientResponse<T>> {
    // Learn the offset once before the first signed request; a venue whose route table lacks
    // /api/v1/time still works with the local clock (and re-syncs on a window denial).
    initialSync ??= syncTime().catch(() => undefined);
    await initialSync;
    const answer = await send(method, path, requestOptions, true);
    return {
      status: answer.status,
      headers: answer.headers,
      body: answer.body as T,
      requestId: answer.headers['x-request-id'],
    };
  }

  const client: PortcullisClient = {
    request,
    get: (path, opts = {}) => request('GET', path, opts),
    post: (path, body, opts = {}) => request('POST', path, { ...opts, body }),
    delete: (path, opts = {}) => request('DELETE', path, opts),
    syncTime,
    timeOffsetMs: () => offsetMs,
    currentBaseUrl: () => baseUrls[preferred] as string,
    ...createSandboxApi((method, path, opts) => request(method, path, opts)),
  };
  return client;
}

const SIGNATURE_FIELDS = new Set(['signature', 'signature-input', 'content-digest']);

/** Accept, the caller's headers, and a JSON content type for a body unless the caller set one. */
function baseHeaders(
  extra: Readonly<Record<string, string>>,
  hasBody: boolean,
): Record<string, string> {
  const headers: Record<string, string> = { accept: 'application/json' };
  for (const [name, value] of Object.entries(extra)) {
    // The signature fields are the client's to write; a caller's copy would be sent twice.
    if (!SIGNATURE_FIELDS.has(name.toLowerCase())) headers[name] = value;
  }
  if (hasBody && !Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) {
    headers['content-type'] = 'application/json';
  }
  return headers;
}
