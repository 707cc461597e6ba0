import type { Balance, Ledger, Order } from '../ledger.js';

/** A change of one account's orders or balances, as WebSocket subscribers see it. */
export type LedgerEvent =
  | { readonly kind: 'order'; readonly order: Order }
  | { readonly kind: 'balances'; readonly balances: readonly Balance[] };

export interface LedgerEvents {
  /** Returns an unsubscribe function. */
  subscribe(accountId: string, listener: (event: LedgerEvent) => void): () => void;
}

/**
 * Wraps a ledger so that every order placed or canceled (through REST or WebSocket) is told to the
 * account's subscribers, followed by its balances. Listeners run synchronously after the change.
 */
export function withLedgerEvents(ledger: Ledger): { ledger: Ledger; events: LedgerEvents } {
  const listeners = new Map<string, Set<(event: LedgerEvent) => void>>();
  const emit = (accountId: string, order: Order): void => {
    const set = listeners.get(accountId);
    if (set === undefined || set.size === 0) return;
    const balances = ledger.balances(accountId);
    for (const listener of set) {
      listener({ kind: 'order', order });
      listener({ kind: 'balances', balances });
    }
  };
  const emitBalances = (accountId: string): void => {
    const set = listeners.get(accountId);
    if (set === undefined || set.size === 0) return;
    const balances = ledger.balances(accountId);
    for (const listener of set) listener({ kind: 'balances', balances });
  };
  const observed: Ledger = {
    markets: ledger.markets,
    accountCreatedAtMs: (accountId) => ledger.accountCreatedAtMs(accountId),
    balances: (accountId) => ledger.balances(accountId),
    placeOrder(accountId, request) {
      const outcome = ledger.placeOrder(accountId, request);
      if (outcome.ok && !outcome.value.replayed) emit(accountId, outcome.value.order);
      return outcome;
    },
    cancelOrder(accountId, ref, symbol) {
      const outcome = ledger.cancelOrder(accountId, ref, symbol);
      if (outcome.ok) emit(accountId, outcome.value);
      return outcome;
    },
    openOrders: (accountId, symbol) => ledger.openOrders(accountId, symbol),
    withdraw(accountId, request) {
      const outcome = ledger.withdraw(accountId, request);
      if (outcome.ok) emitBalances(accountId);
      return outcome;
    },
  };
  return {
    ledger: observed,
    events: {
      subscribe(accountId, listener) {
        let set = listeners.get(accountId);
        if (set === undefined) {
          set = new Set();
          listeners.set(accountId, set);
        }
        set.add(listener);
        return () => {
          set.delete(listener);
          if (set.size === 0) listeners.delete(accountId);
        };
      },
    },
  };
}
