/** IP allowlist validation in the browser, before the API (which checks again) sees it. */

function isIpv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

function isIpv6(text: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(':')) return false;
  try {
    // The URL parser implements the WHATWG IPv6 grammar; a bad address throws.
    return new URL(`http://[${text}]/`).hostname !== '';
  } catch {
    return false;
  }
}

/** Why one allowlist entry is invalid, or undefined when it is a valid address or CIDR. */
export function ipEntryProblem(entry: string): string | undefined {
  const [address = '', prefix, extra] = entry.split('/');
  if (extra !== undefined) return 'more than one "/"';
  const v4 = isIpv4(address);
  if (!v4 && !isIpv6(address)) return 'not an IPv4 or IPv6 address';
  if (prefix === undefined) return undefined;
  const max = v4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max) return `prefix must be 0–${max}`;
  return undefined;
}

/** Splits the textarea (lines or commas) into entries and reports every bad one. */
export function parseAllowlist(text: string): { entries: string[]; problems: string[] } {
  const entries = text
    .split(/[\s,]+/)
    .map((e) => e.trim())
    .filter((e) => e !== '');
  const problems: string[] = [];
  for (const entry of entries) {
    const problem = ipEntryProblem(entry);
    if (problem !== undefined) problems.push(`${entry}: ${problem}`);
  }
  return { entries, problems };
}
