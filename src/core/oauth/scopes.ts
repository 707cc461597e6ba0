import { isScope, SCOPES, type Scope } from '../keys/model.js';

export type ScopeRequest =
  { readonly ok: true; readonly scopes: readonly Scope[] | undefined } | { readonly ok: false };

/**
 * Parses an OAuth `scope` parameter (RFC 6749 §3.3: space-delimited, case-sensitive). Absent
 * means "everything the key has"; an empty value, an unknown name or a repeated one is refused.
 */
export function parseScopeParam(value: string | undefined): ScopeRequest {
  if (value === undefined) return { ok: true, scopes: undefined };
  const names = value.split(' ');
  const seen = new Set<Scope>();
  for (const name of names) {
    if (!isScope(name) || seen.has(name)) return { ok: false };
    seen.add(name);
  }
  return { ok: true, scopes: canonicalScopes([...seen]) };
}

export type Narrowed =
  | { readonly ok: true; readonly scopes: readonly Scope[] }
  | { readonly ok: false; readonly widened: readonly Scope[] };

/**
 * The scopes a token may carry: the requested ones when they are a non-empty subset of the key's,
 * all of the key's when none are requested. Asking for a scope the key lacks is a widening and
 * is refused as a whole (RFC 6749 §5.2 `invalid_scope`), never silently narrowed.
 */
export function narrowScopes(
  keyScopes: readonly Scope[],
  requested: readonly Scope[] | undefined,
): Narrowed {
  if (requested === undefined) return { ok: true, scopes: canonicalScopes(keyScopes) };
  const widened = requested.filter((scope) => !keyScopes.includes(scope));
  if (widened.length > 0 || requested.length === 0) return { ok: false, widened };
  return { ok: true, scopes: canonicalScopes(requested) };
}

/** Scopes in catalog order, without duplicates: one spelling of every set. */
export function canonicalScopes(scopes: readonly Scope[]): readonly Scope[] {
  return SCOPES.filter((scope) => scopes.includes(scope));
}

/** The `scope` claim / parameter value (space-delimited). */
export function formatScopes(scopes: readonly Scope[]): string {
  return canonicalScopes(scopes).join(' ');
}

/** Reads a `scope` claim back; undefined when it holds anything but known, distinct scopes. */
export function scopesOfClaim(value: unknown): readonly Scope[] | undefined {
  if (typeof value !== 'string') return undefined;
  if (value === '') return [];
  const parsed = parseScopeParam(value);
  return parsed.ok ? parsed.scopes : undefined;
}
