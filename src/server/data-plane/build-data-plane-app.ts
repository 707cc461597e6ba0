import type { Readable } from 'node:stream';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Clock } from '../../core/clock.js';
import { answerPlaced } from '../../core/dialects/answer-outcome.js';
import { renderApprovalHold } from '../../core/dialects/render-approval-hold.js';
import { renderDenial, type DenialReason } from '../../core/dialects/render-denial.js';
import type { ClientIpResolver } from '../../core/net/client-ip.js';
import { evaluateRequest, type Decision, type PipelineDeps } from '../../core/pipeline.js';
import type { LimitResult } from '../../core/limits/types.js';
import type { ReasonCode } from '../../core/reasons.js';
import type { Dialect } from '../../core/signing/types.js';
import { isRetrySafe } from '../../core/upstream/retry-safety.js';
import { PortcullisError } from '../../core/errors.js';
import { newRequestId } from '../../services/ids.js';
import { lazyChildLogger } from '../lazy-child-logger.js';
import type { DataPlaneGovernance, ReserveOutcome } from './data-plane-governance.js';
import { clientHeaders, upstreamHeaders } from './forward-headers.js';
import { outcomeUnknown, type Upstream } from './upstream.js';

/**
 * What happened to one data-plane request, reported after the answer is sent; feeds last-used
 * tracking, metrics, the traffic log and anomaly detection (none of them inline here).
 */
export interface DecisionRecord {
  readonly requestId: string;
  readonly decision: Decision;
  readonly clientIp: string;
  readonly nowMs: number;
  readonly method: string;
  /** The HTTP status answered (a denial's, the upstream's, or 502/504 when it failed). */
  readonly status: number;
  /** Milliseconds (fractional) in the decision pipeline. */
  readonly pipelineMs: number;
  /** Milliseconds waiting for the upstream; absent when the request was not forwarded. */
  readonly upstreamMs?: number;
  /** Milliseconds from the handler's start to the reply. */
  readonly totalMs: number;
}

export interface DataPlaneDeps {
  readonly pipeline: PipelineDeps;
  readonly clientIp: ClientIpResolver;
  readonly upstream: Upstream;
  readonly clock: Clock;
  /** Shared secret the built-in sandbox exchange requires, so it is reachable only through us. */
  readonly upstreamToken?: string;
  readonly onDecision?: (record: DecisionRecord) => void;
  /** Approval holds, withdrawal reservations and approval polls; absent: held requests are refused. */
  readonly governance?: DataPlaneGovernance;
}

export interface DataPlaneOptions {
  readonly bodyLimitBytes: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly logger?: FastifyBaseLogger;
}

const EMPTY = Buffer.alloc(0);
/**
 * Reads a small upstream answer whole. Plain listeners: `stream/consumers` goes through a Blob
 * and cost ~12 µs per answer; an error (the upstream cut the answer short) rejects.
 */
function readWhole(body: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    body.on('data', (chunk: Buffer) => chunks.push(chunk));
    body.once('error', reject);
    body.once('end', () =>
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)),
    );
  });
}

/** Upstream answers up to this size (by Content-Length) are read whole before they are sent. */
const BUFFERED_ANSWER_BYTES = 64 * 1024;
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'] as const;

/** How often Node checks for timed-out connections: a quarter of the headers timeout, 0.1–1 s. */
function sweepIntervalMs(headersTimeoutMs: number): number {
  return Math.min(1000, Math.max(100, Math.floor(headersTimeoutMs / 4)));
}

/** Guesses the dialect from headers alone, for errors raised before the pipeline runs. */
function dialectOfHeaders(request: FastifyRequest): Dialect {
  const headers = request.headers;
  if (headers['x-mbx-apikey'] !== undefined) return 'binance';
  if (headers['x-bapi-api-key'] !== undefined) return 'bybit';
  if (headers['ok-access-key'] !== undefined) return 'okx';
  return 'native';
}

function sendDenial(
  reply: FastifyReply,
  dialect: Dialect,
  reason: DenialReason,
  requestId: string,
  nowMs: number,
  limit?: { retryAfterMs: number; headers: Record<string, string> },
): FastifyReply {
  const rendered = renderDenial(
    dialect,
    reason,
    limit === undefined
      ? { requestId, nowMs }
      : { requestId, nowMs, retryAfterMs: limit.retryAfterMs },
  );
  return reply
    .status(rendered.status)
    .headers(limit === undefined ? rendered.headers : { ...limit.headers, ...rendered.headers })
    .header('x-request-id', requestId)
    .send(rendered.body);
}

/** The rate-limit answer headers of the request's dialect (RateLimit, X-MBX-…, X-Bapi-…). */
function limitHeaders(
  pipeline: PipelineDeps,
  dialect: Dialect,
  result: LimitResult,
  nowMs: number,
): Record<string, string> {
  return pipeline.limits?.rules.headersFor(dialect, result, nowMs) ?? {};
}

/**
 * One environment's data plane as a Fastify app without `listen`: every request runs through
 * the pipeline and is either denied in its dialect's wire format or forwarded upstream with
 * credentials stripped and identity headers added.
 */
export function buildDataPlaneApp(deps: DataPlaneDeps, options: DataPlaneOptions): FastifyInstance {
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    // Per-request lines would cost throughput; denials are logged by the handler.
    logController: new LogController({ disableRequestLogging: true }),
    // An allowed request logs nothing: its child logger is made only when a line is written.
    childLoggerFactory: lazyChildLogger,
    bodyLimit: options.bodyLimitBytes,
    genReqId: () => newRequestId(),
    requestIdHeader: false,
    // Slow clients (slow-loris) are cut off; a header block over 16 KiB gets 431 from Node.
    // Node enforces headersTimeout/requestTimeout only when it sweeps its connections, every
    // 30 s by default: sweep often enough that a short headers timeout really applies.
    http: {
      maxHeaderSize: 16_384,
      connectionsCheckingInterval: sweepIntervalMs(options.headersTimeoutMs),
    },
    connectionTimeout: options.requestTimeoutMs,
    requestTimeout: options.requestTimeoutMs,
    return503OnClosing: true,
    routerOptions: {
      ignoreTrailingSlash: false,
      ignoreDuplicateSlashes: false,
      caseSensitive: true,
    },
  });
  app.server.headersTimeout = options.headersTimeoutMs;

  // Bodies are kept as raw bytes: signatures are verified over exactly what was received.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const now = deps.clock.now();
    const reason: ReasonCode =
      error.code === 'FST_ERR_CTP_BODY_TOO_LARGE' || error.statusCode === 413
        ? 'BODY_TOO_LARGE'
        : isStoreFault(error)
          ? 'STORE_UNAVAILABLE'
          : 'BAD_REQUEST';
    if ((error.statusCode ?? 500) >= 500) request.log.error({ err: error }, 'data plane fault');
    return sendDenial(reply, dialectOfHeaders(request), reason, request.id, now);
  });

  const handle = async (request: FastifyRequest, reply: FastifyReply) => {
    const raw = request.raw;
    const url = raw.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const rawQuery = q < 0 ? null : url.slice(q + 1);
    const body = Buffer.isBuffer(request.body) ? request.body : EMPTY;
    const startedAt = performance.now();
    const nowMs = deps.clock.now();
    const method = raw.method ?? 'GET';
    const clientIp = deps.clientIp(raw.socket.remoteAddress ?? '', raw.headers['x-forwarded-for']);
    const pending = evaluateRequest(deps.pipeline, {
      method,
      path,
      rawQuery,
      headers: raw.headers,
      body,
      clientIp,
      nowMs,
    });
    const decision = pending instanceof Promise ? await pending : pending;
    const pipelineMs = performance.now() - startedAt;
    // Reported once the answer is handed to the socket: the consumers are off the request path.
    const report = (sent: FastifyReply, upstreamMs?: number): FastifyReply => {
      deps.onDecision?.({
        requestId: request.id,
        decision,
        clientIp,
        nowMs,
        method,
        status: sent.statusCode,
        pipelineMs,
        ...(upstreamMs !== undefined ? { upstreamMs } : {}),
        totalMs: performance.now() - startedAt,
      });
      return sent;
    };
    const governance = deps.governance;
    if (
      decision.outcome === 'deny' &&
      decision.reason === 'APPROVAL_REQUIRED' &&
      decision.held !== undefined &&
      governance !== undefined
    ) {
      const held = await governance.hold(decision.held, {
        requestId: request.id,
        method,
        path,
        headers: raw.headers,
        clientIp,
      });
      const rendered = renderApprovalHold(
        decision.dialect,
        {
          approvalId: held.id,
          expiresAtMs: held.expiresAtMs,
          pollPath: `/api/v1/approvals/${held.id}`,
        },
        { requestId: request.id, nowMs },
      );
      return report(
        reply
          .status(rendered.status)
          .headers(rendered.headers)
          .header('x-request-id', request.id)
          .send(rendered.body),
      );
    }
    if (decision.outcome === 'deny') {
      request.log.info(
        { reqId: request.id, reason: decision.reason, keyId: decision.keyId, ip: clientIp },
        'denied',
      );
      const limit =
        decision.retryAfterMs === undefined
          ? undefined
          : {
              retryAfterMs: decision.retryAfterMs,
              headers:
                decision.limits === undefined
                  ? {}
                  : limitHeaders(deps.pipeline, decision.dialect, decision.limits, nowMs),
            };
      return report(sendDenial(reply, decision.dialect, decision.reason, request.id, nowMs, limit));
    }
    const identity: Record<string, string> = { 'x-request-id': request.id };
    if (deps.upstreamToken !== undefined)
      identity['x-portcullis-upstream-token'] = deps.upstreamToken;
    let forwardQuery = rawQuery;
    let forwardBody = body;
    let reservation: ReserveOutcome = { kind: 'none' };
    if (decision.outcome === 'allow' && governance !== undefined) {
      // The requester's poll of its own approval is answered here, never by the upstream.
      if (decision.route.route.action === governance.pollAction) {
        const id = decision.route.params.id ?? '';
        const approval = await governance.poll(id, decision.key.accountId);
        if (approval === undefined) {
          return report(sendDenial(reply, decision.dialect, 'ROUTE_UNKNOWN', request.id, nowMs));
        }
        return report(reply.status(200).header('x-request-id', request.id).send({ approval }));
      }
      // Withdrawal rules reserve before forwarding, so concurrent requests cannot together
      // exceed a rolling limit (docs/policies.md).
      reservation = await governance.reserve({
        key: decision.key,
        route: decision.route,
        policy: decision.policy,
        requestId: request.id,
      });
      if (reservation.kind === 'refused') {
        request.log.info(
          { reqId: request.id, reason: reservation.reason, keyId: decision.key.id, ip: clientIp },
          'denied',
        );
        return report(sendDenial(reply, decision.dialect, reservation.reason, request.id, nowMs));
      }
    }
    if (decision.outcome === 'allow') {
      identity['x-portcullis-account'] = decision.key.accountId;
      identity['x-portcullis-key'] = decision.key.id;
      identity['x-portcullis-scopes'] = decision.key.scopes.join(',');
      forwardQuery = decision.forwardQuery;
      forwardBody = decision.forwardBody;
    }
    // The dialect of this request's answers: the verified one, or the route's for a public route.
    const dialect = decision.outcome === 'allow' ? decision.dialect : decision.route.route.dialect;
    const forwardedAt = performance.now();
    const result = await deps.upstream.forward({
      method,
      path: forwardQuery === null ? path : `${path}?${forwardQuery}`,
      headers: upstreamHeaders(raw.headers, identity),
      body: forwardBody.length > 0 ? forwardBody : null,
      retrySafe: () =>
        isRetrySafe({
          method,
          dialect,
          query: forwardQuery,
          headers: raw.headers,
          body: forwardBody,
        }),
    });
    const upstreamMs = performance.now() - forwardedAt;
    if (!result.ok) {
      // After a timeout the upstream may still have executed: keep the amount counted until the
      // reservation's ttl (the safe side); a request that certainly was not executed releases it.
      if (reservation.kind === 'reserved') {
        await reservation.settle(outcomeUnknown(result.reason) ? 'keep' : 'release');
      }
      request.log.warn({ reqId: request.id, reason: result.reason }, 'upstream failed');
      return report(sendDenial(reply, dialect, result.reason, request.id, nowMs), upstreamMs);
    }
    // A small answer of known length is read whole and sent as one buffer (one write, no stream
    // plumbing per response); a large or unknown-length one is streamed as it arrives.
    let answer: Buffer | Readable = result.body;
    let cutShort = false;
    const length = Number(result.headers['content-length']);
    if (length >= 0 && length <= BUFFERED_ANSWER_BYTES) {
      try {
        answer = await readWhole(result.body);
      } catch {
        cutShort = true;
      }
    }
    if (reservation.kind === 'reserved') {
      // Any answer but a 2xx releases the amount; so does a 2xx whose body is the dialect's
      // rejection (Bybit and OKX answer a rejected order with 200 and their own code).
      const read = Buffer.isBuffer(answer) ? answer : undefined;
      const placed = answerPlaced(dialect, result.status, read);
      await reservation.settle(placed ? 'commit' : 'release');
    }
    if (cutShort) {
      return report(
        sendDenial(reply, dialect, 'UPSTREAM_UNAVAILABLE', request.id, nowMs),
        upstreamMs,
      );
    }
    if (decision.outcome === 'allow' && decision.limits !== undefined) {
      void reply.headers(limitHeaders(deps.pipeline, decision.dialect, decision.limits, nowMs));
    }
    return report(
      reply
        .status(result.status)
        .headers(clientHeaders(result.headers))
        .header('x-request-id', request.id)
        .send(answer),
      upstreamMs,
    );
  };

  app.route({ method: [...METHODS], url: '/', handler: handle });
  app.route({ method: [...METHODS], url: '/*', handler: handle });
  return app;
}

/** A store that cannot be reached (PostgreSQL down, a pool timeout): 503, never a 400. */
function isStoreFault(error: unknown): boolean {
  return error instanceof PortcullisError && error.code === 'STORE_UNAVAILABLE';
}
