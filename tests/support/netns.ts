/**
 * Test helper: a private network namespace joined to the root namespace by a veth pair.
 *
 * Why: Janus never gathers ICE candidates on loopback interfaces, and test media must only go to
 * loopback or to test hosts in network namespaces the test made itself. So Janus runs inside a
 * throw-away namespace (`ip netns exec`), and the wrtc peers in the test process (root
 * namespace) reach it over the veth pair and nothing else:
 *
 *     root namespace                       netns oc-janus-<id>-<pid>
 *     ocj<id>h 10.211.N.M+1/30  <== veth ==>  ocj<id>n 10.211.N.M+2/30  (Janus: WS API + ICE)
 *
 * The namespace has no default route, and two sysctls keep every packet on the /30:
 * - strict reverse-path filtering inside the namespace (`rp_filter=1`) drops what the root
 *   namespace sends through the veth from any other local address (a wrtc socket bound to the
 *   host's eth0 address reaches the veth because of the /30 route);
 * - `arp_ignore=1` on the host end stops the root namespace from answering ARP there for its
 *   other addresses. Without it a socket tied to the veth inside the namespace (Janus's ICE
 *   sockets) reaches, say, 192.0.2.2 anyway: with an output interface set and no route, Linux
 *   assumes the destination is on-link, and by default any local address answers ARP on any
 *   interface. Observed: ICE then selected `<eth0 address> <-> <namespace address>`.
 *
 * Isolation between concurrently running test files: `<id>` is a random 14-bit number that
 * selects both the /30 subnet inside 10.211.0.0/16 and the interface names. `ip link add` fails
 * atomically when another process already holds that id, in which case another id is drawn.
 *
 * Clean-up: {@link NetNamespace.remove} (idempotent), plus a synchronous best-effort removal
 * on process exit and on SIGINT/SIGTERM/SIGHUP. Namespaces whose owning process died without
 * either (SIGKILL) carry the dead pid in their name and are swept by the next {@link createNetns}.
 *
 * Needs root and iproute2 (`apt-get install -y iproute2`); CI runs as root.
 */
import { execFile, execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** A namespace made by {@link createNetns}. */
export interface NetNamespace {
  /** Namespace name, `oc-janus-<id>-<pid>` (usable with `ip netns exec`). */
  readonly name: string;
  /** veth end left in the root namespace. */
  readonly hostIf: string;
  /** veth end inside the namespace. */
  readonly nsIf: string;
  /** IPv4 of {@link hostIf}: the address peers in the root namespace use. */
  readonly hostIp: string;
  /** IPv4 of {@link nsIf}: where services inside the namespace listen. */
  readonly nsIp: string;
  /** The /30 both addresses live in, e.g. `10.211.7.36/30`. */
  readonly subnet: string;
  /** `['ip', 'netns', 'exec', name, ...argv]`: prefix for running a command inside the namespace. */
  wrap(argv: string[]): string[];
  /** Kills anything still running in the namespace, deletes the veth pair and the namespace. Idempotent. */
  remove(): Promise<void>;
}

/** Options for {@link createNetns}. */
export interface CreateNetnsOptions {
  /** Name prefix (default `oc-janus`); must be short, the id and pid are appended. */
  prefix?: string;
}

const IP_BIN = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p)) ?? 'ip';
const ID_SPACE = 1 << 14; // 256 third octets x 64 /30 blocks
const MAX_ATTEMPTS = 20;

/** Whether this process can create namespaces at all (root and `ip` present); for `describe.skipIf`. */
export function netnsSupported(): boolean {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return false;
  try {
    execFileSync(IP_BIN, ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Creates a namespace + veth pair with a fresh /30 and brings everything up. */
export async function createNetns(options: CreateNetnsOptions = {}): Promise<NetNamespace> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new Error('createNetns needs root (ip netns add / ip link add)');
  }
  try {
    await ip(['-V']);
  } catch {
    throw new Error(`iproute2 not found (${IP_BIN}): apt-get install -y iproute2`);
  }
  const prefix = options.prefix ?? 'oc-janus';
  await sweepStale(prefix);
  const inUse = await usedIPv4();

  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const id = randomInt(ID_SPACE);
    const third = id >> 6;
    const base = (id & 63) * 4;
    const net = `10.211.${third}`;
    const hostIp = `${net}.${base + 1}`;
    const nsIp = `${net}.${base + 2}`;
    if (inUse.has(hostIp) || inUse.has(nsIp)) continue;
    const tag = id.toString(16).padStart(4, '0');
    const hostIf = `ocj${tag}h`; // IFNAMSIZ is 16 incl. NUL: keep names short
    const nsIf = `ocj${tag}n`;
    const name = `${prefix}-${tag}-${process.pid}`;

    try {
      // Atomic claim of this id: fails with "File exists" if another process holds it.
      await ip(['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf]);
    } catch (err) {
      if (/exists/i.test(String((err as Error).message))) continue;
      throw err;
    }

    const ns = makeHandle({ name, hostIf, nsIf, hostIp, nsIp, subnet: `${net}.${base}/30` });
    try {
      await ip(['netns', 'add', name]);
      await ip(['link', 'set', nsIf, 'netns', name]);
      await ip(['addr', 'add', `${hostIp}/30`, 'dev', hostIf]);
      await ip(['link', 'set', hostIf, 'up']);
      await ip(['-n', name, 'addr', 'add', `${nsIp}/30`, 'dev', nsIf]);
      await ip(['-n', name, 'link', 'set', nsIf, 'up']);
      await ip(['-n', name, 'link', 'set', 'lo', 'up']);
      // See the file comment: keep ICE on the veth addresses only.
      await writeFile(`/proc/sys/net/ipv4/conf/${hostIf}/arp_ignore`, '1');
      await execFileAsync(IP_BIN, [
        'netns', 'exec', name, 'sh', '-c',
        `echo 1 > /proc/sys/net/ipv4/conf/all/rp_filter && echo 1 > /proc/sys/net/ipv4/conf/${nsIf}/rp_filter`,
      ], { timeout: 10_000 });
      await waitForCarrier(hostIf);
      return ns;
    } catch (err) {
      await ns.remove();
      throw new Error(`Could not set up network namespace ${name}: ${(err as Error).message}`);
    }
  }
  throw new Error(`Could not find a free 10.211.x.y/30 for a test namespace after ${MAX_ATTEMPTS} attempts`);
}

interface Names {
  name: string;
  hostIf: string;
  nsIf: string;
  hostIp: string;
  nsIp: string;
  subnet: string;
}

function makeHandle(n: Names): NetNamespace {
  let removed: Promise<void> | undefined;
  const cleanupSync = () => removeSync(n.name, n.hostIf);
  const onSignal = (signal: NodeJS.Signals) => {
    cleanupSync();
    process.off(signal, onSignal);
    // Re-raise so the process still dies of the signal, unless someone else handles it.
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  process.once('exit', cleanupSync);
  for (const s of signals) process.on(s, onSignal);

  return {
    ...n,
    wrap: (argv) => [IP_BIN, 'netns', 'exec', n.name, ...argv],
    remove() {
      removed ??= (async () => {
        process.off('exit', cleanupSync);
        for (const s of signals) process.off(s, onSignal);
        await removeAsync(n.name, n.hostIf);
      })();
      return removed;
    },
  };
}

/**
 * Order matters: a namespace outlives `ip netns del` for as long as a process is still inside
 * it (and with it the veth), so kill those first; deleting the host end of the veth removes
 * both ends even if the namespace lingers.
 */
async function removeAsync(name: string, hostIf: string): Promise<void> {
  const pids = await ip(['netns', 'pids', name]).catch(() => '');
  for (const pid of pids.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await ip(['link', 'del', hostIf]).catch(() => {});
  await ip(['netns', 'del', name]).catch(() => {});
}

function removeSync(name: string, hostIf: string): void {
  const run = (args: string[]) => {
    try {
      return execFileSync(IP_BIN, args, { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5_000 }).toString();
    } catch {
      return '';
    }
  };
  for (const pid of run(['netns', 'pids', name]).split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  run(['link', 'del', hostIf]);
  run(['netns', 'del', name]);
}

/** Removes namespaces `<prefix>-<tag>-<pid>` whose pid no longer exists (owner was SIGKILLed). */
async function sweepStale(prefix: string): Promise<void> {
  const list = await ip(['netns', 'list']).catch(() => '');
  const re = new RegExp(`^${prefix.replace(/[^a-z0-9]/gi, (c) => `\\${c}`)}-([0-9a-f]{4})-(\\d+)\\b`);
  for (const line of list.split('\n')) {
    const m = re.exec(line.trim());
    if (!m) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || pidAlive(pid)) continue;
    await removeAsync(`${prefix}-${m[1]}-${m[2]}`, `ocj${m[1]}h`);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Every IPv4 address already configured in the root namespace (avoids clashing with real networks). */
async function usedIPv4(): Promise<Set<string>> {
  const out = await ip(['-4', '-o', 'addr', 'show']).catch(() => '');
  const set = new Set<string>();
  for (const m of out.matchAll(/inet (\d+\.\d+\.\d+\.\d+)/g)) set.add(m[1]!);
  return set;
}

/** A freshly created veth reports NO-CARRIER for a moment; traffic sent then is dropped. */
async function waitForCarrier(hostIf: string, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const out = await ip(['-br', 'link', 'show', 'dev', hostIf]).catch(() => '');
    if (/\bUP\b/.test(out) && !/NO-CARRIER/.test(out)) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`veth ${hostIf} did not come up within ${timeoutMs} ms`);
}

async function ip(args: string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync(IP_BIN, args, { timeout: 10_000 });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`ip ${args.join(' ')}: ${(e.stderr || e.message).trim()}`);
  }
}
