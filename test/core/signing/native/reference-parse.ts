/**
 * A slow, obviously faithful reading of Signature-Input / Signature with the structured-headers
 * package (RFC 8941), used as the oracle for the hand-written scanner: parse generally, keep
 * what the profile's item types allow, and require the re-serialisation to equal the input.
 */
import { isInnerList, parseDictionary, type Dictionary } from 'structured-headers';
import { serializeSignatureParams } from '../../../../src/core/signing/native/index.js';

export interface ReferenceParse {
  label: string;
  components: string[];
  params: [string, number | string][];
  signatureParams: string;
  signature: Buffer;
}

export function referenceParseSignatureHeaders(
  signatureInput: string,
  signature: string,
): ReferenceParse | undefined {
  const input = safeParse(signatureInput);
  const sig = safeParse(signature);
  if (input === undefined || sig === undefined || input.size !== 1 || sig.size !== 1) {
    return undefined;
  }
  const [label, member] = [...input][0] ?? [];
  if (label === undefined || member === undefined || !isInnerList(member)) return undefined;
  const components: string[] = [];
  for (const [bare, itemParams] of member[0]) {
    if (typeof bare !== 'string' || itemParams.size !== 0) return undefined;
    components.push(bare);
  }
  const params: [string, number | string][] = [];
  for (const [key, value] of member[1]) {
    if (typeof value === 'string' || (typeof value === 'number' && Number.isSafeInteger(value))) {
      params.push([key, value]);
    } else {
      return undefined;
    }
  }
  const signatureParams = serializeSignatureParams(components, params);
  if (signatureInput !== label + '=' + signatureParams) return undefined;
  const sigMember = sig.get(label);
  if (sigMember === undefined || isInnerList(sigMember)) return undefined;
  const bytes: unknown = sigMember[0];
  if (!(bytes instanceof ArrayBuffer) || sigMember[1].size !== 0) return undefined;
  const signatureBytes = Buffer.from(bytes);
  if (signature !== label + '=:' + signatureBytes.toString('base64') + ':') return undefined;
  return { label, components, params, signatureParams, signature: signatureBytes };
}

function safeParse(text: string): Dictionary | undefined {
  try {
    return parseDictionary(text);
  } catch {
    return undefined;
  }
}
