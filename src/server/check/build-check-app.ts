/**
 * The authorization check listener for proxies that already sit in front of the engine
 * (docs/integrations.md):
 *
 * - `/nginx/<environment>` — nginx `auth_request`: the original method, URI and body size come
 *   in `X-Original-Method`, `X-Original-URI` and `X-Original-Content-Length`; no body ever does,
 *   so a request that carries one is refused (BODY_NOT_VISIBLE), never checked without it.
 *   Denials are answered 401/403 (all nginx passes on) with the real answer sealed in
 *   `X-Portcullis-Denial`, which nginx's `error_page` location hands to `/nginx/render`.
 * - `/envoy/<environment>/<original path>` — Envoy `ext_authz` HTTP service with
 *   `path_prefix: /envoy/<environment>`: the original method, path, headers and (with
 *   `with_request_body`) the body; a denial is answered with its own status and body.
 *
 * Allowed requests get 200 and the identity headers for the proxy to pass upstream.
 */
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { PlaneAuthority } from '../../app/data-planes.js';
import type { Clock } from '../../core/clock.js';
import type { ClientIpResolver } from '../../core/net/client-ip.js';
import type { ReasonCode } from '../../core/reasons.js';
import type { Dialect } from '../../core/signing/types.js';
import { newRequestId } from '../../services/ids.js';
import { authorizeRequest, renderCheckDenial, type Authorization } from './authorize-request.js';
import { createDenialSealer, type DenialSealer } from './denial-token.js';
import { lazyChildLogger } from '../lazy-child-logger.js';

export interface CheckAppDeps {
  /** The data planes' authorities by environment name. */
  readonly authorities: ReadonlyMap<string, PlaneAuthority>;
  /** Resolves the client from the proxy's `X-Forwarded-For` (check.trustedProxies). */
  readonly clientIp: ClientIpResolver;
  readonly clock: Clock;
  readonly sealer?: DenialSealer;
}

export interface CheckAppOptions {
  readonly bodyLimitBytes: number;
  readonly logger?: FastifyBaseLogger;
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;
const METHOD_SET: ReadonlySet<string> = new Set(METHODS);
export const DENIAL_HEADER = 'x-portcullis-denial';

/** Guesses the dialect from headers alone, for refusals made before the pipeline runs. */
function dialectOfHeaders(request: FastifyRequest): Dialect {
  const headers = request.headers;
  if (headers['x-mbx-apikey'] !== undefined) return 'binance';
  if (headers['x-bapi-api-key'] !== undefined) return 'bybit';
  if (headers['ok-access-key'] !== undefined) return 'okx';
  return 'native';
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? undefined : value;
}

/** Whether nginx said the original request carries a body (or did not say at all). */
function nginxBodyHidden(request: FastifyRequest): boolean {
  const length = single(request.headers['x-original-content-length']);
  if (length === undefined || !/^\d{1,15}$/.test(length)) return true;
  const encoding = single(request.headers['x-original-transfer-encoding']) ?? '';
  return Number(length) > 0 || encoding !== '';
}

export function buildCheckApp(deps: CheckAppDeps, options: CheckAppOptions): FastifyInstance {
  const sealer = deps.sealer ?? createDenialSealer();
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    childLoggerFactory: lazyChildLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes,
    genReqId: () => newRequestId(),
    requestIdHeader: false,
    return503OnClosing: true,
    routerOptions: { ignoreTrailingSlash: false, ignoreDuplicateSlashes: false },
  });
  // Envoy's body arrives as sent: signatures are verified over exactly these bytes.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  const refuse = (
    request: FastifyRequest,
    reply: FastifyReply,
    authority: PlaneAuthority,
    reason: ReasonCode,
    nginx: boolean,
  ): FastifyReply => {
    const rendered = renderCheckDenial(authority, dialectOfHeaders(request), reason, {
      requestId: request.id,
      nowMs: deps.clock.now(),
    });
    if (!nginx) return reply.status(rendered.status).headers(rendered.headers).send(rendered.body);
    return reply
      .status(rendered.status === 401 ? 401 : 403)
      .headers(rendered.headers)
      .header(DENIAL_HEADER, sealer.seal(rendered))
      .send(rendered.body);
  };

  const answer = (reply: FastifyReply, result: Authorization, nginx: boolean): FastifyReply => {
    if (result.outcome === 'allow') {
      // Nothing is forwarded by us and the engine's answer is never seen: a reservation counts.
      void result.settle('commit');
      return reply.status(200).headers(result.headers).send();
    }
    const { rendered } = result;
    if (!nginx) return reply.status(rendered.status).headers(rendered.headers).send(rendered.body);
    return reply
      .status(rendered.status === 401 ? 401 : 403)
      .headers(rendered.headers)
      .header(DENIAL_HEADER, sealer.seal(rendered))
      .send(rendered.body);
  };

  const authorityOf = (request: FastifyRequest): PlaneAuthority | undefined =>
    deps.authorities.get((request.params as { environment: string }).environment);

  const clientIpOf = (request: FastifyRequest): string | undefined => {
    const forwarded = request.raw.headers['x-forwarded-for'];
    // The peer is always the proxy, never the client: without its word there is no client.
    if (forwarded === undefined) return undefined;
    return deps.clientIp(request.raw.socket.remoteAddress ?? '', forwarded);
  };

  app.route({
    method: [...METHODS],
    url: '/nginx/render',
    handler: (request, reply) => {
      const token = single(request.headers[DENIAL_HEADER]);
      const denial = token === undefined ? undefined : sealer.open(token);
      if (denial === undefined) return reply.status(404).send();
      return reply.status(denial.status).headers(denial.headers).send(denial.body);
    },
  });

  app.route({
    method: [...METHODS],
    url: '/nginx/:environment',
    handler: async (request, reply) => {
      const authority = authorityOf(request);
      if (authority === undefined) return reply.status(404).send();
      const method = single(request.headers['x-original-method']);
      const uri = single(request.headers['x-original-uri']);
      const clientIp = clientIpOf(request);
      if (method === undefined || !METHOD_SET.has(method) || !uri?.startsWith('/') || !clientIp)
        return refuse(request, reply, authority, 'BAD_REQUEST', true);
      if (nginxBodyHidden(request))
        return refuse(request, reply, authority, 'BODY_NOT_VISIBLE', true);
      const q = uri.indexOf('?');
      const result = await authorizeRequest(authority, {
        requestId: request.id,
        method,
        path: q < 0 ? uri : uri.slice(0, q),
        rawQuery: q < 0 ? null : uri.slice(q + 1),
        headers: request.raw.headers,
        body: Buffer.alloc(0),
        clientIp,
        nowMs: deps.clock.now(),
      });
      return answer(reply, result, true);
    },
  });

  const envoyPrefix = /^\/envoy\/[^/?]+/;
  app.route({
    method: [...METHODS],
    url: '/envoy/:environment/*',
    handler: async (request, reply) => {
      const authority = authorityOf(request);
      if (authority === undefined) return reply.status(404).send();
      const url = (request.raw.url ?? '/').replace(envoyPrefix, '');
      const clientIp = clientIpOf(request);
      if (!clientIp) return refuse(request, reply, authority, 'BAD_REQUEST', false);
      // Envoy cut the body at max_request_bytes (allow_partial_message): the signature cannot
      // be checked over bytes that did not arrive.
      if (single(request.headers['x-envoy-auth-partial-body']) === 'true')
        return refuse(request, reply, authority, 'BODY_NOT_VISIBLE', false);
      const q = url.indexOf('?');
      const result = await authorizeRequest(authority, {
        requestId: request.id,
        method: request.raw.method ?? 'GET',
        path: q < 0 ? url : url.slice(0, q),
        rawQuery: q < 0 ? null : url.slice(q + 1),
        headers: request.raw.headers,
        body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0),
        clientIp,
        nowMs: deps.clock.now(),
      });
      return answer(reply, result, false);
    },
  });

  return app;
}
