import { checkStrictJson } from '../../core/strict-json.js';
import type { HeaderBag } from '../../core/signing/types.js';

export type OAuthParams =
  { readonly ok: true; readonly params: ReadonlyMap<string, string> } | { readonly ok: false };

/**
 * The request parameters of an OAuth endpoint: the form body (RFC 6749 §4.4.2, the normal case)
 * or a flat JSON object (dialects whose signatures cover a JSON body), plus the query string
 * (dialects that sign the query). A parameter given twice, anywhere, is refused (RFC 6749 §3.2);
 * unknown parameters are ignored (§3.2) — they may be the dialect's own (timestamp, signature).
 */
export function readOAuthParams(
  headers: HeaderBag,
  rawQuery: string | null,
  body: Buffer,
): OAuthParams {
  const params = new Map<string, string>();
  const add = (name: string, value: string): boolean => {
    if (params.has(name)) return false;
    params.set(name, value);
    return true;
  };
  if (rawQuery !== null && rawQuery !== '') {
    for (const [name, value] of new URLSearchParams(rawQuery)) if (!add(name, value)) return FAIL;
  }
  if (body.length === 0) return { ok: true, params };
  const contentType = String(headers['content-type'] ?? '').toLowerCase();
  if (/^application\/(?:[\w.+-]+\+)?json\b/.test(contentType)) {
    if (!checkStrictJson(body).ok) return FAIL;
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return FAIL;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return FAIL;
    for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
      const text = typeof value === 'string' || typeof value === 'number' ? String(value) : null;
      if (text === null || !add(name, text)) return FAIL;
    }
    return { ok: true, params };
  }
  if (contentType === '' || contentType.startsWith('application/x-www-form-urlencoded')) {
    for (const [name, value] of new URLSearchParams(body.toString('utf8')))
      if (!add(name, value)) return FAIL;
    return { ok: true, params };
  }
  return FAIL;
}

const FAIL = { ok: false } as const;

/** The bearer token of an `Authorization: Bearer …` header (RFC 6750 §2.1), if any. */
export function bearerTokenOf(headers: HeaderBag): string | undefined {
  const value = headers.authorization;
  if (typeof value !== 'string') return undefined;
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(value);
  return match?.[1];
}
