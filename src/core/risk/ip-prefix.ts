/**
 * The address prefix the risk engine remembers per key: /24 for IPv4 (one hosting subnet or one
 * household NAT range), /48 for IPv6 (one site, RFC 6177 §3). Coarser than the /64 rate-limit
 * bucket on purpose: a key moving inside its provider's /48 is not "a new place".
 */
import * as ipaddrNamespace from 'ipaddr.js';

// ipaddr.js is CommonJS typed with `export =`; under Node's ESM loader its API is the default.
const ipaddr = (ipaddrNamespace as unknown as { default: typeof ipaddrNamespace }).default;

/** `203.0.113.0/24` or `2001:db8:1::/48`; undefined when `address` is not an IP address. */
export function riskIpPrefix(address: string): string | undefined {
  let parsed: ReturnType<typeof ipaddr.parse>;
  try {
    parsed = ipaddr.parse(address);
  } catch {
    return undefined;
  }
  if (parsed.kind() === 'ipv4') {
    if (!ipaddr.IPv4.isValidFourPartDecimal(address)) return undefined;
    return prefix24(parsed as InstanceType<typeof ipaddr.IPv4>);
  }
  const v6 = parsed as InstanceType<typeof ipaddr.IPv6>;
  // IPv4-mapped IPv6 (RFC 4291 §2.5.5.2) is the IPv4 peer of a dual-stack socket.
  if (v6.isIPv4MappedAddress()) return prefix24(v6.toIPv4Address());
  const [a = 0, b = 0, c = 0] = v6.parts;
  return `${new ipaddr.IPv6([a, b, c, 0, 0, 0, 0, 0]).toRFC5952String()}/48`;
}

function prefix24(v4: InstanceType<typeof ipaddr.IPv4>): string {
  const [a, b, c] = v4.octets;
  return `${a}.${b}.${c}.0/24`;
}
