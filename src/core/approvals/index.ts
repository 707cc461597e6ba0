/** Multi-party approval: the quorum state machine and the request digest it binds. */
export * from './approval.js';
export * from './request-digest.js';
