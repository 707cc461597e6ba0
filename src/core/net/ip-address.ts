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
 * Parses IPv6 text (RFC 4291 §2.2), case-insensitively. Zone ids (`%eth0`, RFC 6874) are refused:
 * they name an interface of one host and mean nothing in an allowlist. An embedded IPv4 tail
 * must itself be strict dotted-quad.
 */
export function parseIpv6(text: string): Ipv6Words | undefined {
  if (text.length > MAX_ADDRESS_TEXT_LENGTH || text.includes('%')) return undefined;
  const lastColon = text.lastIndexOf(':');
  if (lastColon < 0) return undefined;
  if (text.includes('.', lastColon) && parseIpv4(text.slice(lastColon + 1)) === undefined) {
    return undefined;
  }
  if (!ipaddr.IPv6.isValid(text)) return undefined;
  const parts = ipaddr.IPv6.parse(text).parts;
  const words: number[] = [];
  for (let i = 0; i < 8; i += 2)
    words.push(((parts[i] ?? 0) * 0x10000 + (parts[i + 1] ?? 0)) >>> 0);
  return words as unknown as Ipv6Words;
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
