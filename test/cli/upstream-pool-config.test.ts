/** The pool form of `environments.<env>.upstream`: defaults, validation, the single-URL form unchanged. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { PortcullisError } from '../../src/core/errors.js';

const withUpstream = (upstream: unknown) =>
  loadConfig({ environments: { sandbox: { upstream } } }, {}, '/srv/portcullis');

function problems(upstream: unknown): readonly string[] {
  try {
    withUpstream(upstream);
  } catch (error) {
    if (error instanceof PortcullisError && error.code === 'CONFIG_INVALID') {
      return (error.details as string[] | undefined) ?? [error.message];
    }
    throw error;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('upstream pool configuration', () => {
  it('the single-URL form has no pool', () => {
    const env = withUpstream('http://engine:9000').environments.sandbox;
    expect(env.upstream).toBe('http://engine:9000');
    expect(env.upstreamPool).toBeNull();
    expect(loadConfig({}, {}).environments.sandbox.upstreamPool).toBeNull();
  });

  it('targets with defaults: role primary, ejection 3 failures / 10 s, no health checks', () => {
    const env = withUpstream({
      targets: [{ url: 'http://a:1' }, { url: 'http://b:1/', role: 'backup' }],
    }).environments.sandbox;
    expect(env.upstream).toBe('http://a:1');
    expect(env.upstreamPool).toEqual({
      targets: [
        { url: 'http://a:1', role: 'primary' },
        { url: 'http://b:1', role: 'backup' },
      ],
      healthCheck: null,
      ejection: { consecutiveFailures: 3, cooldownMs: 10_000 },
    });
  });

  it('health checks: interval 5 s, timeout 1 s, down after 2, up after 1 by default', () => {
    const pool = withUpstream({
      targets: [{ url: 'http://a:1' }],
      healthCheck: { path: '/health' },
      ejection: { consecutiveFailures: 5, cooldown: '30s' },
    }).environments.sandbox.upstreamPool;
    expect(pool?.healthCheck).toEqual({
      path: '/health',
      intervalMs: 5_000,
      timeoutMs: 1_000,
      unhealthyThreshold: 2,
      healthyThreshold: 1,
    });
    expect(pool?.ejection).toEqual({ consecutiveFailures: 5, cooldownMs: 30_000 });
  });

  it.each([
    [
      'no primary',
      { targets: [{ url: 'http://a:1', role: 'backup' }] },
      'at least one target must be primary',
    ],
    [
      'a duplicate target',
      { targets: [{ url: 'http://a:1' }, { url: 'http://a:1/' }] },
      'duplicate target',
    ],
    ['a URL with a path', { targets: [{ url: 'http://a:1/api' }] }, 'origin without a path'],
    ['no targets', { targets: [] }, 'must NOT have fewer than 1 items'],
    ['an unknown role', { targets: [{ url: 'http://a:1', role: 'spare' }] }, 'allowed values'],
    [
      'a health timeout above the interval',
      {
        targets: [{ url: 'http://a:1' }],
        healthCheck: { path: '/h', interval: '1s', timeout: '2s' },
      },
      'must not exceed the interval',
    ],
    [
      'zero consecutive failures',
      { targets: [{ url: 'http://a:1' }], ejection: { consecutiveFailures: 0 } },
      'must be >= 1',
    ],
  ])('refuses %s', (_name, upstream, expected) => {
    expect(problems(upstream).join('\n')).toContain(expected);
  });
});
