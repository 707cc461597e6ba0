import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { newNonce, signRequest, toSigningKey, type SigningKey } from '../../client/sign-request.js';
import type { Clock } from '../../core/clock.js';
import { isPortcullisError } from '../../core/errors.js';

export const SIGN_USAGE = `Usage: portcullis sign --key-id ID (--secret-file F | --private-key FILE | --secret S)
                      --url URL [--method GET] [--body TEXT | --body-file F]
                      [--content-type T] [--json | --curl]

Prints the native signature headers (docs/signing-native.md) for one request, one
"Name: value" per line, so that curl or any HTTP client can call the gateway. Talks to no
server. The signature is valid for a few seconds (the gateway's time window): send it now.

  --key-id ID          the API key id (pk_test_… / pk_live_…)
  --secret-file F      a file holding the HMAC secret (one trailing newline is ignored)
  --private-key FILE   the Ed25519 private key (PKCS#8 PEM) of an ed25519 key
  --secret S           the HMAC secret itself: it stays in your shell history and is visible
                       in the process list; prefer --secret-file or PORTCULLIS_SECRET
  PORTCULLIS_SECRET    used as the HMAC secret when no key option is given
  --method M           default GET
  --url URL            the full data-plane URL, query included, as it will be sent
  --body TEXT          the exact body (UTF-8); --body-file F sends the file's exact bytes
  --content-type T     sent and signed when there is a body (default application/json)
  --json               {"method","url","headers"} as one JSON document
  --curl               a ready curl command line`;

class SignUsageError extends Error {}

interface SignIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const PROCESS_IO: SignIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** `portcullis sign`: signs one request locally and prints its headers; returns the exit code. */
export function runSign(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  io: SignIo = PROCESS_IO,
  clock: Clock = { now: () => Date.now() },
): number {
  try {
    const values = parseSignArgs(args);
    if (values.help === true) {
      io.out(`${SIGN_USAGE}\n`);
      return 0;
    }
    const method = (values.method ?? 'GET').toUpperCase();
    if (!/^[A-Z]{1,16}$/.test(method)) throw new SignUsageError('--method must be an HTTP method.');
    const url = parseUrl(values.url);
    const body = readBody(values.body, values['body-file']);
    const headers: Record<string, string> = {};
    if (body !== undefined) headers['Content-Type'] = values['content-type'] ?? 'application/json';
    const key = readKey(values, env);
    Object.assign(
      headers,
      signRequest(key, {
        method,
        url,
        body,
        headers,
        createdSeconds: Math.floor(clock.now() / 1000),
        nonce: newNonce(),
      }),
    );
    if (values.json === true) {
      io.out(`${JSON.stringify({ method, url: url.href, headers }, null, 2)}\n`);
    } else if (values.curl === true) {
      io.out(`${curlCommand(method, url, headers, body, values['body-file'])}\n`);
    } else {
      io.out(
        `${Object.entries(headers)
          .map(([name, value]) => `${name}: ${value}`)
          .join('\n')}\n`,
      );
    }
    return 0;
  } catch (error) {
    if (error instanceof SignUsageError) {
      io.err(`${error.message}\n${SIGN_USAGE}\n`);
      return 2;
    }
    // Messages name the option, never the secret or the key.
    const message = isPortcullisError(error) ? error.message : 'signing failed';
    io.err(`error: ${message}\n`);
    return 1;
  }
}

function parseSignArgs(args: readonly string[]) {
  try {
    return parseArgs({
      args: [...args],
      options: {
        'key-id': { type: 'string' },
        secret: { type: 'string' },
        'secret-file': { type: 'string' },
        'private-key': { type: 'string' },
        method: { type: 'string' },
        url: { type: 'string' },
        body: { type: 'string' },
        'body-file': { type: 'string' },
        'content-type': { type: 'string' },
        json: { type: 'boolean' },
        curl: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    throw new SignUsageError((error as Error).message);
  }
}

type SignValues = ReturnType<typeof parseSignArgs>;

function parseUrl(text: string | undefined): URL {
  if (text === undefined) throw new SignUsageError('--url is required.');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SignUsageError('--url must be a full http(s) URL.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new SignUsageError('--url must be a full http(s) URL.');
  }
  return url;
}

function readBody(text: string | undefined, file: string | undefined): Buffer | undefined {
  if (text !== undefined && file !== undefined) {
    throw new SignUsageError('Give --body or --body-file, not both.');
  }
  if (text !== undefined) return Buffer.from(text, 'utf8');
  if (file === undefined) return undefined;
  try {
    return readFileSync(file);
  } catch {
    throw new SignUsageError(`Cannot read the body file ${file}.`);
  }
}

function readKey(
  values: SignValues,
  env: Readonly<Record<string, string | undefined>>,
): SigningKey {
  const keyId = values['key-id'];
  if (keyId === undefined) throw new SignUsageError('--key-id is required.');
  const given = (['secret', 'secret-file', 'private-key'] as const).filter(
    (name) => values[name] !== undefined,
  );
  if (given.length > 1) {
    throw new SignUsageError('Give one of --secret, --secret-file or --private-key.');
  }
  const privateKeyFile = values['private-key'];
  if (privateKeyFile !== undefined) {
    return toSigningKey({ keyId, privateKey: readText(privateKeyFile, 'private key') });
  }
  const secretFile = values['secret-file'];
  const secret =
    values.secret ??
    (secretFile !== undefined
      ? readText(secretFile, 'secret').replace(/\r?\n$/, '')
      : env.PORTCULLIS_SECRET);
  if (secret === undefined || secret === '') {
    throw new SignUsageError(
      'A key is required: --secret-file F, --private-key FILE, PORTCULLIS_SECRET or --secret S.',
    );
  }
  return toSigningKey({ keyId, secret });
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw new SignUsageError(`Cannot read the ${what} file ${file}.`);
  }
}

/** POSIX shell single quoting: `'` becomes `'\''`. */
function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

function curlCommand(
  method: string,
  url: URL,
  headers: Readonly<Record<string, string>>,
  body: Buffer | undefined,
  bodyFile: string | undefined,
): string {
  const parts = ['curl', '-sS', '-X', method, shellQuote(url.href)];
  for (const [name, value] of Object.entries(headers))
    parts.push('-H', shellQuote(`${name}: ${value}`));
  if (bodyFile !== undefined) parts.push('--data-binary', shellQuote(`@${bodyFile}`));
  else if (body !== undefined) parts.push('--data-raw', shellQuote(body.toString('utf8')));
  return parts.join(' ');
}
