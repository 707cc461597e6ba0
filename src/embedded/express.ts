/**
 * `portcullis/express`: the Portcullis pipeline as Express middleware (docs/integrations.md).
 *
 * ```ts
 * const portcullis = await createEmbeddedPortcullis({ configFile: 'portcullis.yaml', environment: 'production' });
 * app.use(portcullisExpress(portcullis)); // before any body parser
 * app.post('/api/v1/orders', (req, res) => res.json({ account: req.portcullis?.accountId }));
 * ```
 *
 * Mount it before body parsers: it reads the body itself (signatures are verified over the exact
 * bytes), then sets `req.body` (parsed JSON for a JSON content type, the raw Buffer otherwise)
 * and marks the body read so `express.json()` and friends skip it. A denied request is answered
 * in its dialect's wire format and `next()` is never called.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Authorization } from '../server/check/authorize-request.js';
import {
  createEmbeddedPortcullis,
  identityOf,
  type EmbeddedPortcullis,
  type PortcullisIdentity,
} from './embedded-portcullis.js';
import { readBody } from './read-body.js';

declare module 'express-serve-static-core' {
  interface Request {
    /** The authorized caller; undefined on a public route. */
    portcullis?: PortcullisIdentity;
    /** The body bytes the signature was verified over. */
    portcullisRawBody?: Buffer;
  }
}

function deny(res: Response, result: Authorization & { outcome: 'deny' }): void {
  res.status(result.rendered.status).set(result.rendered.headers).send(result.rendered.body);
}

function isJson(contentType: string | undefined): boolean {
  return contentType !== undefined && /^application\/(?:[\w.+-]+\+)?json\b/i.test(contentType);
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return body; // a public route's body is not checked by the pipeline: leave it raw
  }
}

async function handle(
  portcullis: EmbeddedPortcullis,
  req: Request,
  res: Response,
  next: NextFunction,
): Promise<void> {
  const body = await readBody(req, portcullis.bodyLimitBytes);
  if (body === undefined) return deny(res, portcullis.tooLarge(req.headers));
  const result = await portcullis.authorize({
    method: req.method,
    url: req.originalUrl,
    headers: req.headers,
    body,
    remoteAddress: req.socket.remoteAddress ?? '',
  });
  if (result.outcome === 'deny') return deny(res, result);
  const identity = identityOf(result);
  if (identity !== undefined) req.portcullis = identity;
  req.portcullisRawBody = body;
  // The pipeline already refused ambiguous JSON (duplicate keys): this parse cannot differ.
  req.body = body.length > 0 && isJson(req.headers['content-type']) ? parseJson(body) : body;
  (req as Request & { _body?: boolean })._body = true;
  res.setHeader('x-request-id', result.headers['x-request-id'] ?? '');
  // A withdrawal reservation is committed on a 2xx and released on anything else.
  res.on('finish', () => {
    void result.settle(res.statusCode >= 200 && res.statusCode < 300 ? 'commit' : 'release');
  });
  next();
}

/** The middleware over an instance the caller owns (and closes). */
export function portcullisExpress(portcullis: EmbeddedPortcullis): RequestHandler {
  return (req, res, next) => {
    handle(portcullis, req, res, next).catch(next);
  };
}

export { createEmbeddedPortcullis, type EmbeddedPortcullis, type PortcullisIdentity };
