import { describe, expect, it } from 'vitest';
import { createClientIpResolver } from '../../../src/core/net/client-ip.js';
import { isPortcullisError } from '../../../src/core/errors.js';

const PROXY = '10.0.0.1';
const resolve = createClientIpResolver({ trustedProxies: ['10.0.0.0/8', '2001:db8:ffff::/48'] });

describe('client address without trusted proxies', () => {
  const direct = createClientIpResolver({ trustedProxies: [] });

  it('uses the socket address', () => {
    expect(direct('203.0.113.7', undefined)).toBe('203.0.113.7');
  });

  it('ignores X-Forwarded-For', () => {
    expect(direct('203.0.113.7', '1.1.1.1')).toBe('203.0.113.7');
  });

  it('writes an IPv4-mapped socket address as IPv4', () => {
    expect(direct('::ffff:203.0.113.7', undefined)).toBe('203.0.113.7');
  });

  it('writes an IPv6 socket address in RFC 5952 form', () => {
    expect(direct('2001:DB8:0:0:0:0:0:1', undefined)).toBe('2001:db8::1');
  });

  it('drops the zone of a link-local socket address', () => {
    expect(direct('fe80::1%eth0', undefined)).toBe('fe80::1');
  });
});

describe('client address behind trusted proxies', () => {
  it('ignores a spoofed X-Forwarded-For from an untrusted peer', () => {
    expect(resolve('203.0.113.7', '10.0.0.5, 1.1.1.1')).toBe('203.0.113.7');
  });

  it('ignores X-Forwarded-For from an untrusted IPv4-mapped peer', () => {
    expect(resolve('::ffff:203.0.113.7', '1.1.1.1')).toBe('203.0.113.7');
  });

  it('uses the peer when a trusted proxy sends no header', () => {
    expect(resolve(PROXY, undefined)).toBe(PROXY);
  });

  it('uses the peer when the header is empty', () => {
    expect(resolve(PROXY, '')).toBe(PROXY);
  });

  it('takes the hop a trusted proxy appended', () => {
    expect(resolve(PROXY, '198.51.100.4')).toBe('198.51.100.4');
  });

  it('takes the right-most untrusted hop, not the client-written left ones', () => {
    expect(resolve(PROXY, '6.6.6.6, 198.51.100.4')).toBe('198.51.100.4');
  });

  it('skips a chain of trusted proxies', () => {
    expect(resolve(PROXY, '6.6.6.6, 198.51.100.4, 10.1.1.1, 10.2.2.2')).toBe('198.51.100.4');
  });

  it('recognises a trusted peer written as IPv4-mapped IPv6', () => {
    expect(resolve('::ffff:10.0.0.1', '198.51.100.4')).toBe('198.51.100.4');
  });

  it('uses the left-most hop when every hop is trusted', () => {
    expect(resolve(PROXY, '10.9.9.9, 10.8.8.8')).toBe('10.9.9.9');
  });

  it('stops at a malformed hop and uses the last good one', () => {
    expect(resolve(PROXY, '198.51.100.4, unknown, 10.3.3.3')).toBe('10.3.3.3');
  });

  it('uses the peer when the nearest hop is malformed', () => {
    expect(resolve(PROXY, '198.51.100.4, 198.51.100.5:443')).toBe(PROXY);
  });

  it('treats a hop with a leading-zero octet as malformed', () => {
    expect(resolve(PROXY, '010.0.0.9')).toBe(PROXY);
  });

  it('does not read past a malformed hop to a client-written address', () => {
    expect(resolve(PROXY, '6.6.6.6, [::1]')).toBe(PROXY);
  });

  it('skips empty list elements', () => {
    expect(resolve(PROXY, ' , 198.51.100.4 ,, ')).toBe('198.51.100.4');
  });

  it('reads several header lines as one list, the last line nearest', () => {
    expect(resolve(PROXY, ['198.51.100.4', '10.5.5.5'])).toBe('198.51.100.4');
  });

  it('takes the untrusted hop from the last header line first', () => {
    expect(resolve(PROXY, ['6.6.6.6', '198.51.100.4'])).toBe('198.51.100.4');
  });

  it('normalises the hop it returns', () => {
    expect(resolve(PROXY, '::FFFF:198.51.100.4')).toBe('198.51.100.4');
  });

  it('accepts an IPv6 trusted peer and an IPv6 client hop', () => {
    expect(resolve('2001:db8:ffff::2', '2001:DB8:1::0:5')).toBe('2001:db8:1::5');
  });

  it('skips a trusted IPv6 hop', () => {
    expect(resolve(PROXY, '2001:db8:1::5, 2001:db8:ffff::9')).toBe('2001:db8:1::5');
  });
});

describe('createClientIpResolver configuration', () => {
  it('refuses an invalid trusted proxy CIDR with CONFIG_INVALID', () => {
    let code: string | undefined;
    try {
      createClientIpResolver({ trustedProxies: ['10.0.0.1/8'] });
    } catch (error) {
      code = isPortcullisError(error) ? error.code : 'other';
    }
    expect(code).toBe('CONFIG_INVALID');
  });
});
