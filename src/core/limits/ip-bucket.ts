/**
 * The rate-limit subject for a client address. One IPv6 subscriber usually gets a whole /64
 * (RFC 6177; SLAAC hosts pick any address inside it, RFC 4862 §5.5.3), so limiting by single
 * IPv6 addresses would hand one client 2^64 budgets. IPv4-mapped IPv6 (`::ffff:1.2.3.4`,
 * RFC 4291 §2.5.5.2, what a dual-stack socket reports for IPv4 peers) is the IPv4 address.
 */
import * as ipaddrNamespace from 'ipaddr.js';

// ipaddr.js is CommonJS typed with `export =`; under Node's ESM loader its API is the default.
const ipaddr = (ipaddrNamespace as unknown as { default: typeof ipaddrNamespace }).default;

/** Strict dotted-quad: four decimal octets 0–255, no leading zeros (those read as octal). */
const DOTTED_QUAD =
  /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/**
 * `1.2.3.4` for IPv4 (and IPv4-mapped IPv6), `2001:db8:0:1::/64` for IPv6 (RFC 5952 text of
 * the /64 prefix), undefined if `address` is not an IP address. Runs per request: one parse,
 * no cache.
 */
export function ipBucket(address: string): string | undefined {
  // Fast path for the common case: plain dotted-quad IPv4 is already its own bucket.
  if (DOTTED_QUAD.test(address)) return address;
  let parsed: ReturnType<typeof ipaddr.parse>;
  try {
    parsed = ipaddr.parse(address);
  } catch {
    return undefined;
  }
  if (parsed.kind() === 'ipv4') {
    // ipaddr.parse also reads inet_aton shorthands (`1.2.3`, `0x7f.1`, octal `010.0.0.1`); a
    // socket never reports those, and accepting them would give one address several names.
    return ipaddr.IPv4.isValidFourPartDecimal(address) ? parsed.toString() : undefined;
  }
  const v6 = parsed as InstanceType<typeof ipaddr.IPv6>;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString();
  const [a = 0, b = 0, c = 0, d = 0] = v6.parts;
  return `${new ipaddr.IPv6([a, b, c, d, 0, 0, 0, 0]).toRFC5952String()}/64`;
}
