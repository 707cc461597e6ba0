import { MAX_OPEN_ORDERS_PER_MARKET } from './ledger.js';
import type { SandboxDialect } from './routes.js';
import type { SandboxFault } from './sandbox-fault.js';

export interface RenderedFault {
  readonly status: number;
  readonly body: unknown;
}

interface RenderContext {
  readonly requestId: string;
  readonly nowMs: number;
}

/**
 * Renders a fault in the route's own envelope, with codes the exchange's clients map to the
 * right exception (ccxt's handleErrors reads Binance `code`, Bybit `retCode`, OKX `code`/`sCode`).
 */
export function renderFault(
  dialect: SandboxDialect,
  fault: SandboxFault,
  context: RenderContext,
): RenderedFault {
  switch (dialect) {
    case 'native':
      return {
        status: fault.status,
        body: { error: { code: fault.code, message: fault.message, requestId: context.requestId } },
      };
    case 'binance':
      return renderBinance(fault);
    case 'bybit':
      return renderBybit(fault, context.nowMs);
    case 'okx':
      return renderOkx(fault);
  }
}

function renderBinance(fault: SandboxFault): RenderedFault {
  const [code, msg] = binanceCode(fault);
  // Binance answers a cancel of an unknown or finished order with 400, not 404/409.
  const rejected = fault.code === 'ORDER_NOT_FOUND' || fault.code === 'ORDER_NOT_OPEN';
  return { status: rejected ? 400 : fault.status, body: { code, msg } };
}

function binanceCode(fault: SandboxFault): [number, string] {
  const field = fault.detail.field ?? 'parameter';
  switch (fault.code) {
    case 'IDENTITY_MISSING':
    case 'UPSTREAM_TOKEN_INVALID':
      return [-2015, 'Invalid API-key, IP, or permissions for action.'];
    case 'MALFORMED_JSON':
    case 'MALFORMED_PARAMS':
      return [-1100, 'Illegal characters found in a parameter.'];
    case 'VALIDATION_FAILED':
      return binanceValidationCode(fault);
    case 'UNKNOWN_FIELD':
      return [-1104, `Not all sent parameters were read; unknown parameter '${field}'.`];
    case 'DUPLICATE_PARAMETER':
      return [-1101, 'Duplicate values for a parameter detected.'];
    case 'UNKNOWN_SYMBOL':
      return [-1121, 'Invalid symbol.'];
    case 'INSUFFICIENT_BALANCE':
      return [-2010, 'Account has insufficient balance for requested action.'];
    case 'QUANTITY_TOO_SMALL':
      return [-1013, 'Filter failure: LOT_SIZE'];
    case 'TOO_MANY_OPEN_ORDERS':
      // NEW_ORDER_REJECTED by the symbol's MAX_NUM_ORDERS filter (ccxt: InvalidOrder).
      return [-2010, 'Filter failure: MAX_NUM_ORDERS'];
    case 'ORDER_NOT_FOUND':
    case 'ORDER_NOT_OPEN':
      return [-2011, 'Unknown order sent.'];
    case 'NOT_FOUND':
      return [-1020, 'This operation is not supported.'];
    case 'PAYLOAD_TOO_LARGE':
      return [-1100, 'The request body is too large.'];
    case 'UNSUPPORTED_MEDIA_TYPE':
      return [-1102, 'Send parameters in the query string or a form-urlencoded body.'];
    case 'INTERNAL_ERROR':
      return [-1000, 'An unknown error occurred while processing the request.'];
  }
}

function binanceValidationCode(fault: SandboxFault): [number, string] {
  const field = fault.detail.field ?? 'parameter';
  switch (fault.detail.problem ?? 'invalid') {
    case 'missing':
      return [-1102, `Mandatory parameter '${field}' was not sent, was empty/null, or malformed.`];
    case 'precision':
      return [-1111, 'Precision is over the maximum defined for this asset.'];
    case 'not-allowed':
      return [-1106, `Parameter '${field}' sent when not required.`];
    case 'invalid':
      if (field === 'side') return [-1117, 'Invalid side.'];
      if (field === 'type') return [-1116, 'Invalid orderType.'];
      if (field === 'timeInForce') return [-1115, 'Invalid timeInForce.'];
      return [-1100, `Illegal characters found in parameter '${field}'.`];
  }
}

function renderBybit(fault: SandboxFault, nowMs: number): RenderedFault {
  const [retCode, retMsg] = bybitCode(fault);
  return {
    status: fault.status,
    body: { retCode, retMsg, result: {}, retExtInfo: {}, time: nowMs },
  };
}

function bybitCode(fault: SandboxFault): [number, string] {
  switch (fault.code) {
    case 'IDENTITY_MISSING':
    case 'UPSTREAM_TOKEN_INVALID':
      return [10003, 'API key is invalid.'];
    case 'INSUFFICIENT_BALANCE':
      return [110007, 'Insufficient available balance.'];
    case 'QUANTITY_TOO_SMALL':
      return [170136, 'Order quantity lower than the minimum.'];
    case 'TOO_MANY_OPEN_ORDERS':
      // ccxt: InvalidOrder ("number of active orders greater than" the bound).
      return [110020, `Not allowed to have more than ${MAX_OPEN_ORDERS_PER_MARKET} active orders.`];
    case 'ORDER_NOT_FOUND':
    case 'ORDER_NOT_OPEN':
      return [110001, 'Order does not exist.'];
    case 'UNKNOWN_SYMBOL':
      return [10001, 'params error: symbol invalid'];
    case 'INTERNAL_ERROR':
      return [10016, 'System error. Please try again later.'];
    case 'MALFORMED_JSON':
    case 'MALFORMED_PARAMS':
    case 'VALIDATION_FAILED':
    case 'UNKNOWN_FIELD':
    case 'DUPLICATE_PARAMETER':
    case 'NOT_FOUND':
    case 'PAYLOAD_TOO_LARGE':
    case 'UNSUPPORTED_MEDIA_TYPE':
      return [10001, `params error: ${fault.message}`];
  }
}

/** Order-level OKX failures come as code "1" with the reason in data[].sCode, as OKX sends them. */
function renderOkx(fault: SandboxFault): RenderedFault {
  const [code, msg] = okxCode(fault);
  const { orderId, clientOrderId } = fault.detail;
  if (orderId !== undefined || clientOrderId !== undefined) {
    const data = [
      { ordId: orderId ?? '', clOrdId: clientOrderId ?? '', tag: '', sCode: code, sMsg: msg },
    ];
    return { status: fault.status, body: { code: '1', msg: 'Operation failed.', data } };
  }
  return { status: fault.status, body: { code, msg, data: [] } };
}

function okxCode(fault: SandboxFault): [string, string] {
  const field = fault.detail.field ?? 'request';
  switch (fault.code) {
    case 'IDENTITY_MISSING':
    case 'UPSTREAM_TOKEN_INVALID':
      return ['50111', 'Invalid OK-ACCESS-KEY.'];
    case 'MALFORMED_JSON':
      return ['50002', 'JSON syntax error.'];
    case 'VALIDATION_FAILED':
      if (fault.detail.problem === 'missing')
        return ['50014', `Parameter ${field} can not be empty.`];
      return ['51000', `Parameter ${field} error.`];
    case 'MALFORMED_PARAMS':
    case 'UNKNOWN_FIELD':
    case 'DUPLICATE_PARAMETER':
    case 'PAYLOAD_TOO_LARGE':
    case 'NOT_FOUND':
      return ['51000', `Parameter ${field} error.`];
    case 'UNSUPPORTED_MEDIA_TYPE':
      return ['50006', 'Invalid Content-Type, please use "application/json" format.'];
    case 'UNKNOWN_SYMBOL':
      return ['51001', 'Instrument ID does not exist.'];
    case 'INSUFFICIENT_BALANCE':
      return ['51008', 'Order failed. Insufficient balance.'];
    case 'QUANTITY_TOO_SMALL':
      return ['51020', 'Order amount should be greater than the min available amount.'];
    case 'TOO_MANY_OPEN_ORDERS':
      // ccxt: InvalidOrder.
      return [
        '51174',
        `The number of pending orders reached the upper limit of ${MAX_OPEN_ORDERS_PER_MARKET} (orders).`,
      ];
    case 'ORDER_NOT_FOUND':
    case 'ORDER_NOT_OPEN':
      return [
        '51400',
        'Order cancellation failed as the order has been filled, canceled or does not exist.',
      ];
    case 'INTERNAL_ERROR':
      return ['50026', 'System error, please try again later.'];
  }
}
