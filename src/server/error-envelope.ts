import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CATALOG, PortcullisError, type ErrorCode } from '../core/errors.js';
import { DURATION_PATTERN } from './admin/schemas.js';

/** The one error body: `{ "error": { "code", "message", "requestId" } }`. */
export interface ErrorEnvelope {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly requestId: string;
    readonly details?: readonly string[];
  };
}

export function errorEnvelope(
  code: string,
  message: string,
  requestId: string,
  details?: readonly string[],
): ErrorEnvelope {
  return {
    error: { code, message, requestId, ...(details && details.length > 0 ? { details } : {}) },
  };
}

/** Maps Fastify's own errors (parsing, validation, limits) onto the catalog; never leaks internals. */
export function classifyError(error: FastifyError | PortcullisError | Error): {
  code: ErrorCode;
  message: string;
  details?: readonly string[];
} {
  if (error instanceof PortcullisError) {
    return error.details
      ? { code: error.code, message: error.message, details: error.details }
      : { code: error.code, message: error.message };
  }
  const fastifyError = error as FastifyError;
  if (fastifyError.validation) {
    const unknown = fastifyError.validation.find((v) => v.keyword === 'additionalProperties');
    const details = fastifyError.validation.map((v) => {
      const where = v.instancePath || fastifyError.validationContext || 'body';
      const extra =
        v.keyword === 'additionalProperties'
          ? ` '${String((v.params as { additionalProperty?: unknown }).additionalProperty)}'`
          : '';
      return `${where}: ${v.message ?? 'invalid'}${extra}`;
    });
    if (unknown) {
      return {
        code: 'UNKNOWN_FIELD',
        message: `Unknown field${details.length > 1 ? 's' : ''}: ${details.join('; ')}`,
        details,
      };
    }
    // A malformed duration has its own stable code, whether the schema or a handler finds it.
    const badDuration = fastifyError.validation.some(
      (v) =>
        v.keyword === 'pattern' && (v.params as { pattern?: unknown }).pattern === DURATION_PATTERN,
    );
    return badDuration
      ? {
          code: 'INVALID_DURATION',
          message: `A duration is written like 0s, 90s, 15m, 1h or 90d: ${details.join('; ')}`,
          details,
        }
      : { code: 'VALIDATION_FAILED', message: details.join('; '), details };
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return { code: 'PAYLOAD_TOO_LARGE', message: 'The body is too large.' };
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return fastifyError.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
        ? { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Send the body as application/json.' }
        : { code: 'VALIDATION_FAILED', message: 'The Content-Length does not match the body.' };
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return { code: 'MALFORMED_JSON', message: 'The JSON body is empty.' };
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return { code: 'MALFORMED_JSON', message: 'The body is not valid JSON.' };
    default:
      break;
  }
  if (error instanceof SyntaxError || fastifyError.statusCode === 400) {
    return { code: 'MALFORMED_JSON', message: 'The body is not valid JSON.' };
  }
  if (fastifyError.statusCode === 413)
    return { code: 'PAYLOAD_TOO_LARGE', message: 'The body is too large.' };
  if (fastifyError.statusCode === 415)
    return { code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Send the body as application/json.' };
  return {
    code: 'INTERNAL_ERROR',
    message: 'An unexpected error occurred; the request id finds it in the log.',
  };
}

/** Fastify error handler: the envelope, the catalog status, and a log line for real faults only. */
export function replyWithError(
  error: FastifyError | Error,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  const { code, message, details } = classifyError(error);
  const status = ERROR_CATALOG[code].status;
  if (status >= 500) request.log.error({ err: error, code }, 'request failed');
  return reply
    .status(status)
    .type('application/json')
    .send(errorEnvelope(code, message, request.id, details));
}
