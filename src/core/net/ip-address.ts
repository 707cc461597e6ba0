/**
 * Strict parsing of single IP addresses into numbers, shared by the CIDR parser, the allowlist
 * matcher and the client-address resolver. Not part of the public API of `core/net`.
 */
import * as ipaddrNamespace from 'ipaddr.js';

// ipaddr.js is CommonJS typed with `export =`; under Node's ESM loader its API is the default
// export, which this project's compiler options (no esModuleInterop) will not type directly.
const ipaddr = (ipaddrNamespace as unknown as { default: typeof ipaddrNamespace }).default;

/** IPv6 as four unsigned 32-bit words, most significant first. */
export type Ipv6Words = readonly [number, number, number, number];

/** A parsed address; IPv4-mapped IPv6 (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) is kept as IPv6 here. */
export type ParsedIp =
  | { readonly version: 4; readonly value: number }
  | { readonly version: 6; readonly words: Ipv6Words };

/** Longest text accepted for an address or CIDR; real ones are at most 49 characters. */
export const MAX_ADDRESS_TEXT_LENGTH = 128;

const CHAR_0 = 48;
const CHAR_9 = 57;
const CHAR_DOT = 46;
const CHAR_COLON = 58;
const CHAR_A = 97;
const CHAR_F = 102;
/** `ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255` */
const MAX_IPV6_TEXT_LENGTH = 45;

/**
 * Parses dotted-quad IPv4 into an unsigned 32-bit number. Only four decimal parts; a leading
 * zero (`010`) is refused because inet_aton and friends read it as octal, so the same text
 * would mean another address elsewhere. No shorthand forms (`127.1`, `0x7f.0.0.1`).
 */
export function parseIpv4(text: string): number | undefined {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= CHAR_0 && c <= CHAR_9) {
      if (digits === 1 && part === 0) return undefined; // leading zero
      part = part * 10 + (c - CHAR_0);
      if (part > 255) return undefined;
      digits++;
    } else if (c === CHAR_DOT) {
      if (digits === 0 || dots === 3) return undefined;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else {
      return undefined;
    }
  }
  if (digits === 0 || dots !== 3) return undefined;
  return value * 256 + part;
}

/**
 * Parses IPv6 text (RFC 4291 §2.2): up to eight groups of one to four hex digits, at most one
 * `::`, an optional dotted-quad IPv4 tail (itself strict). Zone ids (`%eth0`, RFC 6874) are
 * refused: they name an interface of one host and mean nothing in an allowlist. Hand-written
 * because it runs per request; a property test holds it equal to ipaddr.js.
 */
export function parseIpv6(text: string): Ipv6Words | undefined {
  const n = text.length;
  if (n < 2 || n > MAX_IPV6_TEXT_LENGTH) return undefined;
  const groups: number[] = [];
  let gapAt = -1;
  let i = 0;
  if (text.charCodeAt(0) === CHAR_COLON) {
    if (text.charCodeAt(1) !== CHAR_COLON) return undefined;
    gapAt = 0;
    i = 2;
  }
  while (i < n) {
    const start = i;
    let value = 0;
    let digit = hexValue(text.charCodeAt(i));
    while (digit >= 0 && i - start < 5) {
      value = value * 16 + digit;
      digit = hexValue(text.charCodeAt(++i));
    }
    if (text.charCodeAt(i) === CHAR_DOT) {
      const ipv4 = parseIpv4(text.slice(start));
      if (ipv4 === undefined) return undefined;
      groups.push(ipv4 >>> 16, ipv4 & 0xffff);
      break;
    }
    if (i === start || i - start > 4) return undefined;
    groups.push(value);
    if (i === n) break;
    if (text.charCodeAt(i) !== CHAR_COLON || ++i === n) return undefined;
    if (text.charCodeAt(i) === CHAR_COLON) {
      if (gapAt >= 0) return undefined;
      gapAt = groups.length;
      i++;
    }
  }
  return toWords(groups, gapAt);
}

/** Expands `::` (one or more zero groups) and packs eight groups into four words. */
function toWords(groups: number[], gapAt: number): Ipv6Words | undefined {
  if (gapAt < 0 ? groups.length !== 8 : groups.length > 7) return undefined;
  if (gapAt >= 0) groups.splice(gapAt, 0, ...new Array<number>(8 - groups.length).fill(0));
  const word = (k: number): number =>
    ((groups[2 * k] ?? 0) * 0x10000 + (groups[2 * k + 1] ?? 0)) >>> 0;
  return [word(0), word(1), word(2), word(3)];
}

function hexValue(c: number): number {
  if (c >= CHAR_0 && c <= CHAR_9) return c - CHAR_0;
  const lower = c | 0x20;
  return lower >= CHAR_A && lower <= CHAR_F ? lower - CHAR_A + 10 : -1;
}

/** Parses either family; undefined when the text is not exactly one address. */
export function parseIp(text: string): ParsedIp | undefined {
  if (text.includes(':')) {
    const words = parseIpv6(text);
    return words === undefined ? undefined : { version: 6, words };
  }
  const value = parseIpv4(text);
  return value === undefined ? undefined : { version: 4, value };
}

/** True for `::ffff:0:0/96`, the IPv4-mapped block (RFC 4291 §2.5.5.2). */
export function isIpv4Mapped(words: Ipv6Words): boolean {
  return words[0] === 0 && words[1] === 0 && words[2] === 0xffff;
}

/** Dotted-quad text of an unsigned 32-bit number. */
export function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`;
}

/** RFC 5952 §4 text: lower case, leading zeros dropped, the longest zero run compressed. */
export function formatIpv6(words: Ipv6Words): string {
  const parts: number[] = [];
  for (const word of words) parts.push(word >>> 16, word & 0xffff);
  return new ipaddr.IPv6(parts).toRFC5952String();
}

/** The canonical text of an address: IPv4-mapped IPv6 is written as IPv4. */
export function formatIp(ip: ParsedIp): string {
  if (ip.version === 4) return formatIpv4(ip.value);
  return isIpv4Mapped(ip.words) ? formatIpv4(ip.words[3]) : formatIpv6(ip.words);
}
