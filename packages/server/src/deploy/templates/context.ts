/** What every template gets, and where the deployment lives on the target machine. */
import type { DeployOptions } from '../options.js';
import type { DeploySecrets } from '../secrets.js';

export interface TemplateContext {
  o: DeployOptions;
  s: DeploySecrets;
  /** @opencall/server version that generated the files. */
  version: string;
}

/** Paths on the target machine (install.sh creates them; the units and configs refer to them). */
export const PATHS = {
  etc: '/etc/opencall',
  envFile: '/etc/opencall/opencall.env',
  app: '/opt/opencall',
  data: '/var/lib/opencall',
  /** coturn's copy of Caddy's certificate (Caddy's own storage is readable by caddy only). */
  turnTls: '/etc/opencall/turn-tls',
  caddyCerts: '/var/lib/caddy/.local/share/caddy/certificates',
} as const;

/** One line per item, each prefixed: for lists of config lines. */
export const lines = (items: (string | false | undefined)[]): string => items.filter((x): x is string => typeof x === 'string').join('\n');

/** The URLs handed to clients at login (OPENCALL_ICE_SERVERS). */
export function iceServerUrls(c: TemplateContext): string {
  const h = c.o.turnHost;
  return [
    `stun:${h}:${c.o.turnPort}`,
    `turn:${h}:${c.o.turnPort}?transport=udp`,
    `turn:${h}:${c.o.turnPort}?transport=tcp`,
    `turns:${h}:${c.o.turnsPort}?transport=tcp`,
  ].join(',');
}

/** Janus's WebSocket API as OpenCall reaches it. */
export const janusUrl = (c: TemplateContext) => `ws://${c.o.janusIp.includes(':') ? `[${c.o.janusIp}]` : c.o.janusIp}:${c.o.janusPort}`;

/**
 * Optional peer dependencies of @opencall/server the chosen parts need, installed next to it
 * (better-sqlite3 for the SQLite records and groups in OPENCALL_DATA_DIR).
 */
export function optionalPeers(c: TemplateContext): string[] {
  return ['better-sqlite3', c.o.postgres && 'pg', c.o.redis && 'ioredis'].filter((x): x is string => !!x);
}
