import type { Dialect } from '../signing/types.js';
import type { DenialContext, DenialReason, RenderedDenial } from './denial.js';
import { renderBinanceDenial } from './render-binance-denial.js';
import { renderBybitDenial } from './render-bybit-denial.js';
import { renderNativeDenial } from './render-native-denial.js';
import { renderOkxDenial } from './render-okx-denial.js';

export type { DenialContext, DenialReason, RenderedDenial } from './denial.js';

const RENDERERS: Readonly<
  Record<Dialect, (reason: DenialReason, ctx: DenialContext) => RenderedDenial>
> = {
  native: renderNativeDenial,
  binance: renderBinanceDenial,
  bybit: renderBybitDenial,
  okx: renderOkxDenial,
};

/** Renders a denial in the wire format of the dialect the request was recognised as. */
export function renderDenial(
  dialect: Dialect,
  reason: DenialReason,
  ctx: DenialContext,
): RenderedDenial {
  return RENDERERS[dialect](reason, ctx);
}
