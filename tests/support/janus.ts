/**
 * Test helper: runs a throw-away Janus instance.
 *
 * Uses the Debian `janus` package (apt-get install janus) and the config
 * templates in config/janus/, substituting fresh ports and secrets so several
 * test files (or several checkouts) can run Janus side by side.
 *
 * Two network set-ups:
 * - netns (default when root + iproute2, or `startJanus({ netns: true })`): Janus runs inside its own test
 *   network namespace (tests/support/netns.ts) with its WebSocket API and ICE
 *   on the namespace end of a veth pair; peers in the test process use the
 *   host end ({@link JanusInstance.clientIp}). Media never touches a real
 *   interface. Needs root + iproute2.
 * - legacy (`netns: false`, or no root): API on 127.0.0.1 and ICE on one host-local IPv4 of a real
 *   interface, because Janus refuses to gather on loopback interfaces.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNetns, netnsSupported, type NetNamespace } from './netns.js';

/** A running Janus instance. */
export interface JanusInstance {
  /**
   * `ws://<ip>:<port>` for the Janus API (subprotocol `janus-protocol`): 127.0.0.1, or the
   * namespace-side veth address in netns mode.
   */
  wsUrl: string;
  /** Value Janus expects in every request's `apisecret` field. */
  apiSecret: string;
  /** Janus's log file (kept until {@link stop}; set JANUS_KEEP_TMP=1 to keep it afterwards). */
  logFile: string;
  /**
   * The only address Janus gathers ICE candidates on. Janus refuses loopback
   * interfaces for ICE, so this is the namespace-side veth address in netns mode, else a
   * host-local IPv4 (see config/janus/README.md).
   */
  iceIp: string;
  /**
   * The local address wrtc peers in the test process should keep their ICE candidates on
   * (trickle only candidates with this IP): the host end of the veth in netns mode, else
   * {@link iceIp} itself.
   */
  clientIp: string;
  /** The namespace Janus runs in (netns mode only); removed by {@link stop} if startJanus made it. */
  netns?: NetNamespace;
  /** Time from spawn until the WebSocket port accepted connections. */
  startupMs: number;
  /** Process id of Janus itself (for CPU measurements via /proc/<pid>/stat). */
  pid: number | undefined;
  /** The Admin API over WebSocket (subprotocol `janus-admin-protocol`), when started with `admin: true`. */
  admin?: { url: string; secret: string };
  /**
   * SIGTERM, then SIGKILL after a grace period; removes the temp config dir and the namespace
   * startJanus created (not one passed in). Idempotent.
   */
  stop(): Promise<void>;
}

/** Overrides, mainly for debugging a failing test. */
export interface StartJanusOptions {
  /** Janus log level 0-7 (default 4, or $JANUS_DEBUG_LEVEL). */
  debugLevel?: number;
  /** Max time to wait for the WebSocket port (default 10 s). */
  startTimeoutMs?: number;
  /**
   * Run Janus inside a private network namespace: `true` creates one (and {@link JanusInstance.stop}
   * removes it), or pass one from {@link createNetns} (the caller removes it). `false` forces the
   * legacy loopback + host-address set-up. Default: `true` when running as root with iproute2
   * (unless $OPENCALL_JANUS_NETNS=0), else `false`.
   */
  netns?: boolean | NetNamespace;
  /**
   * Also serve the Admin API over WebSocket (same address and ACL as the Janus API), for tests
   * that inspect Janus's sessions and handles (tests/support/janus-admin.ts). Off by default,
   * as in config/janus.
   */
  admin?: boolean;
}

const JANUS_BIN = process.env.JANUS_BIN ?? '/usr/bin/janus';
const CONFIG_TEMPLATE_DIR = fileURLToPath(new URL('../../config/janus/', import.meta.url));
/** Enough for a handful of PeerConnections (Janus bundles and rtcp-muxes, so one port each). */
const RTP_RANGE_SIZE = 64;
/** Inside a private namespace nothing else binds ports, so fixed values are safe. */
const NETNS_WS_PORT = 8188;
const NETNS_ADMIN_WS_PORT = 7188;
const NETNS_RTP_MIN = 20_000;
const NETNS_RTP_MAX = 20_999;
const STOP_GRACE_MS = 3_000;

/** Starts Janus and resolves once its WebSocket API accepts connections. */
export async function startJanus(options: StartJanusOptions = {}): Promise<JanusInstance> {
  if (!existsSync(JANUS_BIN)) {
    throw new Error(`Janus binary not found at ${JANUS_BIN}: install janus from Debian (apt-get install -y janus)`);
  }
  const libDir = findJanusLibDir();
  // Default: a private namespace whenever this process may create one (root + iproute2), so
  // test media never goes to a real interface's address; `netns: false` forces the legacy set-up.
  const wantNetns = options.netns ?? (process.env.OPENCALL_JANUS_NETNS !== '0' && netnsSupported());
  const ownNetns = wantNetns === true;
  const netns: NetNamespace | undefined =
    wantNetns === true ? await createNetns() : wantNetns === false ? undefined : wantNetns;
  // From here on, anything that throws must not leave the namespace behind.
  const dropNetns = async () => {
    if (ownNetns) await netns?.remove();
  };

  let iceIp: string;
  let clientIp: string;
  let wsHost: string;
  let wsPort: number;
  let rtpMin: number;
  let rtpMax: number;
  let iceEnforce: string;
  let wsAcl: string;
  try {
    if (netns) {
      iceIp = netns.nsIp;
      clientIp = netns.hostIp;
      wsHost = netns.nsIp;
      wsPort = NETNS_WS_PORT;
      rtpMin = NETNS_RTP_MIN;
      rtpMax = NETNS_RTP_MAX;
      // By interface name: the veth is the only non-loopback interface in the namespace anyway.
      iceEnforce = netns.nsIf;
      // Only the test process (via the host end of the veth) may use the API.
      wsAcl = netns.hostIp;
    } else {
      iceIp = findIceIp();
      clientIp = iceIp;
      wsHost = '127.0.0.1';
      wsPort = await freeTcpPort();
      rtpMin = await freeUdpRange(RTP_RANGE_SIZE);
      rtpMax = rtpMin + RTP_RANGE_SIZE - 1;
      iceEnforce = iceIp;
      wsAcl = '127.0.0.1';
    }
  } catch (err) {
    await dropNetns();
    throw err;
  }
  const apiSecret = randomBytes(18).toString('base64url');
  const adminSecret = randomBytes(18).toString('base64url');
  const adminPort = options.admin ? (netns ? NETNS_ADMIN_WS_PORT : await freeTcpPort()) : undefined;
  const dir = await mkdtemp(join(tmpdir(), 'opencall-janus-'));
  const logFile = join(dir, 'janus.log');

  const values: Record<string, string> = {
    CONFIG_DIR: dir,
    JANUS_LIB_DIR: libDir,
    API_SECRET: apiSecret,
    ADMIN_SECRET: adminSecret,
    INTERFACE: wsHost,
    WS_IP: wsHost,
    WS_ACL: wsAcl,
    WS_PORT: String(wsPort),
    RTP_PORT_MIN: String(rtpMin),
    RTP_PORT_MAX: String(rtpMax),
    ICE_ENFORCE_LIST: iceEnforce,
  };
  try {
    for (const name of await readdir(CONFIG_TEMPLATE_DIR)) {
      if (!name.endsWith('.jcfg')) continue;
      const text = (await readFile(join(CONFIG_TEMPLATE_DIR, name), 'utf8')).replace(
        /@([A-Z0-9_]+)@/g,
        (whole, key: string) => {
          const v = values[key];
          if (v === undefined) throw new Error(`config/janus/${name}: unknown placeholder ${whole}`);
          return v;
        },
      );
      // The templates keep the Admin API off; turn it on here only (bench/ reads the same templates).
      const out =
        adminPort !== undefined && name === 'janus.transport.websockets.jcfg'
          ? text.replace(/admin_ws = false/, `admin_ws = true\n\tadmin_ws_port = ${adminPort}\n\tadmin_ws_ip = "${wsHost}"\n\tadmin_ws_acl = "${wsAcl}"`)
          : text;
      await writeFile(join(dir, name), out);
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    await dropNetns();
    throw err;
  }

  const debugLevel = options.debugLevel ?? Number(process.env.JANUS_DEBUG_LEVEL ?? 4);
  const t0 = performance.now();
  const janusArgv = [
    JANUS_BIN,
    '-F', dir, // configs folder: plugins/transports read their .jcfg from here
    '-C', join(dir, 'janus.jcfg'),
    '-L', logFile,
    '-N', // no stdout logging; everything goes to the log file
    '-o', // no ANSI colours
    '-d', String(debugLevel),
  ];
  // `ip netns exec` execs in place (no extra fork), so child.pid is Janus itself and signals reach it.
  const [cmd, ...args] = netns ? netns.wrap(janusArgv) : janusArgv;
  const child = spawn(cmd!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4_000);
  });
  // If the test process dies without calling stop(), do not leave Janus behind.
  const killOnExit = () => {
    child.kill('SIGKILL');
    if (process.env.JANUS_KEEP_TMP !== '1') rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', killOnExit);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      process.off('exit', killOnExit);
      try {
        await terminate(child);
      } finally {
        await dropNetns();
        if (process.env.JANUS_KEEP_TMP !== '1') await rm(dir, { recursive: true, force: true });
      }
    })();
    return stopped;
  };

  try {
    await waitForTcp(wsHost, wsPort, child, options.startTimeoutMs ?? 10_000);
  } catch (err) {
    const log = await readFile(logFile, 'utf8').catch(() => '');
    await stop();
    const tail = (log + stderr).split('\n').slice(-30).join('\n');
    throw new Error(`${(err as Error).message}\n--- janus output (tail) ---\n${tail}`);
  }
  const instance: JanusInstance = {
    wsUrl: `ws://${wsHost}:${wsPort}`,
    apiSecret,
    iceIp,
    clientIp,
    logFile,
    startupMs: performance.now() - t0,
    pid: child.pid,
    stop,
  };
  if (netns) instance.netns = netns;
  if (adminPort !== undefined) {
    await waitForTcp(wsHost, adminPort, child, options.startTimeoutMs ?? 10_000).catch(async (err: unknown) => {
      await stop();
      throw err;
    });
    instance.admin = { url: `ws://${wsHost}:${adminPort}`, secret: adminSecret };
  }
  return instance;
}

/** Debian installs plugins under /usr/lib/<multiarch triplet>/janus; accept $JANUS_LIB_DIR too. */
function findJanusLibDir(): string {
  const fromEnv = process.env.JANUS_LIB_DIR;
  const candidates = fromEnv ? [fromEnv] : [];
  for (const entry of safeReaddir('/usr/lib')) candidates.push(join('/usr/lib', entry, 'janus'));
  candidates.push('/usr/lib/janus', '/usr/local/lib/janus', '/opt/janus/lib/janus');
  const found = candidates.find((d) => existsSync(join(d, 'plugins', 'libjanus_videoroom.so')));
  if (!found) {
    throw new Error('Janus VideoRoom plugin not found (looked in /usr/lib/*/janus/plugins): install janus from Debian');
  }
  return found;
}

/**
 * Janus skips IFF_LOOPBACK interfaces when gathering, so 127.0.0.1 cannot be
 * used; take the first IPv4 address of a non-internal interface (traffic to it
 * from this host still never leaves the machine). $JANUS_ICE_IP overrides.
 */
function findIceIp(): string {
  const fromEnv = process.env.JANUS_ICE_IP;
  if (fromEnv) return fromEnv;
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  throw new Error('No non-loopback IPv4 address for Janus ICE (Janus never gathers on loopback); set JANUS_ICE_IP');
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (addr && typeof addr === 'object' ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

/** Picks a random range of `size` UDP ports that are all free right now on 127.0.0.1. */
async function freeUdpRange(size: number): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    // Stay below the usual Linux ephemeral range (32768+) so the kernel does not hand these out meanwhile.
    const base = randomInt(20_000, 32_000 - size);
    let ok = true;
    for (let p = base; p < base + size && ok; p++) ok = await udpPortFree(p);
    if (ok) return base;
  }
  throw new Error('Could not find a free UDP port range for Janus RTP');
}

function udpPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    sock.once('error', () => {
      sock.close();
      resolve(false);
    });
    sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(true)));
  });
}

async function waitForTcp(host: string, port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: string | undefined;
  const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
    exited = `Janus exited during start-up (code ${code}, signal ${signal})`;
  };
  child.once('exit', onExit);
  child.once('error', (err) => {
    exited = `Cannot spawn Janus: ${err.message}`;
  });
  try {
    while (Date.now() < deadline) {
      if (exited) throw new Error(exited);
      if (await tcpAccepts(host, port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`Janus did not open ws://${host}:${port} within ${timeoutMs} ms`);
  } finally {
    child.off('exit', onExit);
  }
}

function tcpAccepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ port, host });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

async function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}
