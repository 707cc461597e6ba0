import type { HeaderBag, SignedRequest } from '../types.js';

/** A covered-component parameter value as the native profile allows it: integer or string. */
export type SignatureParamValue = number | string;

export type SignatureBaseResult =
  | { readonly ok: true; readonly base: string }
  | { readonly ok: false; readonly reason: 'SIGNATURE_MALFORMED' };

/** Most components a signature may cover: bounds the work an attacker can ask for. */
export const MAX_COVERED_COMPONENTS = 32;

// RFC 9110 §5.1 field-name (token), restricted to lower case as RFC 9421 §2.1 requires.
const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
// RFC 9421 §2.5: the signature base is US-ASCII; a component value carrying anything else (or a
// line break, which would let one component forge another's line) cannot be signed.
const ASCII_VALUE = /^[\t\x20-\x7e]*$/;
const STRING_ESCAPE = /["\\]/g;
const MALFORMED: SignatureBaseResult = { ok: false, reason: 'SIGNATURE_MALFORMED' };

/**
 * The value of a header field for a signature base (RFC 9421 §2.1): each field line trimmed of
 * surrounding whitespace, several lines joined with ", ". Undefined when the field is absent.
 */
export function headerFieldValue(headers: HeaderBag, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  if (typeof value === 'string') return trimOws(value);
  if (value.length === 0) return undefined;
  let joined = '';
  for (let i = 0; i < value.length; i++) {
    joined += (i === 0 ? '' : ', ') + trimOws(value[i] ?? '');
  }
  return joined;
}

/** Whether `name` is a header field a signature may cover (never the signature fields themselves). */
export function isCoverableHeaderName(name: string): boolean {
  return HEADER_NAME.test(name) && name !== 'signature' && name !== 'signature-input';
}

/**
 * The value of one covered component, or undefined when the profile does not support it or the
 * request lacks it. Derived components follow RFC 9421 §2.2; others are header fields (§2.1).
 */
export function componentValue(request: SignedRequest, name: string): string | undefined {
  switch (name) {
    case '@method':
      // §2.2.1: the method as received; it is case-sensitive, so no normalisation.
      return request.method;
    case '@path':
      // §2.2.6: the raw absolute path; an empty path is "/".
      return request.path === '' ? '/' : request.path;
    case '@query':
      // §2.2.7: "?" followed by the raw query; a request without a query gives "?" alone.
      return request.rawQuery === null ? '?' : '?' + request.rawQuery;
    case '@authority': {
      // §2.2.3: the authority, lower-cased (the host is case-insensitive).
      const host = headerFieldValue(request.headers, 'host');
      return host === undefined ? undefined : host.toLowerCase();
    }
    default:
      // Other derived components (@target-uri, @scheme, @query-param, …) are outside the profile.
      if (!isCoverableHeaderName(name)) return undefined;
      return headerFieldValue(request.headers, name);
  }
}

/**
 * Builds the signature base of RFC 9421 §2.5: one `"name": value` line per covered component,
 * then the `"@signature-params"` line without a trailing newline. `signatureParams` is the
 * serialised inner list with its parameters exactly as it appears in Signature-Input (§2.3).
 * Fails on a duplicate, unsupported, absent or non-ASCII component.
 */
export function buildSignatureBase(
  request: SignedRequest,
  components: readonly string[],
  signatureParams: string,
): SignatureBaseResult {
  if (components.length > MAX_COVERED_COMPONENTS) return MALFORMED;
  let base = '';
  for (let i = 0; i < components.length; i++) {
    const name = components[i];
    if (name === undefined) return MALFORMED;
    // §2.5 step 2.1: a component identifier occurs at most once.
    if (components.indexOf(name) !== i) return MALFORMED;
    const value = componentValue(request, name);
    if (value === undefined || !ASCII_VALUE.test(value)) return MALFORMED;
    base += '"' + name + '": ' + value + '\n';
  }
  if (!ASCII_VALUE.test(signatureParams)) return MALFORMED;
  return { ok: true, base: base + '"@signature-params": ' + signatureParams };
}

/**
 * Serialises covered components and parameters as an RFC 8941 inner list (§4.1.1.1): components
 * as strings without parameters, parameter values as integers or strings, in the given order.
 */
export function serializeSignatureParams(
  components: readonly string[],
  params: Iterable<readonly [string, SignatureParamValue]>,
): string {
  let out = '(';
  for (let i = 0; i < components.length; i++) {
    out += (i === 0 ? '"' : ' "') + escapeString(components[i] ?? '') + '"';
  }
  out += ')';
  for (const [key, value] of params) {
    out += ';' + key + '=' + (typeof value === 'number' ? String(value) : serializeString(value));
  }
  return out;
}

function serializeString(value: string): string {
  return '"' + escapeString(value) + '"';
}

function escapeString(value: string): string {
  return value.replace(STRING_ESCAPE, '\\$&');
}

function trimOws(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && isOws(value.charCodeAt(start))) start++;
  while (end > start && isOws(value.charCodeAt(end - 1))) end--;
  return start === 0 && end === value.length ? value : value.slice(start, end);
}

function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}
