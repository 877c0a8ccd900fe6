export * from './codes.js';
export * from './limits.js';
export * from './messages.js';
export type * from './server-messages.js';
