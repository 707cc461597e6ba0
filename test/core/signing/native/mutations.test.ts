import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { acceptsNative, arbitrarySignedCase, keyFor, nativeMutationProperty } from './mutations.js';

describe('native scheme under mutation', () => {
  it('accepts every unmutated generated request (the property below is not vacuous)', () => {
    fc.assert(
      fc.property(arbitrarySignedCase, (signed) => acceptsNative(signed.request, keyFor(signed))),
      { numRuns: 300 },
    );
  });

  it('never accepts a request with one byte of a signed part changed', () => {
    expect(() => fc.assert(nativeMutationProperty(), { numRuns: 3000 })).not.toThrow();
  });
});
