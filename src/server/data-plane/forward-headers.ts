import type { IncomingHttpHeaders } from 'node:http';

// RFC 9110 §7.6.1 hop-by-hop fields, plus fields the gateway sets itself.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
]);

/** Every header that can carry a credential in any dialect: never forwarded upstream. */
const CREDENTIAL_HEADERS = new Set([
  'signature',
  'signature-input',
  'authorization',
  'x-mbx-apikey',
  'x-bapi-api-key',
  'x-bapi-sign',
  'x-bapi-sign-type',
  'x-bapi-timestamp',
  'x-bapi-recv-window',
  'ok-access-key',
  'ok-access-sign',
  'ok-access-timestamp',
  'ok-access-passphrase',
]);

/**
 * The headers sent upstream: the client's, minus hop-by-hop and credential fields and minus
 * anything claiming to be gateway identity (a client must not be able to forge
 * `X-Portcullis-Account`), plus the gateway's own identity headers.
 */
export function upstreamHeaders(
  incoming: IncomingHttpHeaders,
  identity: Readonly<Record<string, string>>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in incoming) {
    const value = incoming[name];
    if (value === undefined) continue;
    if (
      HOP_BY_HOP.has(name) ||
      CREDENTIAL_HEADERS.has(name) ||
      name.startsWith('x-portcullis-') ||
      name === 'x-request-id'
    ) {
      continue;
    }
    out[name] = value;
  }
  for (const name in identity) out[name] = identity[name] as string;
  return out;
}

/** Response headers relayed to the client: hop-by-hop fields dropped. */
export function clientHeaders(upstream: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined || (HOP_BY_HOP.has(name) && name !== 'content-length')) continue;
    out[name] = value;
  }
  return out;
}
