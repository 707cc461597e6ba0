/** The `cluster` section of the configuration: defaults, ranges, and the bound between the two. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { PortcullisError } from '../../src/core/errors.js';

const problemsOf = (raw: Record<string, unknown>): string[] => {
  try {
    loadConfig(raw, {}, '/tmp');
  } catch (error) {
    if (error instanceof PortcullisError && error.code === 'CONFIG_INVALID')
      return [...(error.details ?? [error.message])];
    throw error;
  }
  return [];
};

describe('cluster configuration', () => {
  it('defaults to a 1 s re-validation, a 30 s staleness bound and the portcullis: prefix', () => {
    expect(loadConfig({}, {}, '/tmp').cluster).toEqual({
      revalidateIntervalMs: 1_000,
      maxStalenessMs: 30_000,
      keyPrefix: 'portcullis:',
      replay: 'redis',
    });
  });

  it('reads the four fields', () => {
    const config = loadConfig(
      {
        cluster: {
          revalidateInterval: '250ms',
          maxStaleness: '5s',
          keyPrefix: 'venue-a:',
          replay: 'memory',
        },
      },
      {},
      '/tmp',
    );
    expect(config.cluster).toEqual({
      revalidateIntervalMs: 250,
      maxStalenessMs: 5_000,
      keyPrefix: 'venue-a:',
      replay: 'memory',
    });
  });

  it.each([
    [{ revalidateInterval: '10ms' }, '/cluster/revalidateInterval'],
    [{ revalidateInterval: '2m' }, '/cluster/revalidateInterval'],
    [{ revalidateInterval: '1s', maxStaleness: '1500ms' }, '/cluster/maxStaleness'],
    [{ revalidateInterval: 'soon' }, '/cluster/revalidateInterval'],
    [{ keyPrefix: 'has space' }, '/cluster/keyPrefix'],
    [{ replay: 'disk' }, '/cluster/replay'],
    [{ unknown: true }, '/cluster'],
  ])('refuses %j with a problem at its path', (cluster, path) => {
    const problems = problemsOf({ cluster });
    expect(problems.some((p) => p.startsWith(path))).toBe(true);
  });
});
