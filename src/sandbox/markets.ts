import { PortcullisError } from '../core/errors.js';
import { parseDecimal } from './decimal.js';

/** One spot market of the sandbox, as configured. */
export interface SandboxMarketConfig {
  readonly base: string;
  readonly quote: string;
  /** The fixed price every marketable order fills at, as a decimal string. */
  readonly referencePrice: string;
}

/** A validated market: `symbol` is the canonical BTCUSDT form. */
export interface Market {
  readonly symbol: string;
  readonly base: string;
  readonly quote: string;
  readonly referencePrice: bigint;
}

export interface Markets {
  /** BTCUSDT and BTC-USDT both name the BTC/USDT market; anything else is unknown. */
  resolve(symbol: string): Market | undefined;
  readonly all: readonly Market[];
}

export const DEFAULT_MARKETS: readonly SandboxMarketConfig[] = [
  { base: 'BTC', quote: 'USDT', referencePrice: '50000' },
  { base: 'ETH', quote: 'USDT', referencePrice: '3000' },
  { base: 'ETH', quote: 'BTC', referencePrice: '0.06' },
];

/** Asset codes: upper-case letters and digits, as every supported exchange writes them. */
export const ASSET_PATTERN = /^[A-Z0-9]{2,10}$/;

/** Validates the market configuration once, at build time. */
export function createMarkets(configs: readonly SandboxMarketConfig[]): Markets {
  const bySymbol = new Map<string, Market>();
  for (const config of configs) {
    const market = validateMarket(config);
    const dashed = `${market.base}-${market.quote}`;
    // Two markets whose concatenations collide (e.g. AB/CD and ABC/D) would make BTCUSDT ambiguous.
    if (bySymbol.has(market.symbol) || bySymbol.has(dashed)) {
      throw new PortcullisError('CONFIG_INVALID', `sandbox market ${dashed} is configured twice`);
    }
    bySymbol.set(market.symbol, market);
    bySymbol.set(dashed, market);
  }
  const all = Object.freeze([...new Set(bySymbol.values())]);
  return { resolve: (symbol) => bySymbol.get(symbol), all };
}

function validateMarket(config: SandboxMarketConfig): Market {
  const { base, quote } = config;
  if (!ASSET_PATTERN.test(base) || !ASSET_PATTERN.test(quote) || base === quote) {
    throw new PortcullisError('CONFIG_INVALID', `sandbox market ${base}/${quote} is invalid`);
  }
  const price = parseDecimal(config.referencePrice);
  if (!price.ok || price.value <= 0n) {
    throw new PortcullisError('CONFIG_INVALID', `sandbox market ${base}/${quote} has a bad price`);
  }
  return Object.freeze({ symbol: `${base}${quote}`, base, quote, referencePrice: price.value });
}
