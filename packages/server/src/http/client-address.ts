import type { IncomingMessage } from 'node:http';
import proxyAddr from '@fastify/proxy-addr';

/**
 * Which proxies in front of the server are trusted to say who the client is (X-Forwarded-For):
 * `false` none (the socket's peer is the client: the default, safe when clients connect
 * directly); a number, that many hops nearest the server; a list of addresses, CIDR ranges or
 * the names `loopback`, `linklocal`, `uniquelocal`. Same meaning as Fastify's `trustProxy`.
 */
export type TrustProxy = false | number | string[];

/** Whether the hop at `addr`, `i` hops from the server, may name the client; undefined when no proxy is trusted. */
export function trustedProxyTest(trust: TrustProxy): ((addr: string, i: number) => boolean) | undefined {
  if (trust === false || trust === 0 || (Array.isArray(trust) && trust.length === 0)) return undefined;
  return typeof trust === 'number' ? (_addr, i) => i < trust : proxyAddr.compile(trust);
}

/** A function giving a request's client address under `trust` (the HTTP routes and the WebSocket upgrade use the same rule). */
export function clientAddressResolver(trust: TrustProxy): (req: IncomingMessage) => string {
  const test = trustedProxyTest(trust);
  if (!test) return (req) => req.socket.remoteAddress ?? 'unknown';
  return (req) => (req.socket.remoteAddress === undefined ? 'unknown' : proxyAddr(req, test));
}

/** Parses `OPENCALL_TRUST_PROXY`: unset, `0` or `false` → false; digits → hop count; else a comma-separated list. */
export function parseTrustProxy(text: string | undefined): TrustProxy {
  const t = (text ?? '').trim();
  if (t === '' || t === '0' || t === 'false') return false;
  if (/^\d{1,2}$/.test(t)) return Number(t);
  const list = t.split(',').map((s) => s.trim()).filter(Boolean);
  proxyAddr.compile(list); // throws on a malformed address
  return list;
}
