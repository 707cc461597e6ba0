/**
 * The per-account withdrawal address book. An address must be on it to receive a withdrawal
 * when the account enables the rule, and a new entry only becomes usable after a cool-down
 * (default 24 h; industry practice is 12–48 h, reference §2.5 #7), so that a stolen key or
 * session cannot add an address and drain to it at once.
 */

/** Default cool-down between adding an address and using it. */
export const DEFAULT_ADDRESS_COOL_DOWN_MS = 24 * 3_600_000;

export interface AddressBookEntry {
  readonly id: string;
  readonly accountId: string;
  readonly asset: string;
  /** Chain/network, e.g. `ETH`, `TRX`; addresses are only valid on their network. */
  readonly network: string;
  readonly address: string;
  /** Destination tag / memo when the network needs one. */
  readonly memo?: string;
  readonly addedAt: number;
  /** Epoch ms from which the entry may receive withdrawals: addedAt + cool-down (or approval). */
  readonly usableFrom: number;
  /** Set when the entry was removed; removed entries never match. */
  readonly removedAt?: number;
}

export interface WithdrawalDestination {
  readonly asset: string;
  readonly network: string;
  readonly address: string;
  readonly memo?: string;
}

export type AddressCheck =
  | { readonly ok: true; readonly entry: AddressBookEntry | null }
  | { readonly ok: false; readonly reason: 'ADDRESS_NOT_ALLOWED' | 'ADDRESS_COOLING_DOWN' };

/** Creates an entry whose cool-down starts now. */
export function newAddressBookEntry(
  fields: Omit<AddressBookEntry, 'addedAt' | 'usableFrom' | 'removedAt'>,
  nowMs: number,
  coolDownMs: number = DEFAULT_ADDRESS_COOL_DOWN_MS,
): AddressBookEntry {
  return { ...fields, addedAt: nowMs, usableFrom: nowMs + Math.max(0, coolDownMs) };
}

/** Whether an entry may receive a withdrawal at `nowMs` (the cool-down ends inclusively). */
export function addressUsable(entry: AddressBookEntry, nowMs: number): boolean {
  return entry.removedAt === undefined && nowMs >= entry.usableFrom;
}

/**
 * Checks a destination against the book. Addresses compare exactly (case matters on several
 * chains); the memo must match when the entry has one. `required: false` lets any address pass.
 */
export function checkWithdrawalAddress(
  book: readonly AddressBookEntry[],
  destination: WithdrawalDestination,
  nowMs: number,
  required: boolean,
): AddressCheck {
  if (!required) return { ok: true, entry: null };
  let coolingDown = false;
  for (const entry of book) {
    if (entry.removedAt !== undefined) continue;
    if (
      entry.asset !== destination.asset ||
      entry.network !== destination.network ||
      entry.address !== destination.address ||
      (entry.memo ?? '') !== (destination.memo ?? '')
    ) {
      continue;
    }
    if (addressUsable(entry, nowMs)) return { ok: true, entry };
    coolingDown = true;
  }
  return { ok: false, reason: coolingDown ? 'ADDRESS_COOLING_DOWN' : 'ADDRESS_NOT_ALLOWED' };
}
