/**
 * IP allowlist entries: strict parsing and normalisation of CIDRs typed by humans.
 *
 * Normal form: IPv4 as dotted quad, IPv6 as RFC 5952 text, always with a prefix length, and an
 * IPv4-mapped IPv6 range (`::ffff:1.2.3.0/120`) written as the IPv4 range it is (`1.2.3.0/24`),
 * because the gateway also sees IPv4 clients of a dual-stack socket as plain IPv4.
 *
 * Host bits set (`10.0.0.1/8`) are refused rather than masked: the typist meant either the host
 * or the network, and silently widening one address to sixteen million is the worse guess.
 */
import {
  MAX_ADDRESS_TEXT_LENGTH,
  formatIp,
  formatIpv4,
  formatIpv6,
  isIpv4Mapped,
  parseIp,
  type Ipv6Words,
} from './ip-address.js';

export { compileAllowlist } from './compile-allowlist.js';

export type CidrParseResult = { ok: true; cidr: string } | { ok: false; error: string };
export type CidrListParseResult = { ok: true; cidrs: string[] } | { ok: false; errors: string[] };

/** Most entries one allowlist may hold. */
export const MAX_ALLOWLIST_ENTRIES = 100;

const PREFIX = /^(?:0|[1-9][0-9]{0,2})$/;
const WHITESPACE = /\s/;

/** Parses one IPv4/IPv6 address or CIDR into its normal form, or says why it is refused. */
export function parseCidr(text: string): CidrParseResult {
  if (text.length === 0) return fail('is empty');
  if (text.length > MAX_ADDRESS_TEXT_LENGTH) return fail('is too long');
  if (WHITESPACE.test(text)) return fail('contains whitespace');
  if (text.includes('%')) return fail('carries a zone id, which an allowlist cannot use');
  const slash = text.indexOf('/');
  const addressText = slash < 0 ? text : text.slice(0, slash);
  const prefixText = slash < 0 ? undefined : text.slice(slash + 1);
  const ip = parseIp(addressText);
  if (ip === undefined) return fail('is not an IPv4 or IPv6 address');
  if (ip.version === 6 && isIpv4Compatible(ip.words) && addressText.includes('.')) {
    // `::1.2.3.4` is the deprecated IPv4-compatible form (RFC 4291 §2.5.5.1), not 1.2.3.4;
    // some libraries read it as IPv4-mapped, so the typist's intent is unknowable.
    return fail('uses the deprecated IPv4-compatible form; write a.b.c.d or ::ffff:a.b.c.d');
  }
  const maxPrefix = ip.version === 4 ? 32 : 128;
  let prefix = maxPrefix;
  if (prefixText !== undefined) {
    if (!PREFIX.test(prefixText)) return fail('has a malformed prefix length');
    prefix = Number(prefixText);
    if (prefix > maxPrefix) return fail(`has a prefix length above ${maxPrefix}`);
  }
  if (ip.version === 4) return hostBitsClear4(ip.value, prefix);
  if (isIpv4Mapped(ip.words) && prefix >= 96) return hostBitsClear4(ip.words[3], prefix - 96);
  return hostBitsClear6(ip.words, prefix);
}

/**
 * Parses a whole allowlist: every bad entry is reported at once (prefixed by its index), and
 * entries equal after normalisation are kept once, in first-seen order.
 */
export function parseCidrList(texts: readonly string[]): CidrListParseResult {
  if (texts.length > MAX_ALLOWLIST_ENTRIES) {
    return { ok: false, errors: [`at most ${MAX_ALLOWLIST_ENTRIES} entries are allowed`] };
  }
  const errors: string[] = [];
  const seen = new Set<string>();
  texts.forEach((text, index) => {
    const result = parseCidr(text);
    if (result.ok) seen.add(result.cidr);
    else errors.push(`entry ${index}: ${result.error}`);
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, cidrs: [...seen] };
}

/** The canonical text of one address (IPv4-mapped → IPv4, RFC 5952 IPv6); undefined if not one. */
export function normalizeIp(text: string): string | undefined {
  if (text.length > MAX_ADDRESS_TEXT_LENGTH) return undefined;
  const ip = parseIp(text);
  return ip === undefined ? undefined : formatIp(ip);
}

/** Network mask of an IPv4 prefix as an unsigned 32-bit number. */
export function ipv4Mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Network mask of an IPv6 prefix as four unsigned 32-bit words. */
export function ipv6Mask(prefix: number): Ipv6Words {
  const word = (i: number): number => ipv4Mask(Math.min(32, Math.max(0, prefix - 32 * i)));
  return [word(0), word(1), word(2), word(3)];
}

function hostBitsClear4(value: number, prefix: number): CidrParseResult {
  const network = (value & ipv4Mask(prefix)) >>> 0;
  const cidr = `${formatIpv4(network)}/${prefix}`;
  return network === value
    ? { ok: true, cidr }
    : fail(`has host bits set (the network is ${cidr})`);
}

function hostBitsClear6(words: Ipv6Words, prefix: number): CidrParseResult {
  const mask = ipv6Mask(prefix);
  const network: Ipv6Words = [
    (words[0] & mask[0]) >>> 0,
    (words[1] & mask[1]) >>> 0,
    (words[2] & mask[2]) >>> 0,
    (words[3] & mask[3]) >>> 0,
  ];
  const cidr = `${formatIpv6(network)}/${prefix}`;
  const clear = network.every((word, i) => word === words[i]);
  return clear ? { ok: true, cidr } : fail(`has host bits set (the network is ${cidr})`);
}

function isIpv4Compatible(words: Ipv6Words): boolean {
  return words[0] === 0 && words[1] === 0 && words[2] === 0;
}

function fail(error: string): CidrParseResult {
  return { ok: false, error };
}
