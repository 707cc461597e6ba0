import type { FastifyInstance } from 'fastify';

interface Operation {
  method: string;
  url: string;
  schema: Record<string, unknown> | undefined;
  permission: string | undefined;
}

/** Collects every route's schema as it is registered and renders an OpenAPI 3.1 document. */
export function collectOpenApi(app: FastifyInstance): { document(): Record<string, unknown> } {
  const operations: Operation[] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD') continue;
      operations.push({
        method: method.toLowerCase(),
        url: route.url,
        schema: route.schema as Record<string, unknown> | undefined,
        permission: (route.config as { permission?: string } | undefined)?.permission,
      });
    }
  });
  return {
    document() {
      const paths: Record<string, Record<string, unknown>> = {};
      for (const op of operations) {
        const path = op.url.replace(/:([A-Za-z]+)/g, '{$1}');
        const schema = op.schema ?? {};
        const parameters: unknown[] = [];
        const params = schema.params as { properties?: Record<string, unknown> } | undefined;
        for (const name of Object.keys(params?.properties ?? {})) {
          parameters.push({ name, in: 'path', required: true, schema: params?.properties?.[name] });
        }
        const query = schema.querystring as { properties?: Record<string, unknown> } | undefined;
        for (const name of Object.keys(query?.properties ?? {})) {
          parameters.push({
            name,
            in: 'query',
            required: false,
            schema: query?.properties?.[name],
          });
        }
        const responses: Record<string, unknown> = {};
        for (const [status, body] of Object.entries(
          (schema.response as Record<string, unknown> | undefined) ?? {},
        )) {
          responses[status] = {
            description: status,
            content: { 'application/json': { schema: body } },
          };
        }
        if (Object.keys(responses).length === 0) responses['200'] = { description: 'OK' };
        responses.default = {
          description: 'Error envelope',
          content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
        };
        paths[path] ??= {};
        paths[path][op.method] = {
          ...(op.permission ? { security: [{ bearer: [] }], 'x-permission': op.permission } : {}),
          ...(parameters.length ? { parameters } : {}),
          ...(schema.body
            ? {
                requestBody: {
                  required: true,
                  content: { 'application/json': { schema: schema.body } },
                },
              }
            : {}),
          responses,
        };
      }
      return {
        openapi: '3.1.0',
        info: { title: 'Portcullis admin API', version: '1' },
        components: {
          securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
          schemas: {
            Error: {
              type: 'object',
              properties: {
                error: {
                  type: 'object',
                  properties: {
                    code: { type: 'string' },
                    message: { type: 'string' },
                    requestId: { type: 'string' },
                  },
                },
              },
            },
          },
        },
        paths,
      };
    },
  };
}
