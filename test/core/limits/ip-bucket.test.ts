import { describe, expect, it } from 'vitest';
import { ipBucket } from '../../../src/core/limits/ip-bucket.js';

describe('ipBucket', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['::ffff:cb00:7107', '203.0.113.7'],
    ['2001:db8:0:1::1', '2001:db8:0:1::/64'],
    ['2001:DB8:0:1:ffff:ffff:ffff:ffff', '2001:db8:0:1::/64'],
    ['2001:db8::', '2001:db8::/64'],
    ['::1', '::/64'],
    ['fe80::1%eth0', 'fe80::/64'],
  ])('maps %s to %s', (address, bucket) => {
    expect(ipBucket(address)).toBe(bucket);
  });

  it('gives 1,000 addresses inside one /64 a single bucket', () => {
    const buckets = new Set<string | undefined>();
    for (let i = 0; i < 1_000; i++) {
      buckets.add(ipBucket(`2001:db8:aa:bb:${i.toString(16)}:${(i * 7).toString(16)}::${i}`));
    }
    expect([...buckets]).toEqual(['2001:db8:aa:bb::/64']);
  });

  it('keeps neighbouring /64 prefixes apart', () => {
    expect(ipBucket('2001:db8:0:1::1')).not.toBe(ipBucket('2001:db8:0:2::1'));
  });

  it.each(['', 'not-an-ip', '1.2.3', '0x7f.0.0.1', '010.0.0.1', '2001:db8:::1'])(
    'refuses %j',
    (address) => {
      expect(ipBucket(address)).toBeUndefined();
    },
  );
});
