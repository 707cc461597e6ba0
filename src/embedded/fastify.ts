/**
 * `portcullis/fastify`: the Portcullis pipeline as a Fastify plugin (docs/integrations.md).
 *
 * ```ts
 * await app.register(portcullisFastify, { configFile: 'portcullis.yaml', environment: 'production' });
 * app.post('/api/v1/orders', (request) => request.portcullis?.accountId);
 * ```
 *
 * Every request is authorized in `preParsing`, over the exact body bytes, before any parser,
 * schema or handler of the venue runs: a denied request is answered in its dialect's wire format
 * and never reaches a handler. Allowed requests carry `request.portcullis` (the identity) and
 * `request.portcullisRawBody`; the venue's own content-type parsers then parse the same bytes.
 */
import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify';
import type { Authorization } from '../server/check/authorize-request.js';
import {
  createEmbeddedPortcullis,
  identityOf,
  type EmbeddedOptions,
  type EmbeddedPortcullis,
  type PortcullisIdentity,
} from './embedded-portcullis.js';
import { readBody } from './read-body.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authorized caller; undefined on a public route. */
    portcullis?: PortcullisIdentity;
    /** The body bytes the signature was verified over. */
    portcullisRawBody?: Buffer;
  }
}

export type PortcullisFastifyOptions =
  | EmbeddedOptions
  /** An instance the caller owns (and closes), e.g. shared by several apps. */
  | { readonly instance: EmbeddedPortcullis };

function deny(reply: FastifyReply, result: Authorization & { outcome: 'deny' }): FastifyReply {
  return reply
    .status(result.rendered.status)
    .headers(result.rendered.headers)
    .send(result.rendered.body);
}

const plugin: FastifyPluginAsync<PortcullisFastifyOptions> = async (
  app: FastifyInstance,
  options,
) => {
  const owned = !('instance' in options);
  const portcullis =
    'instance' in options ? options.instance : await createEmbeddedPortcullis(options);
  if (owned) app.addHook('onClose', () => portcullis.close());
  const settles = new WeakMap<object, Authorization & { outcome: 'allow' }>();

  app.addHook('preParsing', async (request, reply, payload) => {
    const body = await readBody(payload, portcullis.bodyLimitBytes);
    if (body === undefined) return deny(reply, portcullis.tooLarge(request.headers));
    const result = await portcullis.authorize({
      method: request.raw.method ?? 'GET',
      url: request.raw.url ?? '/',
      headers: request.raw.headers,
      body,
      remoteAddress: request.raw.socket.remoteAddress ?? '',
    });
    if (result.outcome === 'deny') return deny(reply, result);
    settles.set(request, result);
    const identity = identityOf(result);
    if (identity !== undefined) request.portcullis = identity;
    request.portcullisRawBody = body;
    void reply.header('x-request-id', result.headers['x-request-id']);
    const replay = Readable.from(body.length > 0 ? [body] : []) as Readable & {
      receivedEncodedLength?: number;
    };
    replay.receivedEncodedLength = body.length;
    return replay;
  });

  // A withdrawal reservation is committed on a 2xx and released on anything else.
  app.addHook('onResponse', async (request, reply) => {
    const allowed = settles.get(request);
    if (allowed === undefined) return;
    const status = reply.statusCode;
    await allowed.settle(status >= 200 && status < 300 ? 'commit' : 'release');
  });
};

// The hooks must apply to the venue's routes, not only inside this plugin's own scope
// (what `fastify-plugin` does, without the dependency).
(plugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
(plugin as unknown as Record<symbol, string>)[Symbol.for('fastify.display-name')] = 'portcullis';

export const portcullisFastify = plugin;
export default plugin;
export { createEmbeddedPortcullis, type EmbeddedPortcullis, type PortcullisIdentity };
