import type { HeaderBag } from '../types.js';

/**
 * The value of a header that must occur once. Node joins repeated custom headers with `, ` or
 * gives an array; an array is refused here, and the joined form is refused by each caller's
 * strict syntax (no comma or space is valid in a key id, timestamp or signature).
 */
export function headerValue(headers: HeaderBag, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
}

/** Whether the header is present at all (as a string or repeated). */
export function hasHeader(headers: HeaderBag, name: string): boolean {
  return headers[name] !== undefined;
}

const MAX_KEY_ID_LENGTH = 128;

/** Key ids the dialects accept: 1–128 characters of `[A-Za-z0-9_-]`. */
export function isKeyIdSyntax(text: string): boolean {
  if (text.length === 0 || text.length > MAX_KEY_ID_LENGTH) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const ok =
      (c >= 0x30 && c <= 0x39) ||
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x61 && c <= 0x7a) ||
      c === 0x5f ||
      c === 0x2d;
    if (!ok) return false;
  }
  return true;
}

/**
 * A canonical unsigned decimal integer (no sign, no leading zero, no exponent, at most
 * `maxDigits` digits ≤ 16 so the value is exact in a double); undefined otherwise.
 */
export function parseCanonicalInteger(text: string, maxDigits: number): number | undefined {
  const length = text.length;
  if (length === 0 || length > maxDigits || length > 16) return undefined;
  if (length > 1 && text.charCodeAt(0) === 0x30) return undefined;
  let value = 0;
  for (let i = 0; i < length; i++) {
    const digit = text.charCodeAt(i) - 0x30;
    if (digit < 0 || digit > 9) return undefined;
    value = value * 10 + digit;
  }
  return value;
}

/** Whether a content type is `type` (case-insensitive), optionally followed by `;` parameters. */
export function isContentType(header: string | undefined, type: string): boolean {
  if (header === undefined || header.length < type.length) return false;
  if (header.slice(0, type.length).toLowerCase() !== type) return false;
  if (header.length === type.length) return true;
  const next = header.charCodeAt(type.length);
  return next === 0x3b || next === 0x20 || next === 0x09;
}

/**
 * Parses a Binance/Bybit-style timestamp: a canonical integer. 13 digits are milliseconds;
 * 16 digits (microseconds) only when `allowMicros`. Any other canonical integer (seconds, a
 * mistyped length) is a time outside every window; anything else is malformed.
 */
export function parseEpochTimestamp(
  text: string,
  allowMicros: boolean,
): { readonly ms: number } | 'outside' | 'malformed' {
  const value = parseCanonicalInteger(text, 16);
  if (value === undefined) return 'malformed';
  if (text.length === 13) return { ms: value };
  if (allowMicros && text.length === 16) return { ms: value / 1000 };
  return 'outside';
}
