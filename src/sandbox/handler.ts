import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../core/clock.js';
import type { Ledger, LedgerFailure, LedgerOutcome } from './ledger.js';
import type { Market } from './markets.js';
import { SandboxFault, type FaultDetail } from './sandbox-fault.js';

/** What every dialect's handlers share: one ledger and one clock per sandbox instance. */
export interface HandlerDeps {
  readonly ledger: Ledger;
  readonly clock: Clock;
}

export type RouteHandler = (request: FastifyRequest, reply: FastifyReply) => FastifyReply;

/** Handlers by route key (`GET /api/v1/account`); build-sandbox-exchange checks it is complete. */
export type HandlerTable = Readonly<Record<string, RouteHandler>>;

/** Client order ids: Binance's alphabet and length, which also covers Bybit and OKX ids. */
export const CLIENT_ORDER_ID_PATTERN = /^[.A-Za-z0-9:/_-]{1,36}$/;
/** Exchange order ids are decimal sequence numbers below 2^53. */
export const ORDER_SEQ_PATTERN = /^[1-9]\d{0,14}$/;
export const ASSET_LIST_PATTERN = /^[A-Z0-9]{2,10}(?:,[A-Z0-9]{2,10})*$/;

const LEDGER_MESSAGES: Readonly<Record<LedgerFailure, string>> = {
  INSUFFICIENT_BALANCE: 'the free balance does not cover this request',
  ORDER_NOT_FOUND: 'no such order for this account',
  ORDER_NOT_OPEN: 'the order is no longer open',
  QUANTITY_TOO_SMALL: 'the quantity rounds to zero',
  TOO_MANY_OPEN_ORDERS: 'the account has the most open orders allowed in this market',
};

/** The ledger's value, or a fault carrying its failure code (with ids for dialects that echo them). */
export function unwrap<T>(outcome: LedgerOutcome<T>, detail: FaultDetail = {}): T {
  if (outcome.ok) return outcome.value;
  throw new SandboxFault(outcome.failure, LEDGER_MESSAGES[outcome.failure], detail);
}

export function resolveMarket(ledger: Ledger, symbol: string, field: string): Market {
  const market = ledger.markets.resolve(symbol);
  if (!market)
    throw new SandboxFault('UNKNOWN_SYMBOL', `${field} is not a known market`, { field });
  return market;
}

/** Keeps only the assets named by a comma list (Bybit `coin`, OKX `ccy`), or all of them. */
export function filterAssets<T extends { readonly asset: string }>(
  items: readonly T[],
  list: string | undefined,
): readonly T[] {
  if (list === undefined) return items;
  const wanted = new Set(list.split(','));
  return items.filter((item) => wanted.has(item.asset));
}
