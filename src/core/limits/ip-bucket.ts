/**
 * The rate-limit subject for a client address. One IPv6 subscriber usually gets a whole /64
 * (RFC 6177; SLAAC hosts pick any address inside it, RFC 4862 §5.5.3), so limiting by single
 * IPv6 addresses would hand one client 2^64 budgets. IPv4-mapped IPv6 (`::ffff:1.2.3.4`,
 * RFC 4291 §2.5.5.2, what a dual-stack socket reports for IPv4 peers) is the IPv4 address.
 */
import { formatIpv4, formatIpv6, isIpv4Mapped, parseIpv4, parseIpv6 } from '../net/ip-address.js';

/**
 * `1.2.3.4` for IPv4 (and IPv4-mapped IPv6), `2001:db8:0:1::/64` for IPv6 (RFC 5952 text of
 * the /64 prefix), undefined if `address` is not an IP address. Runs per request: one
 * hand-written parse (the one allowlists use), no cache.
 */
export function ipBucket(address: string): string | undefined {
  if (!address.includes(':')) {
    // Strict dotted quad only: inet_aton shorthands (`1.2.3`, `0x7f.1`, octal `010.0.0.1`) would
    // give one address several names. A valid dotted quad is already its own canonical text.
    return parseIpv4(address) === undefined ? undefined : address;
  }
  // A zone id (`fe80::1%eth0`, RFC 6874) names an interface of the same host: drop it.
  const zone = address.indexOf('%');
  const words = parseIpv6(zone < 0 ? address : address.slice(0, zone));
  if (words === undefined) return undefined;
  if (isIpv4Mapped(words)) return formatIpv4(words[3]);
  return `${formatIpv6([words[0], words[1], 0, 0])}/64`;
}
