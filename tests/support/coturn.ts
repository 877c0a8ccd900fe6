/**
 * Test helper: runs a throw-away coturn (Debian's `turnserver`, apt-get install coturn) on
 * 127.0.0.1 with TURN REST API authentication (`use-auth-secret` + `static-auth-secret`), the
 * scheme OPENCALL_TURN_SECRET makes credentials for.
 *
 * Everything lives in a temp dir (config, log, pid file, user db), so the system's
 * /etc/turnserver.conf and /var/lib/turn are never read or touched. Listening and relaying are
 * on loopback only; `allow-loopback-peers` is what lets two relays on 127.0.0.1 talk to each
 * other (coturn refuses loopback peers by default).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CoturnInstance {
  /** Listening port (UDP and TCP) on 127.0.0.1. */
  port: number;
  /** `turn:127.0.0.1:<port>?transport=udp` */
  url: string;
  /** The `static-auth-secret` it checks credentials with. */
  secret: string;
  realm: string;
  /** coturn's log file (kept until stop(); COTURN_KEEP_TMP=1 keeps it afterwards). */
  logFile: string;
  /** Time from spawn until it answered a STUN binding request. */
  startupMs: number;
  pid: number | undefined;
  /** The log so far. */
  readLog(): Promise<string>;
  /** SIGTERM (SIGKILL after 3 s), then removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartCoturnOptions {
  secret?: string;
  realm?: string;
  /** More turnserver.conf lines (e.g. `verbose`). */
  extraConfig?: string[];
  /** Lines of the default config to leave out (e.g. `allow-loopback-peers`, to see what breaks). */
  omitConfig?: string[];
  /** Max wait for the first STUN answer. Default 10 s. */
  startTimeoutMs?: number;
  /** Listen on this port (e.g. to restart a stopped instance in its place, dropping every allocation). Default: a free one. */
  port?: number;
}

const TURNSERVER_BIN = process.env.TURNSERVER_BIN ?? '/usr/bin/turnserver';
const STOP_GRACE_MS = 3_000;

/** The turnserver.conf the tests use (docs/operations.md shows the production counterpart). */
export function coturnConfig(o: { port: number; secret: string; realm: string; dir: string; extra?: string[]; omit?: string[] }): string {
  const lines = [
    'listening-ip=127.0.0.1',
    'relay-ip=127.0.0.1',
    `listening-port=${o.port}`,
    // TURN REST API: credentials are HMAC-SHA1(secret, "<expiry>:<userID>"), checked statelessly.
    'use-auth-secret',
    `static-auth-secret=${o.secret}`,
    `realm=${o.realm}`,
    // Both peers' relays are on 127.0.0.1: coturn must be allowed to relay to loopback addresses.
    'allow-loopback-peers',
    'no-multicast-peers',
    'no-tls',
    'no-dtls',
    'no-cli',
    // Only one listening address: no second one for RFC 5780 NAT discovery.
    'no-rfc5780',
    'no-software-attribute',
    `log-file=${join(o.dir, 'turnserver.log')}`,
    'simple-log',
    'no-stdout-log',
    `pidfile=${join(o.dir, 'turnserver.pid')}`,
    // Otherwise coturn opens (and may create) /var/lib/turn/turndb.
    `userdb=${join(o.dir, 'turndb')}`,
  ].filter((line) => !o.omit?.includes(line));
  return [...lines, ...(o.extra ?? []), ''].join('\n');
}

/** Starts coturn and resolves once it answers STUN on its port. */
export async function startCoturn(options: StartCoturnOptions = {}): Promise<CoturnInstance> {
  if (!existsSync(TURNSERVER_BIN)) throw new Error(`coturn not found at ${TURNSERVER_BIN}: install it from Debian (apt-get install -y coturn)`);
  const secret = options.secret ?? randomBytes(24).toString('hex');
  const realm = options.realm ?? 'opencall.test';
  const dir = await mkdtemp(join(tmpdir(), 'opencall-coturn-'));
  const logFile = join(dir, 'turnserver.log');
  const configFile = join(dir, 'turnserver.conf');
  let attempt = 0;
  for (;;) {
    const port = options.port ?? (await freeUdpTcpPort());
    await writeFile(configFile, coturnConfig({ port, secret, realm, dir, ...(options.extraConfig && { extra: options.extraConfig }), ...(options.omitConfig && { omit: options.omitConfig }) }));
    try {
      return await launch({ port, secret, realm, dir, logFile, configFile, startTimeoutMs: options.startTimeoutMs ?? 10_000 });
    } catch (err) {
      // Someone may have taken the port between probing and coturn binding it: try another.
      if (++attempt >= 3 || options.port !== undefined) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
}

async function launch(o: { port: number; secret: string; realm: string; dir: string; logFile: string; configFile: string; startTimeoutMs: number }): Promise<CoturnInstance> {
  const started = Date.now();
  const child = spawn(TURNSERVER_BIN, ['-c', o.configFile], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 8192) stderr += d.toString();
  });
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
    child.once('error', (err) => {
      stderr += String(err);
      exited = { code: null, signal: null };
      resolve();
    });
  });
  const readLog = () => readFile(o.logFile, 'utf8').catch(() => '');
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        await exit;
        clearTimeout(killer);
      }
      if (process.env.COTURN_KEEP_TMP !== '1') await rm(o.dir, { recursive: true, force: true });
    })());

  const until = started + o.startTimeoutMs;
  while (!(await stunAnswers(o.port, 200))) {
    if (exited || Date.now() > until) {
      const why = exited ? `exited (${JSON.stringify(exited)})` : `did not answer STUN on 127.0.0.1:${o.port} within ${o.startTimeoutMs} ms`;
      const log = (await readLog()).split('\n').slice(-20).join('\n');
      await stop();
      throw new Error(`coturn ${why}\nstderr: ${stderr.trim()}\nlog tail:\n${log}`);
    }
  }
  return {
    port: o.port,
    url: `turn:127.0.0.1:${o.port}?transport=udp`,
    secret: o.secret,
    realm: o.realm,
    logFile: o.logFile,
    startupMs: Date.now() - started,
    pid: child.pid,
    readLog,
    stop,
  };
}

/** A port free for both TCP and UDP on 127.0.0.1 (coturn listens on both). */
async function freeUdpTcpPort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const sock = createSocket('udp4');
      sock.once('error', () => resolve(false));
      sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port for coturn');
}

/** Sends a STUN Binding request; true if a Binding success response comes back in time. */
function stunAnswers(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    const txid = randomBytes(12);
    const req = Buffer.alloc(20);
    req.writeUInt16BE(0x0001, 0); // Binding request
    req.writeUInt16BE(0, 2); // no attributes
    req.writeUInt32BE(0x2112a442, 4); // magic cookie
    txid.copy(req, 8);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.on('error', () => done(false));
    sock.on('message', (msg) => {
      if (msg.length >= 20 && msg.readUInt16BE(0) === 0x0101 && msg.subarray(8, 20).equals(txid)) done(true);
    });
    sock.send(req, port, '127.0.0.1');
  });
}
