/**
 * Which address is the client? The socket peer, unless that peer is a configured trusted proxy;
 * then `X-Forwarded-For` is read from the right, because each proxy appends the address it saw
 * and only the entries appended by proxies we trust are facts — everything to their left was
 * written by the client and may be forged.
 *
 * `Forwarded` (RFC 7239), `X-Real-IP`, `True-Client-IP` and `CF-Connecting-IP` are never read:
 * one header, one trust rule, nothing a client can add that a proxy forgets to strip.
 */
import { PortcullisError } from '../errors.js';
import { normalizeIp, parseCidr } from './cidr.js';
import { compileCidrMatcher, type IpMatcher } from './compile-allowlist.js';

export interface ClientIpOptions {
  /** CIDRs of the proxies in front of the gateway whose `X-Forwarded-For` is believed. */
  readonly trustedProxies: readonly string[];
}

/** Derives the normalised client address from the socket peer and `X-Forwarded-For`. */
export type ClientIpResolver = (
  socketAddress: string,
  forwardedFor: string | string[] | undefined,
) => string;

/** Builds the resolver once at start-up; an invalid trusted-proxy CIDR is a configuration fault. */
export function createClientIpResolver(options: ClientIpOptions): ClientIpResolver {
  const errors = options.trustedProxies.flatMap((text, index) => {
    const parsed = parseCidr(text);
    return parsed.ok ? [] : [`trustedProxies[${index}] ${parsed.error}`];
  });
  if (errors.length > 0) {
    throw new PortcullisError('CONFIG_INVALID', 'trusted proxy list is invalid', errors);
  }
  if (options.trustedProxies.length === 0) return (socketAddress) => normalizePeer(socketAddress);
  const isTrusted = compileCidrMatcher(options.trustedProxies);
  return (socketAddress, forwardedFor) => {
    const peer = normalizePeer(socketAddress);
    if (forwardedFor === undefined || !isTrusted(peer)) return peer;
    return walkForwardedFor(peer, forwardedFor, isTrusted);
  };
}

/**
 * Walks the hops from the right (nearest first), skipping trusted proxies; the first untrusted
 * hop is the client. If every hop is trusted, the left-most one is the best we know. A
 * malformed hop (`unknown`, a port, garbage) stops the walk: nothing left of it can be tied to
 * a trusted writer, so the last good address — the proxy that wrote the bad entry — is used.
 * Empty list elements are skipped, as RFC 9110 §5.6.1 asks of recipients.
 */
function walkForwardedFor(
  peer: string,
  forwardedFor: string | string[],
  isTrusted: IpMatcher,
): string {
  const headers = typeof forwardedFor === 'string' ? [forwardedFor] : forwardedFor;
  let lastGood = peer;
  // Several header lines combine in order into one list (RFC 9110 §5.3), so the last line is nearest.
  for (let h = headers.length - 1; h >= 0; h--) {
    const header = headers[h] ?? '';
    let end = header.length;
    while (end > 0) {
      const comma = header.lastIndexOf(',', end - 1);
      const element = header.slice(comma + 1, end).trim();
      end = comma;
      if (element === '') continue;
      const hop = normalizeIp(element);
      if (hop === undefined) return lastGood;
      if (!isTrusted(hop)) return hop;
      lastGood = hop;
    }
  }
  return lastGood;
}

/**
 * The socket address in normal form. Node may report a link-local peer with its zone
 * (`fe80::1%eth0`); the zone is dropped because allowlists cannot name one. Anything that still
 * does not parse is returned as given, and then matches no allowlist entry.
 */
function normalizePeer(socketAddress: string): string {
  const normalized = normalizeIp(socketAddress);
  if (normalized !== undefined) return normalized;
  const zone = socketAddress.indexOf('%');
  const withoutZone = zone > 0 ? normalizeIp(socketAddress.slice(0, zone)) : undefined;
  return withoutZone ?? socketAddress;
}
