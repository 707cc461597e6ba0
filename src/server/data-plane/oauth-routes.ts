/**
 * The authorization server's endpoints on a data-plane listener (docs/oauth.md): client
 * credentials token (RFC 6749 §4.4), JWKS, introspection (RFC 7662), revocation (RFC 7009) and
 * single-use connection tickets. Keys authenticate with a signed request that runs through the
 * data plane's own pipeline (same schemes, window, replay guard, IP allowlist, environment,
 * risk and rate limits); a route of its own stands in for the upstream route.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../../core/clock.js';
import type { ApiKey, Environment, Scope } from '../../core/keys/model.js';
import type { ClientIpResolver } from '../../core/net/client-ip.js';
import { narrowScopes, parseScopeParam, formatScopes } from '../../core/oauth/scopes.js';
import { TOKEN_REASON_CATALOG } from '../../core/oauth/token-reasons.js';
import {
  evaluateRequest,
  type Decision,
  type PipelineDeps,
  type PipelineRequest,
} from '../../core/pipeline.js';
import { publicReason, REASON_CATALOG, type ReasonCode } from '../../core/reasons.js';
import type { RouteSpec } from '../../core/routes/route-table.js';
import type { AccessGrant, AccessTokenService } from '../../services/access-tokens.js';
import type { DecisionRecord } from './build-data-plane-app.js';
import { bearerTokenOf, readOAuthParams } from './oauth-params.js';

export interface OAuthRoutesDeps {
  readonly environment: Environment;
  readonly service: AccessTokenService;
  /** The data plane's pipeline; its routes and policies are replaced by the endpoint's route. */
  readonly pipeline: PipelineDeps;
  readonly clientIp: ClientIpResolver;
  readonly clock: Clock;
  /**
   * Told of every authenticated endpoint call once it is answered, like the proxied requests:
   * the traffic log, metrics and anomaly detection see token issuance too.
   */
  readonly onDecision?: (record: DecisionRecord) => void;
}

/** Route actions of the endpoints (what rate limits, risk and the traffic log see). */
export const OAUTH_ACTIONS = {
  token: 'oauth.token',
  ticket: 'oauth.ticket',
  introspect: 'oauth.introspect',
  revoke: 'oauth.revoke',
} as const;

const EMPTY = Buffer.alloc(0);
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

type Authenticated =
  | { readonly ok: true; readonly key: ApiKey }
  | { readonly ok: false; readonly reason: ReasonCode; readonly retryAfterMs?: number };

/** Registers the endpoints on a data-plane app (before it listens). */
export function registerOAuthRoutes(app: FastifyInstance, deps: OAuthRoutesDeps): void {
  const { service, environment } = deps;
  // The pipeline's decision of a call, reported with the status once the answer is sent.
  const evaluated = new WeakMap<
    FastifyRequest,
    { decision: Decision; input: PipelineRequest; startedAt: number; pipelineMs: number }
  >();
  const onDecision = deps.onDecision;
  if (onDecision !== undefined) {
    app.addHook('onResponse', (request, reply, done) => {
      const call = evaluated.get(request);
      if (call !== undefined) {
        evaluated.delete(request);
        onDecision({
          requestId: request.id,
          decision: call.decision,
          clientIp: call.input.clientIp,
          nowMs: call.input.nowMs,
          method: call.input.method,
          status: reply.statusCode,
          pipelineMs: call.pipelineMs,
          totalMs: performance.now() - call.startedAt,
        });
      }
      done();
    });
  }

  function pipelineRequest(request: FastifyRequest): PipelineRequest {
    const raw = request.raw;
    const url = raw.url ?? '/';
    const q = url.indexOf('?');
    return {
      method: raw.method ?? 'POST',
      path: q < 0 ? url : url.slice(0, q),
      rawQuery: q < 0 ? null : url.slice(q + 1),
      headers: raw.headers,
      body: Buffer.isBuffer(request.body) ? request.body : EMPTY,
      clientIp: deps.clientIp(raw.socket.remoteAddress ?? '', raw.headers['x-forwarded-for']),
      nowMs: deps.clock.now(),
    };
  }

  /** The signed request through the pipeline, against a route standing for this endpoint. */
  async function authenticate(
    request: FastifyRequest,
    input: PipelineRequest,
    action: string,
  ): Promise<Authenticated> {
    const startedAt = performance.now();
    const p = deps.pipeline;
    const route: RouteSpec = {
      method: 'POST',
      path: input.path,
      action,
      // The route scope only asks "does the key hold any scope"; scopes are narrowed after.
      scope: await anyScopeOfCaller(p, input),
      weight: 1,
      dialect: 'native',
    };
    const match = { route, params: {} };
    const pipeline: PipelineDeps = {
      environment: p.environment,
      schemes: p.schemes,
      routes: {
        routes: [route],
        match: (method, path) => (method === 'POST' && path === input.path ? match : undefined),
      },
      window: p.window,
      keys: p.keys,
      replay: p.replay,
      dummyKeys: p.dummyKeys,
      ...(p.limits !== undefined ? { limits: p.limits } : {}),
      ...(p.risk !== undefined ? { risk: p.risk } : {}),
    };
    const decision = await evaluateRequest(pipeline, input);
    if (onDecision !== undefined)
      evaluated.set(request, {
        decision,
        input,
        startedAt,
        pipelineMs: performance.now() - startedAt,
      });
    if (decision.outcome === 'allow') return { ok: true, key: decision.key };
    if (decision.outcome === 'public') return { ok: false, reason: 'CREDENTIALS_MISSING' };
    return {
      ok: false,
      reason: decision.reason,
      ...(decision.retryAfterMs !== undefined ? { retryAfterMs: decision.retryAfterMs } : {}),
    };
  }

  function refuseClient(reply: FastifyReply, denied: Extract<Authenticated, { ok: false }>) {
    const reason = publicReason(denied.reason);
    const status = REASON_CATALOG[reason].status;
    const error =
      status === 429 || status === 418 || status === 503
        ? 'temporarily_unavailable'
        : status === 400 || status === 413
          ? 'invalid_request'
          : 'invalid_client';
    if (denied.retryAfterMs !== undefined)
      void reply.header('retry-after', String(Math.ceil(denied.retryAfterMs / 1000)));
    reply.log.info({ reason: denied.reason }, 'oauth client refused');
    return oauthError(reply, status, error, REASON_CATALOG[reason].description, reason);
  }

  app.get('/.well-known/jwks.json', async (_request, reply) =>
    reply.header('cache-control', 'public, max-age=60').send(await service.jwks()),
  );

  app.post('/oauth/token', async (request, reply) => {
    const input = pipelineRequest(request);
    const read = readOAuthParams(input.headers, input.rawQuery, input.body);
    if (!read.ok)
      return oauthError(reply, 400, 'invalid_request', 'Malformed or repeated parameters.');
    const grantType = read.params.get('grant_type');
    if (grantType === undefined)
      return oauthError(reply, 400, 'invalid_request', 'grant_type is required.');
    if (grantType !== 'client_credentials')
      return oauthError(reply, 400, 'unsupported_grant_type', 'Only client_credentials.');
    const requested = parseScopeParam(read.params.get('scope'));
    if (!requested.ok) return oauthError(reply, 400, 'invalid_scope', 'Unknown or repeated scope.');
    const caller = await authenticate(request, input, OAUTH_ACTIONS.token);
    if (!caller.ok) return refuseClient(reply, caller);
    const narrowed = narrowScopes(caller.key.scopes, requested.scopes);
    if (!narrowed.ok)
      return oauthError(reply, 400, 'invalid_scope', 'A scope the key does not hold.');
    const issued = await service.issue(caller.key, { scopes: narrowed.scopes });
    return reply.headers(NO_STORE).send(issued);
  });

  app.post('/oauth/ticket', async (request, reply) => {
    const input = pipelineRequest(request);
    const read = readOAuthParams(input.headers, input.rawQuery, input.body);
    if (!read.ok)
      return oauthError(reply, 400, 'invalid_request', 'Malformed or repeated parameters.');
    const requested = parseScopeParam(read.params.get('scope'));
    if (!requested.ok) return oauthError(reply, 400, 'invalid_scope', 'Unknown or repeated scope.');
    let grant: AccessGrant;
    const bearer = bearerTokenOf(input.headers);
    if (bearer !== undefined) {
      const verdict = await service.verify(bearer, { environment });
      if (!verdict.ok) return invalidToken(reply, verdict.reason);
      const { keyId, accountId, scopes, exp, jti } = verdict;
      grant = { keyId, accountId, environment, scopes, exp, jti };
    } else {
      const caller = await authenticate(request, input, OAUTH_ACTIONS.ticket);
      if (!caller.ok) return refuseClient(reply, caller);
      const key = caller.key;
      grant = {
        keyId: key.id,
        accountId: key.accountId,
        environment,
        scopes: key.scopes,
        exp: Math.floor(input.nowMs / 1000) + service.tokenTtlSeconds,
        jti: `tkt_${randomBytes(12).toString('base64url')}`,
      };
    }
    const narrowed = narrowScopes(grant.scopes, requested.scopes);
    if (!narrowed.ok)
      return oauthError(reply, 400, 'invalid_scope', 'A scope the credential does not hold.');
    let issued;
    try {
      issued = await service.issueTicket(
        { ...grant, scopes: narrowed.scopes },
        { clientIp: input.clientIp },
      );
    } catch (error) {
      reply.log.warn({ err: error instanceof Error ? error.name : 'unknown' }, 'ticket not stored');
      const reason = 'TICKET_UNAVAILABLE';
      const description = TOKEN_REASON_CATALOG[reason].description;
      return oauthError(reply, 503, 'temporarily_unavailable', description, reason);
    }
    return reply.headers(NO_STORE).send({ ...issued, scope: formatScopes(narrowed.scopes) });
  });

  app.post('/oauth/introspect', async (request, reply) => {
    const input = pipelineRequest(request);
    const read = readOAuthParams(input.headers, input.rawQuery, input.body);
    const token = read.ok ? read.params.get('token') : undefined;
    if (token === undefined) return oauthError(reply, 400, 'invalid_request', 'token is required.');
    const caller = await authenticate(request, input, OAUTH_ACTIONS.introspect);
    if (!caller.ok) return refuseClient(reply, caller);
    // RFC 7662 §2.2: a token the caller may not see is simply inactive (no ownership oracle).
    const verdict = await service.verify(token, { environment });
    const inspected = verdict.ok ? await service.inspect(token, { environment }) : undefined;
    if (!verdict.ok || inspected?.ok !== true || verdict.keyId !== caller.key.id)
      return reply.headers(NO_STORE).send({ active: false });
    const claims = inspected.claims;
    return reply.headers(NO_STORE).send({
      active: true,
      scope: formatScopes(verdict.scopes),
      client_id: claims.keyId,
      token_type: 'Bearer',
      exp: claims.exp,
      iat: claims.iat,
      nbf: claims.nbf,
      sub: claims.keyId,
      aud: claims.aud,
      iss: claims.iss,
      jti: claims.jti,
      acct: claims.accountId,
      env: claims.environment,
    });
  });

  app.post('/oauth/revoke', async (request, reply) => {
    const input = pipelineRequest(request);
    const read = readOAuthParams(input.headers, input.rawQuery, input.body);
    const token = read.ok ? read.params.get('token') : undefined;
    if (token === undefined) return oauthError(reply, 400, 'invalid_request', 'token is required.');
    let callerKeyId: string;
    const bearer = bearerTokenOf(input.headers);
    if (bearer !== undefined) {
      const verdict = await service.verify(bearer, { environment });
      if (!verdict.ok) return invalidToken(reply, verdict.reason);
      callerKeyId = verdict.keyId;
    } else {
      const caller = await authenticate(request, input, OAUTH_ACTIONS.revoke);
      if (!caller.ok) return refuseClient(reply, caller);
      callerKeyId = caller.key.id;
    }
    // RFC 7009 §2.2: 200 whether or not there was anything to revoke; only the owning key's
    // tokens are revoked (another key's token is left alone, silently).
    const inspected = await service.inspect(token, { environment });
    if (inspected.ok && inspected.claims.keyId === callerKeyId)
      await service.revoke(inspected.claims);
    return reply.headers(NO_STORE).send({});
  });
}

/** Scope for the stand-in route: `read` when the key has it, else any scope it holds. */
async function anyScopeOfCaller(pipeline: PipelineDeps, input: PipelineRequest): Promise<Scope> {
  const scheme = pipeline.schemes.find((candidate) => candidate.detect(input));
  const parsed = scheme?.parse(input);
  if (parsed === undefined || !parsed.ok) return 'read';
  try {
    const cached = await pipeline.keys.get(parsed.credential.keyId);
    const scopes = cached?.key.scopes ?? [];
    return scopes.includes('read') ? 'read' : (scopes[0] ?? 'read');
  } catch {
    return 'read';
  }
}

/** RFC 6749 §5.2 error answer, with our reason code as an extension member. */
function oauthError(
  reply: FastifyReply,
  status: number,
  error: string,
  description: string,
  reason?: string,
): FastifyReply {
  return reply
    .status(status)
    .headers(NO_STORE)
    .send({ error, error_description: description, ...(reason !== undefined ? { reason } : {}) });
}

/** RFC 6750 §3.1: an unusable bearer token. */
function invalidToken(reply: FastifyReply, reason: string): FastifyReply {
  const description =
    reason in TOKEN_REASON_CATALOG
      ? TOKEN_REASON_CATALOG[reason as keyof typeof TOKEN_REASON_CATALOG].description
      : 'The key behind the token is no longer usable.';
  void reply.header('www-authenticate', 'Bearer error="invalid_token"');
  return oauthError(reply, 401, 'invalid_token', description, reason);
}
