import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_ALLOWLIST_ENTRIES,
  normalizeIp,
  parseCidr,
  parseCidrList,
} from '../../../src/core/net/cidr.js';
import { ipaddr } from './ipaddr-reference.js';

describe('parseCidr accepts and normalises', () => {
  it.each([
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['1.2.3.4', '1.2.3.4/32'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['255.255.255.255/32', '255.255.255.255/32'],
    ['192.168.1.0/24', '192.168.1.0/24'],
    ['::ffff:1.2.3.4', '1.2.3.4/32'],
    ['::ffff:1.2.3.0/120', '1.2.3.0/24'],
    ['::FFFF:102:304', '1.2.3.4/32'],
    ['::ffff:0:0/96', '0.0.0.0/0'],
    ['::fffe:0:0/95', '::fffe:0:0/95'],
    ['2001:DB8::/32', '2001:db8::/32'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1/128'],
    ['2001:db8:0:0:1:0:0:1/128', '2001:db8::1:0:0:1/128'],
    ['2001:db8::0:1', '2001:db8::1/128'],
    ['::/0', '::/0'],
    ['::1', '::1/128'],
    ['::', '::/128'],
    ['fe80::/10', 'fe80::/10'],
    ['2001:db8::1.2.3.4', '2001:db8::102:304/128'],
  ])('%s → %s', (text, cidr) => {
    expect(parseCidr(text)).toEqual({ ok: true, cidr });
  });
});

describe('parseCidr refuses', () => {
  it.each([
    ['an empty string', ''],
    ['leading whitespace', ' 10.0.0.0/8'],
    ['trailing whitespace', '10.0.0.0/8 '],
    ['inner whitespace', '10.0.0.0 /8'],
    ['a tab', '10.0.0.0/8\t'],
    ['a text longer than 128 characters', `${'1'.repeat(130)}`],
    ['a leading zero in an octet', '010.0.0.1'],
    ['a leading zero in the last octet', '10.0.0.01'],
    ['a leading zero in an embedded IPv4 tail', '::ffff:010.0.0.1'],
    ['a zone id', 'fe80::1%eth0'],
    ['a zone id with a prefix', 'fe80::%1/64'],
    ['host bits set (IPv4)', '10.0.0.1/8'],
    ['host bits set (IPv6)', '2001:db8::1/32'],
    ['host bits set (IPv4-mapped)', '::ffff:1.2.3.4/120'],
    ['an IPv4 prefix above 32', '10.0.0.0/33'],
    ['an IPv6 prefix above 128', '::/129'],
    ['an empty prefix', '10.0.0.0/'],
    ['a prefix with a leading zero', '10.0.0.0/08'],
    ['a signed prefix', '10.0.0.0/+8'],
    ['a netmask instead of a prefix', '10.0.0.0/255.0.0.0'],
    ['two slashes', '10.0.0.0/8/8'],
    ['an octet above 255', '256.0.0.0'],
    ['three octets', '10.0.0'],
    ['five octets', '10.0.0.0.0'],
    ['shorthand IPv4', '127.1'],
    ['hex IPv4', '0x7f.0.0.1'],
    ['an empty octet', '10..0.0'],
    ['a port', '10.0.0.1:80'],
    ['brackets', '[::1]'],
    ['two :: in IPv6', '1::2::3'],
    ['nine IPv6 groups', '1:2:3:4:5:6:7:8:9'],
    ['a five-digit IPv6 group', '20010::1'],
    ['a hostname', 'localhost'],
    ['the deprecated IPv4-compatible form', '::1.2.3.4'],
    ['the deprecated IPv4-compatible form in full', '0:0:0:0:0:0:1.2.3.4/128'],
    ['a negative number', '-1'],
  ])('%s', (_, text) => {
    expect(parseCidr(text).ok).toBe(false);
  });

  it('names the network when host bits are set', () => {
    const result = parseCidr('10.0.0.1/8');
    expect(result.ok ? '' : result.error).toContain('10.0.0.0/8');
  });
});

describe('parseCidrList', () => {
  it('normalises every entry', () => {
    expect(parseCidrList(['10.0.0.0/8', '::ffff:1.2.3.4'])).toEqual({
      ok: true,
      cidrs: ['10.0.0.0/8', '1.2.3.4/32'],
    });
  });

  it('keeps entries equal after normalisation once, in first-seen order', () => {
    expect(parseCidrList(['1.2.3.4', '2001:db8::/32', '::ffff:1.2.3.4/128', '1.2.3.4/32'])).toEqual(
      { ok: true, cidrs: ['1.2.3.4/32', '2001:db8::/32'] },
    );
  });

  it('reports every bad entry at once', () => {
    const result = parseCidrList(['10.0.0.1/8', '10.0.0.0/8', 'nope', '']);
    expect(result.ok ? [] : result.errors).toHaveLength(3);
  });

  it('names the index of each bad entry', () => {
    const result = parseCidrList(['10.0.0.0/8', 'nope']);
    expect(result.ok ? [] : result.errors).toEqual([expect.stringMatching(/^entry 1: /)]);
  });

  it('accepts an empty list', () => {
    expect(parseCidrList([])).toEqual({ ok: true, cidrs: [] });
  });

  it(`accepts ${MAX_ALLOWLIST_ENTRIES} entries`, () => {
    const texts = Array.from({ length: MAX_ALLOWLIST_ENTRIES }, (_, i) => `10.0.${i}.0/24`);
    expect(parseCidrList(texts).ok).toBe(true);
  });

  it(`refuses more than ${MAX_ALLOWLIST_ENTRIES} entries`, () => {
    const texts = Array.from({ length: MAX_ALLOWLIST_ENTRIES + 1 }, (_, i) => `10.0.${i}.0/24`);
    expect(parseCidrList(texts).ok).toBe(false);
  });
});

describe('normalizeIp', () => {
  it.each([
    ['1.2.3.4', '1.2.3.4'],
    ['::ffff:1.2.3.4', '1.2.3.4'],
    ['::FFFF:0102:0304', '1.2.3.4'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['::1', '::1'],
    // RFC 4291 §2.5.5.1: IPv4-compatible, a different address from ::ffff:1.2.3.4.
    ['::1.2.3.4', '::102:304'],
  ])('%s → %s', (text, expected) => {
    expect(normalizeIp(text)).toBe(expected);
  });

  it.each(['', '1.2.3.4/32', '010.1.1.1', 'fe80::1%eth0', ' 1.2.3.4', 'unknown', '1.2.3.4:80'])(
    'refuses %j',
    (text) => {
      expect(normalizeIp(text)).toBeUndefined();
    },
  );

  it('gives an IPv4 address back unchanged', () => {
    fc.assert(
      fc.property(fc.ipV4(), (ip) => {
        expect(normalizeIp(ip)).toBe(ip);
      }),
      { numRuns: 500 },
    );
  });

  it('agrees with ipaddr.js on every IPv6 address', () => {
    fc.assert(
      fc.property(fc.ipV6(), (ip) => {
        // fast-check may write an embedded IPv4 tail with leading zeros, which we refuse.
        fc.pre(!/(^|[.:])0\d+(\.|$)/.test(ip.slice(ip.lastIndexOf(':') + 1)) || !ip.includes('.'));
        // ipaddr.js reads `::a.b.c.d` as IPv4-mapped; RFC 4291 §2.5.5.1 says IPv4-compatible.
        fc.pre(!/^::[0-9.]+$/.test(ip));
        const parsed = ipaddr.IPv6.parse(ip);
        const expected = parsed.isIPv4MappedAddress()
          ? parsed.toIPv4Address().toString()
          : parsed.toRFC5952String();
        expect(normalizeIp(ip)).toBe(expected);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('IPv6 text acceptance', () => {
  const STRICT_IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
  const mutated = fc
    .tuple(fc.ipV6(), fc.nat(50), fc.constantFrom('', ':', '.', '0', 'f', '::', '1.2'))
    .map(([ip, at, insert]) => ip.slice(0, at) + insert + ip.slice(at + (insert === '' ? 1 : 0)));
  const noise = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.'), maxLength: 45 });

  it('accepts exactly what ipaddr.js accepts, less non-strict IPv4 tails', () => {
    fc.assert(
      fc.property(fc.oneof(mutated, noise), (text) => {
        fc.pre(text.includes(':'));
        const tail = text.slice(text.lastIndexOf(':') + 1);
        const expected =
          ipaddr.IPv6.isValid(text) && (!tail.includes('.') || STRICT_IPV4.test(tail));
        expect(normalizeIp(text) !== undefined).toBe(expected);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('parseCidr properties', () => {
  it('accepts every IPv4 network with its prefix, unchanged', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 32 }), (ip, prefix) => {
        const network = ipaddr.IPv4.networkAddressFromCIDR(`${ip}/${prefix}`).toString();
        expect(parseCidr(`${network}/${prefix}`)).toEqual({
          ok: true,
          cidr: `${network}/${prefix}`,
        });
      }),
      { numRuns: 1000 },
    );
  });

  it('writes every IPv6 network in RFC 5952 form, and is idempotent', () => {
    fc.assert(
      fc.property(fc.ipV6(), fc.integer({ min: 0, max: 128 }), (ip, prefix) => {
        const network = ipaddr.IPv6.networkAddressFromCIDR(`${ip}/${prefix}`);
        fc.pre(!(network.isIPv4MappedAddress() && prefix >= 96));
        const result = parseCidr(`${network.toNormalizedString()}/${prefix}`);
        expect(result).toEqual({ ok: true, cidr: `${network.toRFC5952String()}/${prefix}` });
        if (result.ok) expect(parseCidr(result.cidr)).toEqual(result);
      }),
      { numRuns: 1000 },
    );
  });
});
