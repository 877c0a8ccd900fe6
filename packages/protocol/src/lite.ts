/** The zod-free part of the protocol: constants and types only, for the browser bundle. */
export * from './codes.js';
export * from './limits.js';
export type * from './messages.js';
export type * from './server-messages.js';
