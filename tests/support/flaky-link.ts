/**
 * Test helper: an SDK client whose media network can be cut and restored while its signaling
 * stays up.
 *
 * Two wrtc peers in one process share one network namespace, where every local address reaches
 * every other one (through loopback routing), and ICE finds a path through any of them, peer
 * reflexive candidates included: no single interface can be broken under them. So the peer
 * whose network fails runs in a child Node process inside a network namespace of its own
 * ({@link createNetns}), whose only network is a veth pair to the root namespace:
 *
 *     test process (root namespace)                  child process (netns)
 *     server 127.0.0.1:port  <── unix socket ──>  signaling WebSocket (ws+unix://)
 *     wrtc peer A  hostIp  <══════ veth ══════>  nsIp  wrtc peer B   ← {@link FlakyPeer.cutNetwork}
 *
 * Signaling goes through a unix socket bridged to the server's loopback port (a file is reachable
 * from any network namespace), so cutting the veth breaks only the media path, as when a phone's
 * Wi-Fi drops while its signaling socket is elsewhere (or resumes quickly). The namespace's
 * rp_filter/arp_ignore settings (see netns.ts) keep ICE on hostIp <-> nsIp only.
 *
 * The child uses the built client (`packages/client/dist`, rebuilt here when older than its
 * sources) and reports every SDK event to the test over the IPC channel.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { execFile } from 'node:child_process';
import { createNetns, type NetNamespace } from './netns.js';
import { REPO_ROOT } from './server-binary.js';
import { EventRecorder, SDK_APP_ID, sig } from './harness.js';

const execFileAsync = promisify(execFile);
const IP_BIN = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p)) ?? 'ip';

/** Code of the child process (ESM, run with `node --input-type=module -e`, cwd = repo root). */
const CHILD = String.raw`
import wrtc from '@roamhq/wrtc';
import { WebSocket } from 'ws';
import TRTCCalling, { EVENT, TUICallEvent } from '@opencall/client/node';
const cfg = JSON.parse(process.env.OC_FLAKY_PEER);
class UnixWebSocket extends WebSocket {
  constructor(url) { const u = new URL(url); super('ws+unix://' + cfg.socket + ':' + u.pathname + u.search); }
}
const sdk = new TRTCCalling({ ...(cfg.options ?? {}), SDKAppID: cfg.sdkAppId, serverUrl: 'http://signaling.invalid', rtc: wrtc, WebSocket: UnixWebSocket });
const plain = (v) => { try { return v === undefined ? null : JSON.parse(JSON.stringify(v, (k, x) => x instanceof Map ? Object.fromEntries(x) : x)); } catch { return String(v); } };
for (const event of new Set([...Object.values(EVENT), ...Object.values(TUICallEvent), 'onConnectionStateChanged'])) {
  sdk.on(event, (payload) => process.send({ type: 'event', event, payload: plain(payload), at: Date.now() }));
}
const link = (peer) => sdk.controller?.current?.media?.links?.get(peer);
const commands = {
  login: () => sdk.login({ userID: cfg.userID, userSig: cfg.userSig }),
  accept: () => sdk.accept(),
  hangup: () => sdk.hangup(),
  logout: () => sdk.logout(),
  async inbound(peer) {
    const out = { audioBytes: 0, videoBytes: 0, framesDecoded: 0 };
    (await sdk.getStats(peer))?.forEach((r) => {
      if (r.type !== 'inbound-rtp') return;
      if (r.kind === 'audio') out.audioBytes += r.bytesReceived ?? 0;
      if (r.kind === 'video') { out.videoBytes += r.bytesReceived ?? 0; out.framesDecoded += r.framesDecoded ?? 0; }
    });
    return out;
  },
  ice(peer) {
    const l = link(peer);
    return l ? { ufrag: /a=ice-ufrag:(\S+)/.exec(l.pc.localDescription?.sdp ?? '')?.[1] ?? null, state: l.pc.iceConnectionState, restarts: l.iceRestarts } : null;
  },
  sfu() {
    const m = sdk.controller?.current?.media;
    if (!m || !m.iceRestarts) return null;
    const one = (pc, restarts) => pc ? { ufrag: /a=ice-ufrag:(\S+)/.exec(pc.localDescription?.sdp ?? '')?.[1] ?? null, state: pc.iceConnectionState, restarts } : null;
    return { publisher: one(m.pub, m.iceRestarts.publisher), subscriber: one(m.sub, m.iceRestarts.subscriber), rebuilds: m.rebuilds };
  },
};
process.on('message', async ({ id, cmd, arg }) => {
  try { process.send({ type: 'reply', id, result: plain(await commands[cmd](arg)) }); }
  catch (err) { process.send({ type: 'reply', id, error: String(err?.message ?? err) + ' ' + JSON.stringify(plain(err)) }); }
});
process.on('disconnect', () => process.exit(0));
process.send({ type: 'ready' });
`;

/** ICE ufrag, state and restarts of one SFU connection (null: none right now). */
export type SfuConnection = { ufrag: string | null; state: string; restarts: number } | null;

/** A client's two SFU connections, and how often each was rebuilt after Janus dropped it. */
export type SfuConnections = Record<'publisher' | 'subscriber', SfuConnection> & { rebuilds: Record<'publisher' | 'subscriber', number> };

/** A client in its own network namespace, driven over IPC; events recorded like TestClient's. */
export class FlakyPeer extends EventRecorder {
  private replies = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private output = '';
  /** Routes {@link reach} added in other namespaces, removed by {@link stop}. */
  private readonly foreignRoutes: { ns: string; dst: string }[] = [];

  private constructor(
    readonly userID: string,
    readonly ns: NetNamespace,
    private readonly child: ChildProcess,
    private readonly bridge: Server,
    private readonly socketPath: string,
  ) {
    super(`${userID} (netns)`);
    child.stdout?.on('data', (d) => (this.output = (this.output + d).slice(-4000)));
    child.stderr?.on('data', (d) => (this.output = (this.output + d).slice(-4000)));
    child.on('message', (m: any) => {
      if (m.type === 'event') this.record({ event: m.event, payload: m.payload, at: m.at });
      if (m.type === 'reply') {
        const r = this.replies.get(m.id);
        this.replies.delete(m.id);
        if (m.error) r?.reject(new Error(`${userID} (netns): ${m.error}`));
        else r?.resolve(m.result);
      }
    });
    child.on('exit', (code, signal) => {
      for (const r of this.replies.values()) r.reject(new Error(`${userID} (netns) exited (${code ?? signal}): ${this.output}`));
      this.replies.clear();
    });
  }

  /**
   * Starts a client for `userID` in a fresh namespace, its signaling bridged to the server on
   * 127.0.0.1:`serverPort`. Call {@link login} next.
   */
  static async start(userID: string, serverPort: number, options: { sdk?: Record<string, unknown> } = {}): Promise<FlakyPeer> {
    ensureClientBuilt();
    const ns = await createNetns({ prefix: 'oc-flaky' });
    const socketPath = join(tmpdir(), `oc-flaky-${process.pid}-${randomBytes(4).toString('hex')}.sock`);
    const bridge = createServer((inner) => {
      const outer = createConnection({ host: '127.0.0.1', port: serverPort });
      inner.pipe(outer).pipe(inner);
      inner.on('error', () => outer.destroy());
      outer.on('error', () => inner.destroy());
      inner.on('close', () => outer.destroy());
      outer.on('close', () => inner.destroy());
    });
    await new Promise<void>((resolve, reject) => bridge.once('error', reject).listen(socketPath, resolve));
    const argv = ns.wrap([process.execPath, '--input-type=module', '-e', CHILD]);
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, OC_FLAKY_PEER: JSON.stringify({ socket: socketPath, userID, userSig: sig(userID), sdkAppId: SDK_APP_ID, options: options.sdk ?? {} }) },
    });
    const peer = new FlakyPeer(userID, ns, child, bridge, socketPath);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${userID} (netns) did not start: ${peer.output}`)), 20_000);
      child.on('message', (m: any) => m.type === 'ready' && (clearTimeout(timer), resolve()));
      child.once('exit', (code) => (clearTimeout(timer), reject(new Error(`${userID} (netns) exited with ${code}: ${peer.output}`))));
    });
    return peer;
  }

  login(): Promise<unknown> {
    return this.ask('login');
  }
  accept(): Promise<unknown> {
    return this.ask('accept');
  }
  hangup(): Promise<unknown> {
    return this.ask('hangup');
  }
  /** Inbound RTP totals from `remote`, as harness.inbound(). */
  inbound(remote: string): Promise<{ audioBytes: number; videoBytes: number; framesDecoded: number }> {
    return this.ask('inbound', remote);
  }
  /** Local ICE ufrag, ICE state and restarts started, of the link to `remote` (null without one). */
  ice(remote: string): Promise<{ ufrag: string | null; state: string; restarts: number } | null> {
    return this.ask('ice', remote);
  }

  /** ICE ufrag, ICE state, restarts and rebuilds of the child's two SFU connections (null without an SFU call). */
  sfu(): Promise<SfuConnections | null> {
    return this.ask('sfu');
  }

  /**
   * Lets the child reach a service in another test namespace (say Janus's, `JanusInstance.netns`)
   * through the root namespace: a host route each way, and IPv4 forwarding on the two root-side
   * veth ends only (the setting goes away with those interfaces). The path runs over this peer's
   * veth, so {@link cutNetwork} cuts it too.
   */
  async reach(other: NetNamespace): Promise<void> {
    for (const dev of [this.ns.hostIf, other.hostIf]) await writeFile(`/proc/sys/net/ipv4/conf/${dev}/forwarding`, '1');
    await ip(['-n', this.ns.name, 'route', 'replace', `${other.nsIp}/32`, 'via', this.ns.hostIp]);
    await ip(['-n', other.name, 'route', 'replace', `${this.ns.nsIp}/32`, 'via', other.hostIp]);
    this.foreignRoutes.push({ ns: other.name, dst: `${this.ns.nsIp}/32` });
  }

  /** Takes the veth down: the child's only network has no carrier, the root side loses the route. */
  async cutNetwork(): Promise<void> {
    await ip(['link', 'set', this.ns.hostIf, 'down']);
  }

  /** Brings the veth back up (addresses stay configured while it is down). */
  async restoreNetwork(): Promise<void> {
    await ip(['link', 'set', this.ns.hostIf, 'up']);
  }

  /** Logs out (best effort), stops the child, removes the namespace and the bridge. Idempotent. */
  async stop(): Promise<void> {
    if (this.child.connected) {
      await Promise.race([this.ask('logout').catch(() => {}), new Promise((r) => setTimeout(r, 3_000))]);
      this.child.disconnect();
    }
    await this.ns.remove();
    for (const r of this.foreignRoutes.splice(0)) await ip(['-n', r.ns, 'route', 'del', r.dst]).catch(() => {});
    await new Promise<void>((resolve) => this.bridge.close(() => resolve()));
    rmSync(this.socketPath, { force: true });
  }

  private ask(cmd: string, arg?: unknown): Promise<any> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.replies.set(id, { resolve, reject });
      this.child.send({ id, cmd, arg });
    });
  }
}

/** `tsc -b` the client (and protocol) unless its dist is newer than every source: the child runs dist. */
function ensureClientBuilt(): void {
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => {
      const p = join(dir, e.name);
      return Math.max(m, e.isDirectory() ? newest(p) : e.name.endsWith('.ts') ? statSync(p).mtimeMs : 0);
    }, 0);
  const sources = Math.max(newest(join(REPO_ROOT, 'packages/protocol/src')), newest(join(REPO_ROOT, 'packages/client/src')));
  const out = join(REPO_ROOT, 'packages/client/dist/node.js');
  const outputs = [out, join(REPO_ROOT, 'packages/client/dist/rtc/peer-link.js')];
  if (outputs.every((f) => existsSync(f) && statSync(f).mtimeMs >= sources)) return;
  try {
    execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-b', 'packages/protocol', 'packages/client'], { cwd: REPO_ROOT, stdio: 'pipe' });
  } catch (err) {
    // Type errors elsewhere in the client still emit JavaScript; only a missing build is fatal.
    const msg = String((err as { stdout?: Buffer }).stdout ?? '') + String((err as { stderr?: Buffer }).stderr ?? '');
    if (!existsSync(out)) throw new Error(`building the client failed:\n${msg}`);
    console.warn(`tsc -b packages/client reported errors (dist was still emitted):\n${msg.slice(0, 1000)}`);
  }
}

async function ip(args: string[]): Promise<void> {
  await execFileAsync(IP_BIN, args, { timeout: 10_000 });
}
