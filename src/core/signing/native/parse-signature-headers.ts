import type { SignatureParamValue } from './signature-base.js';

/** The one signature a request carries, as read from Signature-Input and Signature. */
export interface ParsedSignatureHeaders {
  readonly label: string;
  /** Covered component identifiers, in order. */
  readonly components: readonly string[];
  /** Signature parameters in the order received (RFC 9421 §2.3). */
  readonly params: ReadonlyMap<string, SignatureParamValue>;
  /** The serialised inner list: the exact characters of the member received in Signature-Input. */
  readonly signatureParams: string;
  /** The signature bytes, of whatever length was sent (the algorithm decides what is valid). */
  readonly signature: Buffer;
}

export type ParseSignatureHeadersResult =
  | { readonly ok: true; readonly value: ParsedSignatureHeaders }
  | { readonly ok: false; readonly reason: 'SIGNATURE_MALFORMED' };

/** Longest Signature-Input / Signature values parsed at all: bounds the parser's work. */
export const MAX_SIGNATURE_INPUT_CHARS = 4096;
export const MAX_SIGNATURE_CHARS = 512;

const MALFORMED: ParseSignatureHeadersResult = { ok: false, reason: 'SIGNATURE_MALFORMED' };
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SPACE = 0x20;

/**
 * Reads exactly one signature from the Signature-Input and Signature fields (RFC 9421 §4.1,
 * §4.2): RFC 8941 dictionaries with a single member, accepted only in canonical RFC 8941
 * serialisation (§4.1 of RFC 8941) and only with the item types the profile uses (strings and
 * integers). Never throws. `fieldValue`s are the trimmed field values.
 *
 * Why canonical only: the `@signature-params` line we sign over is then both the member exactly
 * as received (RFC 9421 §2.3) and exactly what we interpreted, and every ambiguity a general
 * parser resolves silently is refused: a repeated label or parameter (last one wins), leading
 * zeros, `1.0` read as 1, non-canonical base64, a second, weaker signature beside the first.
 * Why hand-written: the structured-headers package costs more than the HMAC itself on this path;
 * a differential property test checks this scanner against it on the canonical subset.
 */
export function parseSignatureHeaders(
  signatureInput: string,
  signature: string,
): ParseSignatureHeadersResult {
  if (signatureInput.length > MAX_SIGNATURE_INPUT_CHARS) return MALFORMED;
  if (signature.length > MAX_SIGNATURE_CHARS) return MALFORMED;
  const s = signatureInput;
  const labelEnd = scanKey(s, 0);
  // label "=" "(" — an inner list is the only member type RFC 9421 §4.1 allows.
  if (labelEnd === 0 || s.charCodeAt(labelEnd) !== 0x3d || s.charCodeAt(labelEnd + 1) !== 0x28) {
    return MALFORMED;
  }
  const label = s.slice(0, labelEnd);
  const components: string[] = [];
  let i = labelEnd + 2;
  if (s.charCodeAt(i) !== 0x29) {
    for (;;) {
      const end = scanString(s, i, components);
      if (end < 0) return MALFORMED;
      if (s.charCodeAt(end) === 0x29) {
        i = end;
        break;
      }
      // Canonical: exactly one space between items.
      if (s.charCodeAt(end) !== SPACE) return MALFORMED;
      i = end + 1;
    }
  }
  i++;
  const params = scanParams(s, i);
  if (params === undefined) return MALFORMED;
  const bytes = parseSignatureField(signature, label);
  if (bytes === undefined) return MALFORMED;
  return {
    ok: true,
    value: { label, components, params, signatureParams: s.slice(labelEnd + 1), signature: bytes },
  };
}

/** `;key=value` parameters up to the end of `s`: integers or strings, each key once. */
function scanParams(s: string, start: number): Map<string, SignatureParamValue> | undefined {
  const params = new Map<string, SignatureParamValue>();
  const strings: string[] = [];
  let i = start;
  while (i < s.length) {
    if (s.charCodeAt(i) !== 0x3b) return undefined;
    const keyEnd = scanKey(s, i + 1);
    // A bare `;key` is boolean true: no parameter of the profile is boolean.
    if (keyEnd === i + 1 || s.charCodeAt(keyEnd) !== 0x3d) return undefined;
    const key = s.slice(i + 1, keyEnd);
    if (params.has(key)) return undefined;
    if (s.charCodeAt(keyEnd + 1) === QUOTE) {
      i = scanString(s, keyEnd + 1, strings);
      const value = strings.pop();
      if (i < 0 || value === undefined) return undefined;
      params.set(key, value);
    } else {
      i = scanInteger(s, keyEnd + 1);
      if (i < 0) return undefined;
      params.set(key, Number(s.slice(keyEnd + 1, i)));
    }
  }
  return params;
}

/** The Signature field: exactly `label=:base64:` with canonical padded base64 (RFC 8941 §3.3.5). */
function parseSignatureField(signature: string, label: string): Buffer | undefined {
  const n = label.length;
  if (
    !signature.startsWith(label) ||
    signature.charCodeAt(n) !== 0x3d ||
    signature.charCodeAt(n + 1) !== 0x3a ||
    signature.charCodeAt(signature.length - 1) !== 0x3a ||
    signature.length < n + 3
  ) {
    return undefined;
  }
  return decodeCanonicalBase64(signature.slice(n + 2, signature.length - 1));
}

const BASE64_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
/** Value of each base64 character code, or -1. */
const BASE64_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < BASE64_ALPHABET.length; i++) BASE64_VALUE[BASE64_ALPHABET.charCodeAt(i)] = i;

/**
 * Canonical padded base64 of any length, or undefined: standard alphabet only, `=` padding
 * exactly where needed, and the unused low bits of the last character zero (RFC 4648 §3.5), so
 * that exactly one text encodes each byte string. Checked by table, without re-encoding.
 */
export function decodeCanonicalBase64(text: string): Buffer | undefined {
  const length = text.length;
  if (length % 4 !== 0) return undefined;
  let padding = 0;
  if (length > 0 && text.charCodeAt(length - 1) === 0x3d)
    padding = text.charCodeAt(length - 2) === 0x3d ? 2 : 1;
  const dataChars = length - padding;
  for (let i = 0; i < dataChars; i++) {
    const c = text.charCodeAt(i);
    if (c > 127 || (BASE64_VALUE[c] as number) < 0) return undefined;
  }
  if (padding > 0) {
    const last = BASE64_VALUE[text.charCodeAt(dataChars - 1)] as number;
    // One `=`: the last character carries 2 unused bits; two `==`: 4 unused bits.
    if ((last & (padding === 1 ? 0b11 : 0b1111)) !== 0) return undefined;
  }
  return Buffer.from(text, 'base64');
}

/** End of an RFC 8941 key (`[a-z*][a-z0-9_.*-]*`) starting at `i`; `i` when there is none. */
function scanKey(s: string, i: number): number {
  const first = s.charCodeAt(i);
  if (!((first >= 0x61 && first <= 0x7a) || first === 0x2a)) return i;
  let j = i + 1;
  for (; j < s.length; j++) {
    const c = s.charCodeAt(j);
    const ok =
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x30 && c <= 0x39) ||
      c === 0x5f ||
      c === 0x2d ||
      c === 0x2e ||
      c === 0x2a;
    if (!ok) break;
  }
  return j;
}

/**
 * An RFC 8941 string (§4.2.5) starting at `i`: printable ASCII, `\"` and `\\` escapes. Pushes
 * the unescaped value onto `out` and returns the index after the closing quote, or -1.
 */
function scanString(s: string, i: number, out: string[]): number {
  if (s.charCodeAt(i) !== QUOTE) return -1;
  let value = '';
  let from = i + 1;
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === QUOTE) {
      out.push(value + s.slice(from, j));
      return j + 1;
    }
    if (c === BACKSLASH) {
      const next = s.charCodeAt(j + 1);
      if (next !== QUOTE && next !== BACKSLASH) return -1;
      value += s.slice(from, j);
      from = j + 1;
      j++;
    } else if (c < 0x20 || c > 0x7e) {
      return -1;
    }
  }
  return -1;
}

/**
 * A canonical RFC 8941 integer (§4.1.4) starting at `i`: at most 15 digits, no leading zero,
 * no "-0". Returns the index after it, or -1. A decimal point fails later (not `;` or end).
 */
function scanInteger(s: string, i: number): number {
  let j = s.charCodeAt(i) === 0x2d ? i + 1 : i;
  const digitsStart = j;
  while (j < s.length && s.charCodeAt(j) >= 0x30 && s.charCodeAt(j) <= 0x39) j++;
  const digits = j - digitsStart;
  if (digits === 0 || digits > 15) return -1;
  if (s.charCodeAt(digitsStart) === 0x30 && (digits > 1 || digitsStart > i)) return -1;
  return j;
}
