import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileAllowlist, parseCidr } from '../../../src/core/net/cidr.js';
import { ipaddr, type IPv4, type IPv6 } from './ipaddr-reference.js';

describe('compileAllowlist', () => {
  it('lets every address through an empty list', () => {
    expect(compileAllowlist([])('203.0.113.9')).toBe(true);
  });

  it.each([
    // [list, ip, expected]
    [['10.0.0.0/8'], '10.0.0.0', true],
    [['10.0.0.0/8'], '10.255.255.255', true],
    [['10.0.0.0/8'], '9.255.255.255', false],
    [['10.0.0.0/8'], '11.0.0.0', false],
    [['1.2.3.4/32'], '1.2.3.4', true],
    [['1.2.3.4/32'], '1.2.3.5', false],
    [['0.0.0.0/0'], '255.255.255.255', true],
    [['0.0.0.0/0'], '0.0.0.0', true],
    [['0.0.0.0/0'], '2001:db8::1', false],
    [['255.255.255.255/32'], '255.255.255.255', true],
    [['128.0.0.0/1'], '127.255.255.255', false],
    [['128.0.0.0/1'], '128.0.0.0', true],
    [['10.0.0.0/8'], '::ffff:10.1.2.3', true],
    [['10.0.0.0/8'], '::ffff:a01:203', true],
    [['10.0.0.0/8', '192.168.0.0/16'], '192.168.7.7', true],
    [['10.0.0.0/9', '10.128.0.0/9'], '10.127.255.255', true],
    [['10.0.0.0/9', '10.128.0.0/9'], '10.128.0.0', true],
    [['2001:db8::/32'], '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', true],
    [['2001:db8::/32'], '2001:db9::', false],
    [['2001:db8::/32'], '2001:DB8::1', true],
    [['2001:db8::1/128'], '2001:db8::1', true],
    [['2001:db8::1/128'], '2001:db8::2', false],
    [['2001:db8::/127'], '2001:db8::1', true],
    [['2001:db8::/127'], '2001:db8::2', false],
    [['2001:db8:0:0:8000::/65'], '2001:db8::7fff:ffff:ffff:ffff', false],
    [['2001:db8:0:0:8000::/65'], '2001:db8::8000:0:0:0', true],
    [['::/0'], '2001:db8::1', true],
    [['::/0'], '1.2.3.4', true],
    [['::fffe:0:0/95'], '1.2.3.4', true],
    [['::fffe:0:0/96'], '1.2.3.4', false],
    [['2001:db8::/32'], '10.0.0.1', false],
    [['10.0.0.0/8'], 'not-an-ip', false],
    [['10.0.0.0/8'], '', false],
    [['10.0.0.0/8'], '010.0.0.1', false],
  ] as const)('%j matches %s: %s', (list, ip, expected) => {
    expect(compileAllowlist(list)(ip)).toBe(expected);
  });

  it('matches nothing when every entry is invalid, rather than everything', () => {
    expect(compileAllowlist(['not-a-cidr'])('1.2.3.4')).toBe(false);
  });

  it('ignores an invalid entry next to valid ones', () => {
    expect(compileAllowlist(['10.0.0.1/8', '1.2.3.4/32'])('10.0.0.1')).toBe(false);
  });
});

// ---- property: the compiled matcher agrees with a naive ipaddr.js reference ----

/** Naive reference: everything in IPv6 space (IPv4 as IPv4-mapped), one `match` per entry. */
function referenceMatch(cidrs: readonly string[], ip: string): boolean {
  if (cidrs.length === 0) return true;
  const toV6 = (address: IPv4 | IPv6): IPv6 =>
    address.kind() === 'ipv4' ? (address as IPv4).toIPv4MappedAddress() : (address as IPv6);
  const client = toV6(ipaddr.parse(ip));
  return cidrs.some((cidr) => {
    const [network, prefix] = ipaddr.parseCIDR(cidr);
    return client.match(toV6(network), network.kind() === 'ipv4' ? prefix + 96 : prefix);
  });
}

const cidrArbitrary: fc.Arbitrary<string> = fc
  .oneof(
    fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([ip, prefix]) => {
      return `${ipaddr.IPv4.networkAddressFromCIDR(`${ip}/${prefix}`).toString()}/${prefix}`;
    }),
    fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })).map(([ip, prefix]) => {
      return `${ipaddr.IPv6.networkAddressFromCIDR(`${ip}/${prefix}`).toRFC5952String()}/${prefix}`;
    }),
    // Short IPv6 prefixes that may or may not cover the IPv4-mapped block.
    fc.integer({ min: 0, max: 96 }).map((prefix) => {
      return `${ipaddr.IPv6.networkAddressFromCIDR(`::ffff:0:0/${prefix}`).toRFC5952String()}/${prefix}`;
    }),
  )
  .map((text) => {
    const parsed = parseCidr(text);
    return parsed.ok ? parsed.cidr : '0.0.0.0/32';
  });

/** Addresses near the listed ranges (flipping a few low bits) as well as random ones. */
function ipArbitrary(cidrs: readonly string[]): fc.Arbitrary<string> {
  const near =
    cidrs.length === 0
      ? fc.ipV4()
      : fc
          .tuple(fc.constantFrom(...cidrs), fc.array(fc.nat(127), { maxLength: 3 }))
          .map(([cidr, flips]) => {
            const [network] = ipaddr.parseCIDR(cidr);
            const bytes = network.toByteArray();
            for (const bit of flips) {
              const index = bytes.length - 1 - Math.floor((bit % (bytes.length * 8)) / 8);
              bytes[index] = (bytes[index] ?? 0) ^ (1 << (bit % 8));
            }
            return ipaddr.fromByteArray(bytes).toString();
          });
  const mapped = fc.ipV4().map((ip) => `::ffff:${ip}`);
  return fc.oneof(
    near,
    fc.ipV4(),
    mapped,
    fc.ipV6().map((ip) => ipaddr.parse(ip).toString()),
  );
}

describe('compileAllowlist property', () => {
  it('agrees with the naive ipaddr.js reference', () => {
    fc.assert(
      fc.property(
        fc
          .array(cidrArbitrary, { maxLength: 8 })
          .chain((cidrs) =>
            fc.tuple(
              fc.constant(cidrs),
              fc.array(ipArbitrary(cidrs), { minLength: 1, maxLength: 8 }),
            ),
          ),
        ([cidrs, ips]) => {
          const matches = compileAllowlist(cidrs);
          for (const ip of ips) expect(matches(ip)).toBe(referenceMatch(cidrs, ip));
        },
      ),
      { numRuns: 1500 },
    );
  });
});
