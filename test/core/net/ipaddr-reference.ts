/** ipaddr.js as the reference implementation in tests (CommonJS default export under ESM). */
import * as ipaddrNamespace from 'ipaddr.js';

export const ipaddr = (ipaddrNamespace as unknown as { default: typeof ipaddrNamespace }).default;
export type IPv4 = ipaddrNamespace.IPv4;
export type IPv6 = ipaddrNamespace.IPv6;
