import { randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import type { ReadinessCheck } from './readiness.js';

/**
 * Janus answers: a WebSocket of its own (the SFU's connection only exists on the node running the
 * call core, and is opened on demand) and the core API's `ping`, which needs no session.
 * Gives up (and closes the socket) after `timeoutMs`, so a hung Janus holds nothing.
 */
export function pingJanus(url: string, apiSecret: string | undefined, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'janus-protocol', { handshakeTimeout: timeoutMs });
    const transaction = randomBytes(8).toString('hex');
    let settled = false;
    const done = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ws.removeAllListeners();
      ws.on('error', () => {}); // terminate() while connecting reports the abort as an error
      ws.terminate();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => done(new Error(`Janus sent no pong within ${timeoutMs} ms`)), timeoutMs);
    ws.on('open', () => ws.send(JSON.stringify({ janus: 'ping', transaction, ...(apiSecret !== undefined && { apisecret: apiSecret }) })));
    ws.on('message', (data: WebSocket.RawData) => {
      let m: { janus?: unknown; transaction?: unknown; error?: { reason?: unknown } };
      try {
        m = JSON.parse(String(data)) as typeof m;
      } catch {
        return done(new Error('Janus sent a frame that is not JSON'));
      }
      if (m.transaction !== transaction) return;
      done(m.janus === 'pong' ? undefined : new Error(`Janus answered ${String(m.janus)}: ${String(m.error?.reason ?? '')}`));
    });
    ws.on('error', (err) => done(err));
    ws.on('close', (code) => done(new Error(`Janus closed the WebSocket (${code})`)));
  });
}

/** What /readyz can ask on this server: each only where configured. */
export interface ReadinessSources {
  /** The cluster's Redis (OPENCALL_REDIS_URL). */
  redis?: { ping(): Promise<unknown> };
  /** The call records database: PostgreSQL, or SQLite's file (its writer thread). */
  records?: { backend: 'sqlite' | 'postgres'; ping(timeoutMs: number): Promise<void> };
  /** OPENCALL_JANUS_URL and its secret. */
  janus?: { url: string; apiSecret: string | undefined };
}

export function readinessChecks(s: ReadinessSources, timeoutMs: number): ReadinessCheck[] {
  const checks: ReadinessCheck[] = [];
  const { redis, records, janus } = s;
  if (redis) checks.push({ name: 'redis', probe: async () => void (await redis.ping()) });
  if (records) checks.push({ name: records.backend, probe: () => records.ping(timeoutMs) });
  if (janus) checks.push({ name: 'janus', probe: () => pingJanus(janus.url, janus.apiSecret, timeoutMs) });
  return checks;
}
