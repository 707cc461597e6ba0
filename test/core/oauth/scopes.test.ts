import { describe, expect, it } from 'vitest';
import { narrowScopes, parseScopeParam, scopesOfClaim } from '../../../src/core/oauth/scopes.js';

describe('parseScopeParam (RFC 6749 §3.3)', () => {
  it.each([
    [undefined, { ok: true, scopes: undefined }],
    ['read', { ok: true, scopes: ['read'] }],
    ['trade read', { ok: true, scopes: ['read', 'trade'] }],
    ['', { ok: false }],
    ['read  trade', { ok: false }],
    ['read read', { ok: false }],
    ['READ', { ok: false }],
    ['admin', { ok: false }],
    ['read,trade', { ok: false }],
  ])('%j → %j', (input, expected) => {
    expect(parseScopeParam(input)).toEqual(expected);
  });
});

describe('narrowScopes', () => {
  it('grants every key scope when none is requested', () => {
    expect(narrowScopes(['trade', 'read'], undefined)).toEqual({
      ok: true,
      scopes: ['read', 'trade'],
    });
  });

  it('grants a subset as asked', () => {
    expect(narrowScopes(['read', 'trade'], ['trade'])).toEqual({ ok: true, scopes: ['trade'] });
  });

  it('refuses a widening as a whole, naming the scopes it would add', () => {
    expect(narrowScopes(['read'], ['read', 'withdraw'])).toEqual({
      ok: false,
      widened: ['withdraw'],
    });
  });
});

describe('scopesOfClaim', () => {
  it.each([
    ['read trade', ['read', 'trade']],
    ['', []],
    [42, undefined],
    ['read bogus', undefined],
  ])('%j → %j', (claim, expected) => {
    expect(scopesOfClaim(claim)).toEqual(expected);
  });
});
