/**
 * The per-request address matcher. Compiled once per allowlist (on key load), called on the hot
 * path: IPv4 is a binary search over merged numeric intervals, IPv6 a masked compare of four
 * 32-bit words per range — no strings split, no BigInt, no allocation for IPv4 clients.
 */
import { ipv6Mask, parseCidr } from './cidr.js';
import { isIpv4Mapped, parseIp, type Ipv6Words } from './ip-address.js';

/** Decides whether a client address is inside a set of ranges. */
export type IpMatcher = (ip: string) => boolean;

interface Ipv6Range {
  readonly network: Ipv6Words;
  readonly mask: Ipv6Words;
}

const IPV4_MAPPED_BLOCK: Ipv6Words = [0, 0, 0xffff, 0];

/**
 * Compiles normalised CIDRs (from `parseCidr`) into a matcher. An empty list matches every
 * address: no allowlist means no restriction. An entry that does not parse matches nothing
 * (fail closed), and a list of only such entries still restricts — it never becomes "empty".
 * An IPv6 range that covers the IPv4-mapped block `::ffff:0:0/96` (e.g. `::/0`) also matches
 * the IPv4 addresses it covers, since an IPv4 client is exactly that address on a dual-stack socket.
 */
export function compileAllowlist(cidrs: readonly string[]): IpMatcher {
  if (cidrs.length === 0) return () => true;
  return compileCidrMatcher(cidrs);
}

/** Like `compileAllowlist`, except that an empty list matches nothing (trusted-proxy sets). */
export function compileCidrMatcher(cidrs: readonly string[]): IpMatcher {
  const { starts, ends, ipv6 } = compileRanges(cidrs);
  return (text: string): boolean => {
    const ip = parseIp(text);
    if (ip === undefined) return false;
    if (ip.version === 4) return inIntervals(starts, ends, ip.value);
    if (isIpv4Mapped(ip.words)) return inIntervals(starts, ends, ip.words[3]);
    return inIpv6Ranges(ipv6, ip.words);
  };
}

function compileRanges(cidrs: readonly string[]): {
  starts: Float64Array;
  ends: Float64Array;
  ipv6: readonly Ipv6Range[];
} {
  const intervals: [number, number][] = [];
  const ipv6: Ipv6Range[] = [];
  for (const text of cidrs) {
    const parsed = parseCidr(text);
    if (!parsed.ok) continue;
    const [address = '', prefixText = ''] = parsed.cidr.split('/');
    const prefix = Number(prefixText);
    const ip = parseIp(address);
    if (ip === undefined) continue;
    if (ip.version === 4) {
      intervals.push([ip.value, ip.value + 2 ** (32 - prefix) - 1]);
      continue;
    }
    const range: Ipv6Range = { network: ip.words, mask: ipv6Mask(prefix) };
    ipv6.push(range);
    // A range at most /96 that contains the mapped block contains every IPv4 address.
    if (prefix <= 96 && inIpv6Ranges([range], IPV4_MAPPED_BLOCK)) intervals.push([0, 0xffffffff]);
  }
  return { ...mergeIntervals(intervals), ipv6 };
}

/** Sorts and merges overlapping or adjacent intervals so one binary search answers. */
function mergeIntervals(intervals: [number, number][]): {
  starts: Float64Array;
  ends: Float64Array;
} {
  intervals.sort((a, b) => a[0] - b[0]);
  const starts: number[] = [];
  const ends: number[] = [];
  for (const [start, end] of intervals) {
    const last = ends.length - 1;
    if (last >= 0 && start <= (ends[last] ?? -1) + 1) {
      ends[last] = Math.max(ends[last] ?? end, end);
    } else {
      starts.push(start);
      ends.push(end);
    }
  }
  return { starts: Float64Array.from(starts), ends: Float64Array.from(ends) };
}

function inIntervals(starts: Float64Array, ends: Float64Array, value: number): boolean {
  // Find the last interval starting at or before `value`.
  let low = 0;
  let high = starts.length - 1;
  while (low <= high) {
    const mid = (low + high) >>> 1;
    if ((starts[mid] ?? Infinity) <= value) low = mid + 1;
    else high = mid - 1;
  }
  return high >= 0 && value <= (ends[high] ?? -1);
}

function inIpv6Ranges(ranges: readonly Ipv6Range[], words: Ipv6Words): boolean {
  for (const { network, mask } of ranges) {
    if (
      (words[0] & mask[0]) >>> 0 === network[0] &&
      (words[1] & mask[1]) >>> 0 === network[1] &&
      (words[2] & mask[2]) >>> 0 === network[2] &&
      (words[3] & mask[3]) >>> 0 === network[3]
    ) {
      return true;
    }
  }
  return false;
}
