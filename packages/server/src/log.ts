import { pino, type Logger } from 'pino';

/** JSON lines on stdout: one per call lifecycle event, with `event` naming it (call.created, call.ended, ...). */
export function createLogger(level: string): Logger {
  return pino({ level, base: { svc: 'opencall' } });
}
