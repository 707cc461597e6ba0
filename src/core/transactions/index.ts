/** Transaction rules for withdrawals: address book, amount limits with reservations, allowances. */
export * from './address-book.js';
export * from './allowance-ledger.js';
export * from './decimal.js';
export * from './spend-allowance.js';
export * from './withdrawal-ledger.js';
