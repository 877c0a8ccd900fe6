import { pino, type Logger } from 'pino';

/** JSON lines on stdout: one per call lifecycle event, with `event` naming it (call.created, call.ended, ...). */
export function createLogger(level: string): Logger {
  return pino({ level, base: { svc: 'opencall' } });
}

/** A URL fit for logs and error messages: the password, if any, replaced by ***. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable URL)';
  }
}
