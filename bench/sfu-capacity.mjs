#!/usr/bin/env node
/**
 * Group calls through the Janus SFU: the largest call this machine holds with every participant
 * receiving every other one (issue 6).
 *
 * For N = --start, --start + --step, … (then bisecting between the last N that passed and the
 * first that failed), each N on a fresh Janus and a fresh OpenCall server:
 *   1. waits for a quiet machine (lib.mjs waitForQuiet);
 *   2. starts Janus (Debian `janus`, config/janus/*.jcfg) inside a private network namespace, as
 *      tests/support/janus.ts does (Janus never gathers ICE on loopback), and an OpenCall server
 *      process with OPENCALL_JANUS_URL/OPENCALL_JANUS_SECRET, OPENCALL_SFU_MAX=64 and
 *      OPENCALL_MAX_INVITEES=64 (groupCall() takes at most 16 invitees by default);
 *   3. runs N Node SDK clients (@opencall/client/node, @roamhq/wrtc, synthetic camera and mic;
 *      by default the SDK's 480p profile, 640×480 at 15 fps, which is what tests/group-sfu.test.ts
 *      really sends: its syntheticMedia 160×120 at 10 fps are only defaults that the SDK's
 *      constraints override; --camera 160x120@10 forces a size) in --procs child processes
 *      (this same file, --role clients); p0 calls groupCall() with the N-1 others, who accept;
 *   4. settles: waits until every participant has decoded > 2 video frames and received audio
 *      from every other one (the test's condition), then --settle s more;
 *   5. measures a fixed window (--window s): inbound-rtp video bytes, audio bytes and decoded
 *      frames per (receiver, sender) from the SDK's getStats(userID), at the start and the end of
 *      the window; a stream is *live* when all three grew. CPU over the same window from
 *      /proc/<pid>/stat: Janus, the OpenCall server, the client processes, this process, and the
 *      whole machine (/proc/stat), whose remainder is "other load".
 * N passes when all N×(N-1) streams are live; it runs at *full rate* when 90 % of the streams
 * decode ≥ 80 % of the frame rate sent. --calibrate calls (small N) come first and are not part of
 * the search; the full-rate calls give Janus's CPU per forwarded stream (least squares). The
 * search stops at the first failure (after one retry if other load was high), or when --budget s
 * are used up (checked before each N: the last call may end later).
 *
 * Everything here runs on the same 2 cores: the clients' N×(N-1) video decoders compete with
 * Janus, so the limit found is the test rig's, not Janus's alone: the report also gives Janus's
 * CPU per forwarded stream.
 *
 *   node bench/sfu-capacity.mjs [--calibrate 3,5,7] [--start 9] [--step 2] [--max 41] [--budget 600] [--window 10]
 *        [--settle 5] [--camera sdk|160x120@10] [--procs 2] [--quiet-wait 60]
 *        [--json] [--out bench/results/sfu-capacity.json]   (raw results; '' = do not write)
 *
 * Needs root (network namespace), iproute2 and janus; does not build: run
 * `npx tsc -b packages/protocol packages/server packages/client` first.
 * `node bench/report.mjs` renders the results into docs/benchmarks.md, section d.
 */
import { execFile, execFileSync, fork, spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { distStamp, fmt, machine, median, parseArgs, percentile, procStat, root, SDK_APP_ID, SECRET, sleep, startServerProcess, systemBusyMs, waitForQuiet } from './lib.mjs';

const SELF = fileURLToPath(import.meta.url);
const isMain = import.meta.url === pathToFileURL(process.argv[1] ?? '').href;

// ---------------------------------------------------------------------------------------------
// Client processes (--role clients): N/procs SDK clients each, driven over IPC by the parent.
// ---------------------------------------------------------------------------------------------

async function clientRole() {
  const { default: TRTCCalling, EVENT } = await import('@opencall/client/node');
  const wrtc = (await import('@roamhq/wrtc')).default;
  const { genUserSig } = await import('../packages/server/dist/auth/usersig.js');
  const { createSyntheticMediaDevices } = await import('@opencall/client/node');
  /**
   * 'sdk': the whole wrtc module; the SDK replaces its dead devices by synthetic ones and asks them
   * for its video profile (480p: 640×480, 15 fps ideal), whatever `syntheticMedia` says: this is
   * what tests/group-sfu.test.ts sends. 'WxH@fps': synthetic devices whose video constraints are
   * overridden with exact values (the SDK then uses the devices it is given).
   */
  const rtcFor = (camera) => {
    if (camera === 'sdk') return wrtc;
    const [, w, h, f] = /^(\d+)x(\d+)@(\d+)$/.exec(camera) ?? [];
    if (!w) throw new Error(`--camera ${camera}: expected sdk or WxH@fps`);
    const inner = createSyntheticMediaDevices(wrtc, { width: +w, height: +h, frameRate: +f });
    const exact = { width: { exact: +w }, height: { exact: +h }, frameRate: { exact: +f } };
    const mediaDevices = {
      getUserMedia: (c) => inner.getUserMedia(c?.video ? { ...c, video: { ...(typeof c.video === 'object' ? c.video : {}), ...exact } } : c),
      enumerateDevices: () => inner.enumerateDevices(),
    };
    return { RTCPeerConnection: wrtc.RTCPeerConnection, MediaStream: wrtc.MediaStream, mediaDevices };
  };
  /** @type {Map<string, {id: string, sdk: any, entered: Set<string>, errors: string[]}>} */
  const clients = new Map();
  let accepting = Promise.resolve();
  const reply = (id, body) => process.send({ id, ...body });

  async function sampleOne(c, peers) {
    return Promise.all(peers.filter((p) => p !== c.id).map(async (peer) => {
      const out = { to: c.id, from: peer, audioBytes: 0, videoBytes: 0, framesDecoded: 0, width: 0, height: 0, t: 0 };
      try {
        const report = await c.sdk.getStats(peer);
        out.t = performance.now();
        report?.forEach((r) => {
          if (r.type !== 'inbound-rtp') return;
          if (r.kind === 'audio') out.audioBytes += r.bytesReceived ?? 0;
          if (r.kind === 'video') {
            out.videoBytes += r.bytesReceived ?? 0;
            out.framesDecoded += r.framesDecoded ?? 0;
            out.width = r.frameWidth ?? out.width;
            out.height = r.frameHeight ?? out.height;
          }
        });
      } catch (err) {
        out.error = String(err?.message ?? err);
      }
      return out;
    }));
  }

  process.on('message', async (m) => {
    try {
      if (m.cmd === 'login') {
        for (const id of m.users) {
          const sdk = new TRTCCalling({ SDKAppID: SDK_APP_ID, serverUrl: m.serverUrl, rtc: rtcFor(m.camera) });
          const c = { id, sdk, entered: new Set(), errors: [] };
          sdk.on(EVENT.USER_ENTER, (p) => c.entered.add(p.userID));
          sdk.on(EVENT.ERROR, (e) => c.errors.push(String(e?.message ?? e?.code ?? e)));
          sdk.on(EVENT.INVITED, () => {
            // One accept at a time per process, as a person would (and as the test does).
            accepting = accepting.then(() => sdk.accept().catch((err) => c.errors.push(`accept: ${err?.message ?? err}`)));
          });
          clients.set(id, c);
          await sdk.login({ userID: id, userSig: genUserSig(SDK_APP_ID, SECRET, id, 3600) });
        }
        reply(m.id, { ok: true });
      } else if (m.cmd === 'call') {
        const r = await clients.get(m.host).sdk.groupCall({ userIDList: m.others, type: 2 });
        reply(m.id, { ok: true, mediaPath: r?.mediaPath });
      } else if (m.cmd === 'sample') {
        const rows = (await Promise.all([...clients.values()].map((c) => sampleOne(c, m.all)))).flat();
        reply(m.id, { ok: true, rows, entered: Object.fromEntries([...clients.values()].map((c) => [c.id, c.entered.size])), errors: [...clients.values()].flatMap((c) => c.errors.map((e) => `${c.id}: ${e}`)) });
      } else if (m.cmd === 'stop') {
        await Promise.all([...clients.values()].map((c) => c.sdk.hangup().catch(() => {})));
        await Promise.all([...clients.values()].map((c) => c.sdk.logout().catch(() => {})));
        reply(m.id, { ok: true });
        // wrtc can segfault on a natural exit (packages/client/src/node/synthetic-media.ts): exit explicitly.
        setTimeout(() => process.exit(0), 100);
      }
    } catch (err) {
      reply(m.id, { ok: false, error: String(err?.stack ?? err) });
    }
  });
  // The parent went away (killed, crashed): do not leave clients running.
  process.once('disconnect', () => process.exit(0));
  process.send({ ready: true });
}

/** A forked client process with request/response over IPC. */
function startClientProc(index) {
  const child = fork(SELF, ['--role', 'clients'], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const pending = new Map();
  let seq = 0;
  const ready = new Promise((resolve, reject) => {
    child.once('exit', (code, sig) => reject(new Error(`client process ${index} exited (${code ?? sig}) before it was ready\n${stderr}`)));
    child.on('message', (m) => {
      if (m.ready) return resolve();
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.ok) p.resolve(m);
      else p.reject(new Error(`client process ${index}: ${m.error}`));
    });
  });
  child.once('exit', (code, sig) => {
    for (const p of pending.values()) p.reject(new Error(`client process ${index} exited (${code ?? sig})\n${stderr}`));
    pending.clear();
  });
  return {
    pid: child.pid,
    ready,
    request(body, timeoutMs = 120_000) {
      const id = ++seq;
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`client process ${index}: ${body.cmd} timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve: (v) => (clearTimeout(timer), resolve(v)), reject: (e) => (clearTimeout(timer), reject(e)) });
        child.send({ id, ...body });
      });
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
    alive: () => child.exitCode === null && child.signalCode === null,
    stderr: () => stderr,
  };
}

// ---------------------------------------------------------------------------------------------
// Janus in a private network namespace (the same set-up as tests/support/netns.ts + janus.ts,
// kept small here: the bench is plain JavaScript and does not load the TypeScript test helpers).
// ---------------------------------------------------------------------------------------------

const IP = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((p) => existsSync(p)) ?? 'ip';
const execFileP = promisify(execFile);
const ip = (args) => execFileP(IP, args, { timeout: 10_000 }).then((r) => r.stdout);

/** Namespace `oc-janus-<tag>-<pid>` (the tests' naming: their sweep removes it if this process dies by SIGKILL). */
async function createNetns() {
  for (let attempt = 0; attempt < 20; attempt++) {
    const id = randomInt(1 << 14);
    const net = `10.211.${id >> 6}`;
    const base = (id & 63) * 4;
    const tag = id.toString(16).padStart(4, '0');
    const n = { name: `oc-janus-${tag}-${process.pid}`, hostIf: `ocj${tag}h`, nsIf: `ocj${tag}n`, hostIp: `${net}.${base + 1}`, nsIp: `${net}.${base + 2}` };
    try {
      await ip(['link', 'add', n.hostIf, 'type', 'veth', 'peer', 'name', n.nsIf]);
    } catch (err) {
      if (/exists/i.test(String(err.stderr ?? err.message))) continue;
      throw err;
    }
    const removeSync = () => {
      const run = (a) => { try { return execFileSync(IP, a, { stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).toString(); } catch { return ''; } };
      for (const pid of run(['netns', 'pids', n.name]).split(/\s+/).filter(Boolean)) try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
      run(['link', 'del', n.hostIf]);
      run(['netns', 'del', n.name]);
    };
    process.once('exit', removeSync);
    n.remove = () => { process.off('exit', removeSync); removeSync(); };
    try {
      await ip(['netns', 'add', n.name]);
      await ip(['link', 'set', n.nsIf, 'netns', n.name]);
      await ip(['addr', 'add', `${n.hostIp}/30`, 'dev', n.hostIf]);
      await ip(['link', 'set', n.hostIf, 'up']);
      await ip(['-n', n.name, 'addr', 'add', `${n.nsIp}/30`, 'dev', n.nsIf]);
      await ip(['-n', n.name, 'link', 'set', n.nsIf, 'up']);
      await ip(['-n', n.name, 'link', 'set', 'lo', 'up']);
      writeFileSync(`/proc/sys/net/ipv4/conf/${n.hostIf}/arp_ignore`, '1');
      await execFileP(IP, ['netns', 'exec', n.name, 'sh', '-c', `echo 1 > /proc/sys/net/ipv4/conf/all/rp_filter && echo 1 > /proc/sys/net/ipv4/conf/${n.nsIf}/rp_filter`], { timeout: 10_000 });
      for (let i = 0; i < 150; i++) {
        const out = await ip(['-br', 'link', 'show', 'dev', n.hostIf]).catch(() => '');
        if (/\bUP\b/.test(out) && !/NO-CARRIER/.test(out)) return n;
        await sleep(20);
      }
      throw new Error(`veth ${n.hostIf} did not come up`);
    } catch (err) {
      n.remove();
      throw err;
    }
  }
  throw new Error('no free 10.211.x.y/30 for the Janus namespace');
}

function janusLibDir() {
  for (const e of readdirSync('/usr/lib')) {
    const d = join('/usr/lib', e, 'janus');
    if (existsSync(join(d, 'plugins', 'libjanus_videoroom.so'))) return d;
  }
  throw new Error('Janus VideoRoom plugin not found (apt-get install janus)');
}

async function startJanus() {
  const netns = await createNetns();
  const dir = mkdtempSync(join(os.tmpdir(), 'opencall-janus-bench-'));
  const apiSecret = randomBytes(18).toString('base64url');
  const values = {
    CONFIG_DIR: dir, JANUS_LIB_DIR: janusLibDir(), API_SECRET: apiSecret, ADMIN_SECRET: randomBytes(18).toString('base64url'),
    INTERFACE: netns.nsIp, WS_IP: netns.nsIp, WS_ACL: netns.hostIp, WS_PORT: '8188', RTP_PORT_MIN: '20000', RTP_PORT_MAX: '20999', ICE_ENFORCE_LIST: netns.nsIf,
  };
  const tpl = root('config/janus');
  for (const f of readdirSync(tpl).filter((x) => x.endsWith('.jcfg'))) {
    writeFileSync(join(dir, f), readFileSync(join(tpl, f), 'utf8').replace(/@([A-Z0-9_]+)@/g, (w, k) => {
      if (!(k in values)) throw new Error(`config/janus/${f}: unknown placeholder ${w}`);
      return values[k];
    }));
  }
  // `ip netns exec` execs in place: child.pid is Janus itself (its CPU is read from /proc/<pid>/stat).
  const child = spawn(IP, ['netns', 'exec', netns.name, '/usr/bin/janus', '-F', dir, '-C', join(dir, 'janus.jcfg'), '-L', join(dir, 'janus.log'), '-N', '-o', '-d', '3'], { stdio: 'ignore' });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    }
    netns.remove();
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise((r) => {
      const s = connect({ host: netns.nsIp, port: 8188 });
      s.once('connect', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      const log = existsSync(join(dir, 'janus.log')) ? readFileSync(join(dir, 'janus.log'), 'utf8').split('\n').slice(-20).join('\n') : '';
      await stop();
      throw new Error(`Janus did not start\n${log}`);
    }
    await sleep(25);
  }
  return { pid: child.pid, wsUrl: `ws://${netns.nsIp}:8188`, apiSecret, stop };
}

// ---------------------------------------------------------------------------------------------
// One N-party call.
// ---------------------------------------------------------------------------------------------

const cpuOf = (pid) => {
  try {
    return procStat(pid).cpuMs;
  } catch {
    return NaN;
  }
};

async function runCall(n, o, log) {
  const quiet = await waitForQuiet({ maxWaitMs: o.quietWait * 1000 });
  const t0 = Date.now();
  const janus = await startJanus();
  const server = await startServerProcess('opencall', { env: { OPENCALL_JANUS_URL: janus.wsUrl, OPENCALL_JANUS_SECRET: janus.apiSecret, OPENCALL_SFU_MAX: '64', OPENCALL_MAX_INVITEES: '64' } });
  const procs = Array.from({ length: Math.min(o.procs, n) }, (_, i) => startClientProc(i));
  const users = Array.from({ length: n }, (_, i) => `p${i}`);
  const res = { n, streams: n * (n - 1), quietBefore: quiet, camera: o.camera, procs: procs.length };
  try {
    await Promise.all(procs.map((p) => p.ready));
    await Promise.all(procs.map((p, i) => p.request({ cmd: 'login', serverUrl: server.url, users: users.filter((_, u) => u % procs.length === i), camera: o.camera })));
    const call = await procs[0].request({ cmd: 'call', host: 'p0', others: users.slice(1) });
    res.mediaPath = call.mediaPath;
    const sampleAll = async () => {
      const rs = await Promise.all(procs.map((p) => p.request({ cmd: 'sample', all: users }, 60_000)));
      return { rows: rs.flatMap((r) => r.rows), errors: rs.flatMap((r) => r.errors) };
    };
    // Settle: every stream has decoded > 2 frames and carried audio (the test's condition).
    const settleDeadline = Date.now() + (o.settleTimeout + 3 * n) * 1000;
    let seen = 0;
    for (;;) {
      await sleep(2000);
      const { rows } = await sampleAll();
      seen = rows.filter((r) => r.framesDecoded > 2 && r.audioBytes > 0).length;
      if (seen === res.streams || Date.now() > settleDeadline) break;
    }
    res.setupS = (Date.now() - t0) / 1000;
    res.settled = seen === res.streams;
    res.seenBeforeWindow = seen;
    log(`N=${n}: ${seen}/${res.streams} streams decoding after ${res.setupS.toFixed(0)} s${res.settled ? '' : ' (settle timeout)'}; measuring ${o.window} s`);
    await sleep(o.settle * 1000);

    // The window: counters at both ends; CPU between the two samples (not the sampling itself).
    const a = await sampleAll();
    const pids = { janus: janus.pid, server: server.pid, clients: procs.map((p) => p.pid), bench: process.pid };
    const cpu0 = { janus: cpuOf(pids.janus), server: cpuOf(pids.server), clients: pids.clients.map(cpuOf), bench: cpuOf(pids.bench), machine: systemBusyMs(), t: Date.now() };
    await sleep(o.window * 1000);
    const cpu1 = { janus: cpuOf(pids.janus), server: cpuOf(pids.server), clients: pids.clients.map(cpuOf), bench: cpuOf(pids.bench), machine: systemBusyMs(), t: Date.now() };
    const b = await sampleAll();
    const wall = cpu1.t - cpu0.t;
    const pct = (x0, x1) => ((x1 - x0) / wall) * 100;
    const c = {
      janusPct: pct(cpu0.janus, cpu1.janus),
      serverPct: pct(cpu0.server, cpu1.server),
      clientsPct: cpu1.clients.reduce((s, x, i) => s + x - cpu0.clients[i], 0) / wall * 100,
      benchPct: pct(cpu0.bench, cpu1.bench),
      machinePct: pct(cpu0.machine, cpu1.machine),
    };
    c.otherPct = Math.max(0, c.machinePct - c.janusPct - c.serverPct - c.clientsPct - c.benchPct);
    res.cpu = c;
    res.windowS = wall / 1000;

    const key = (r) => `${r.to}<${r.from}`;
    const before = new Map(a.rows.map((r) => [key(r), r]));
    const streams = b.rows.map((r) => {
      const p = before.get(key(r));
      const dt = p && r.t && p.t ? (r.t - p.t) / 1000 : NaN;
      const live = !!p && !r.error && r.videoBytes > p.videoBytes && r.audioBytes > p.audioBytes && r.framesDecoded > p.framesDecoded;
      return { to: r.to, from: r.from, live, fps: p ? (r.framesDecoded - p.framesDecoded) / dt : 0, videoKbps: p ? ((r.videoBytes - p.videoBytes) * 8) / dt / 1000 : 0, audioKbps: p ? ((r.audioBytes - p.audioBytes) * 8) / dt / 1000 : 0, width: r.width, height: r.height, error: r.error };
    });
    const fps = streams.map((s) => s.fps);
    res.live = streams.filter((s) => s.live).length;
    res.pass = res.live === res.streams;
    // Stricter: the rig still delivers (nearly) the frame rate sent: 90 % of the streams at ≥ 80 % of it.
    res.nominalFps = nominalFps(o.camera);
    res.fullRate = res.pass && percentile(fps, 10) >= 0.8 * res.nominalFps;
    res.fps = { p50: median(fps), p10: percentile(fps, 10), min: Math.min(...fps), max: Math.max(...fps) };
    // What Janus forwarded over the window (as received): video frames/s and kbit/s, summed over all streams.
    res.forwarded = { videoFps: fps.reduce((x, y) => x + y, 0), videoKbps: streams.reduce((x, s) => x + s.videoKbps, 0), audioKbps: streams.reduce((x, s) => x + s.audioKbps, 0) };
    res.videoKbpsP50 = median(streams.map((s) => s.videoKbps));
    res.audioKbpsP50 = median(streams.map((s) => s.audioKbps));
    const sizes = {};
    for (const s of streams) if (s.width) sizes[`${s.width}x${s.height}`] = (sizes[`${s.width}x${s.height}`] ?? 0) + 1;
    res.receivedSizes = sizes;
    res.deadStreams = streams.filter((s) => !s.live).slice(0, 20).map((s) => `${s.to}<-${s.from}${s.error ? ` (${s.error})` : ''}`);
    res.clientErrors = [...new Set(b.errors)].slice(0, 10);
    // Janus's own cost per forwarded (sender → receiver) video+audio stream, in % of one core and µs of CPU per second.
    res.janusPctPerStream = c.janusPct / res.streams;
    log(`N=${n}: ${res.pass ? 'PASS' : 'FAIL'} ${res.live}/${res.streams} live, fps p50 ${fmt.ms(res.fps.p50)} (min ${fmt.ms(res.fps.min)}), Janus ${fmt.pct(c.janusPct)}, server ${fmt.pct(c.serverPct)}, clients ${fmt.pct(c.clientsPct)}, machine ${fmt.pct(c.machinePct)}, other ${fmt.pct(c.otherPct)}`);
  } catch (err) {
    res.pass = false;
    res.error = String(err?.message ?? err).split('\n').slice(0, 6).join(' | ');
    log(`N=${n}: error: ${res.error}`);
  } finally {
    await Promise.all(procs.map((p) => (p.alive() ? p.request({ cmd: 'stop' }, 20_000).catch(() => {}) : null)));
    await sleep(300);
    await Promise.all(procs.map((p) => p.kill()));
    await server.stop();
    await janus.stop();
  }
  return res;
}

const nominalFps = (camera) => (camera === 'sdk' ? 15 : Number(/@(\d+)$/.exec(camera)?.[1] ?? NaN));

/** Least-squares line y = a + b·x. */
function fitLine(points) {
  const n = points.length;
  if (n < 2) return null;
  const mx = points.reduce((s, p) => s + p[0], 0) / n;
  const my = points.reduce((s, p) => s + p[1], 0) / n;
  const sxx = points.reduce((s, p) => s + (p[0] - mx) ** 2, 0);
  if (sxx === 0) return null;
  const b = points.reduce((s, p) => s + (p[0] - mx) * (p[1] - my), 0) / sxx;
  return { intercept: my - b * mx, slope: b, points: n };
}

export async function runSfuCapacity(o, log = (m) => console.error(m)) {
  const started = Date.now();
  const runs = [];
  // Calibration: small calls that leave the machine some room, for Janus's cost per stream.
  for (const n of String(o.calibrate ?? '').split(',').map(Number).filter((x) => x >= 2)) {
    runs.push({ ...(await runCall(n, o, log)), calibration: true });
  }
  let pass = null; // largest N that passed
  let fail = null; // smallest N that failed
  const overBudget = () => (Date.now() - started) / 1000 > o.budget;
  const tryN = async (n) => {
    let r = await runCall(n, o, log);
    if (!r.pass && (r.cpu?.otherPct ?? 0) > 25 && !overBudget()) {
      log(`N=${n}: failed with ${fmt.pct(r.cpu.otherPct)} other load: once more`);
      runs.push({ ...r, retried: true });
      r = await runCall(n, o, log);
    }
    runs.push(r);
    if (r.pass) pass = Math.max(pass ?? 0, n);
    else fail = Math.min(fail ?? Infinity, n);
    return r.pass;
  };
  // Upwards in steps until the first failure…
  for (let n = o.start; n <= o.max && !overBudget(); n += o.step) if (!(await tryN(n))) break;
  // …then bisect between the largest pass and the smallest failure (or downwards if the first failed).
  if (fail !== null && pass === null) {
    for (let n = fail - o.step; n >= 2 && pass === null && !overBudget(); n -= o.step) await tryN(n);
  }
  while (pass !== null && fail !== null && fail - pass > 1 && !overBudget()) await tryN(Math.floor((pass + fail) / 2));
  return {
    command: `node bench/sfu-capacity.mjs${process.argv.slice(2).length ? ' ' + process.argv.slice(2).join(' ') : ''}`,
    date: new Date(started).toISOString(),
    finished: new Date().toISOString(),
    durationS: (Date.now() - started) / 1000,
    budgetExhausted: overBudget(),
    machine: machine(),
    janus: janusVersion(),
    gitHead: safe(() => execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root('.'), encoding: 'utf8' }).trim()),
    serverBuiltAt: distStamp(),
    options: o,
    largestPass: pass,
    smallestFail: fail,
    largestFullRate: Math.max(0, ...runs.filter((r) => r.fullRate).map((r) => r.n)) || null,
    // Janus CPU (% of one core) against the number of forwarded streams, over the calls at full frame rate.
    janusFit: fitLine(runs.filter((r) => r.fullRate && r.cpu).map((r) => [r.streams, r.cpu.janusPct])),
    runs,
  };
}

function janusVersion() {
  const r = spawnSync('/usr/bin/janus', ['--version'], { encoding: 'utf8' });
  const m = /Janus version: \d+ \(([^)]+)\)/.exec(`${r.stdout}${r.stderr}`);
  return m ? `Janus ${m[1]}` : null;
}

function safe(fn) {
  try {
    return fn();
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Report (bench/report.mjs renders this into docs/benchmarks.md, section d).
// ---------------------------------------------------------------------------------------------

const row = (cells) => `| ${cells.join(' | ')} |`;

/** The Summary table's row for docs/benchmarks.md. */
export function sfuSummaryRow(r, cheaper = null) {
  const one = (x, label) => {
    const best = x.runs.find((y) => y.n === x.largestPass && y.pass);
    return `${label}: **${x.largestPass ?? 'none'}**${best ? ` (${fmt.ms(best.fps.p50)} fps per stream)` : ''}${x.smallestFail ? `, ${x.smallestFail} failed` : x.budgetExhausted ? ', none failed within the time budget' : ''}; at ≥ 80 % of the frame rate: **${x.largestFullRate ?? 'none'}**`;
  };
  const fit = r.janusFit;
  return [
    'SFU group call on this 2-core rig (Janus + all N clients): largest N with every participant receiving all others',
    [one(r, sizesOf(r)), cheaper ? one(cheaper, sizesOf(cheaper)) : null, fit ? `Janus ≈ ${fmt.ms(fit.slope * 10, 1)} ‰ of a core per forwarded stream` : null].filter(Boolean).join('; '),
    'largest N (default OPENCALL_SFU_MAX = 16)',
    'measured',
  ];
}

const cameraText = (camera) => (camera === 'sdk'
  ? "as the SDK asks for it (its 480p profile: 640×480, 15 fps ideal). This is also what `tests/group-sfu.test.ts` sends: its `syntheticMedia` 160×120 at 10 fps are defaults that the SDK's constraints override"
  : `forced to ${camera.replace('x', '×').replace('@', ' at ')} fps (exact constraints given to the synthetic camera)`);
const sizesOf = (r) => [...new Set(r.runs.flatMap((x) => Object.keys(x.receivedSizes ?? {})))].map((x) => x.replace('x', '×')).join(', ') || '?';

/** Result line, table and Janus estimate of one search. */
function renderSeries(r) {
  const o = r.options;
  const runs = r.runs;
  const fit = r.janusFit;
  const best = runs.find((x) => x.n === r.largestPass && x.pass && !x.calibration);
  const full = runs.find((x) => x.n === r.largestFullRate && x.fullRate);
  const failed = runs.filter((x) => !x.pass && !x.retried && !x.calibration).sort((a, b) => a.n - b.n)[0];
  const sizes = sizesOf(r);
  const lines = runs.map((x) => row([
    `${x.n}${x.calibration ? ' (calibration)' : ''}`, x.streams, x.pass ? (x.fullRate ? '**pass**, full rate' : '**pass**') : x.retried ? 'fail (retried)' : '**fail**', x.live ?? '–',
    x.fps ? `${fmt.ms(x.fps.p50)} / ${fmt.ms(x.fps.p10)} / ${fmt.ms(x.fps.min)}` : '–',
    fmt.pct(x.cpu?.janusPct), fmt.pct(x.cpu?.serverPct), fmt.pct(x.cpu?.clientsPct), fmt.pct(x.cpu?.machinePct), fmt.pct(x.cpu?.otherPct), x.setupS ? fmt.int(x.setupS) : '–',
  ]));
  const note = (x) => (x.error ? `N=${x.n}: ${x.error.split(' | ')[0]}` : x.deadStreams?.length ? `N=${x.n}: not live: ${x.deadStreams.slice(0, 8).join(', ')}${x.live < x.streams - 8 ? ', …' : ''}` : '');
  const notes = runs.filter((x) => !x.pass).map(note).filter(Boolean);
  const perCore = fit ? (100 - fit.intercept) / fit.slope : NaN;
  const nOneCore = fit ? Math.floor((1 + Math.sqrt(1 + 4 * perCore)) / 2) : NaN;
  const busy = runs.filter((x) => (x.cpu?.otherPct ?? 0) > 25);
  const search = runs.filter((x) => !x.calibration && x.cpu);
  const maxJanus = Math.max(...runs.filter((x) => x.cpu).map((x) => x.cpu.janusPct));
  const saturated = search.filter((x) => x.cpu.machinePct > 180).sort((a, b) => a.n - b.n)[0];
  const meaning = `**What this means.** By the test's criterion (every stream grows) calls up to N = ${r.largestPass ?? '–'} worked${r.smallestFail ? ` and N = ${r.smallestFail} did not` : ' and none failed'}, but the criterion is weak:
${best ? `at N = ${best.n} a stream showed ${fmt.ms(best.fps.p50)} fps (median), not a usable call. ` : ''}The full frame rate held up to N = ${r.largestFullRate ?? '–'}.${saturated ? ` From N = ${saturated.n} on
the machine was saturated (${fmt.pct(saturated.cpu.machinePct)} of 200 %), the clients using ${fmt.pct(saturated.cpu.clientsPct)}` : ''} while Janus never used more than ${fmt.pct(maxJanus)} of a core:
the limit is the test rig's (N clients' encoders and decoders on 2 cores), not Janus's.${busy.length ? ` Other people's work ran during N = ${busy.map((x) => x.n).join(', ')}
(other load ${fmt.pct(Math.min(...busy.map((x) => x.cpu.otherPct)))}–${fmt.pct(Math.max(...busy.map((x) => x.cpu.otherPct)))}; the quiet-wait gives up after ${o.quietWait} s), which may have lowered the frame rates there further.` : ''}
`;
  return `\`${r.command}\`, ${r.date.replace('T', ' ').slice(0, 16)} UTC, ${fmt.int(r.durationS)} s, commit ${r.gitHead ?? '?'}, server build of ${(r.serverBuiltAt ?? '?').replace('T', ' ').slice(0, 16)} UTC, ${r.janus ?? 'Janus'}, clients in ${o.procs} process${o.procs > 1 ? 'es' : ''}.
Camera: ${cameraText(o.camera)}; frames received: ${sizes}.

**Largest N that passed: ${r.largestPass ?? 'none'}**${best ? ` (${best.streams} streams live, median ${fmt.ms(best.fps.p50)} fps per stream, Janus ${fmt.pct(best.cpu.janusPct)}, clients ${fmt.pct(best.cpu.clientsPct)} of a core)` : ''}${failed ? `; N = ${failed.n} failed (${failed.error ? 'error' : `${failed.live}/${failed.streams} live, median ${fmt.ms(failed.fps?.p50)} fps`})` : ''}.${r.budgetExhausted ? ` The time budget (${o.budget} s) ended the search${failed ? '' : ' before any N failed'}.` : ''}
**Largest N at full rate: ${r.largestFullRate ?? 'none'}**${full ? ` (median ${fmt.ms(full.fps.p50)} fps, machine ${fmt.pct(full.cpu.machinePct)})` : ''}.

${row(['N', 'streams N×(N−1)', 'result', 'live', 'fps per stream p50 / p10 / min', 'Janus CPU', 'server CPU', 'clients CPU', 'machine', 'other load', 'setup s'])}
${row(['---', '---:', '---', '---:', '---:', '---:', '---:', '---:', '---:', '---:', '---:'])}
${lines.join('\n')}
${notes.length ? `\n${notes.map((x) => `- ${x}`).join('\n')}\n` : ''}
**Janus alone.** ${fit ? `Over the ${fit.points} calls at full rate, Janus's CPU ≈ ${fmt.ms(fit.intercept, 1)} % + ${fmt.ms(fit.slope * 10, 2)} ‰ of a core per
forwarded stream (least squares; one stream = one sender's ${sizes} video at ~${nominalFps(o.camera)} fps + audio to one
receiver${full ? `, ≈ ${fmt.int(full.videoKbpsP50 + full.audioKbpsP50)} kbit/s` : ''}). If that held linearly and Janus had one core to itself, it would forward
about ${fmt.int(perCore)} such streams, an N-person call (N×(N−1) streams) up to N ≈ ${fmt.int(nOneCore)}; an extrapolation,
not a measurement.` : "Not enough calls at full rate to fit Janus's cost per stream."}

${meaning}`;
}

/** Section d of docs/benchmarks.md: the main search (the tests' camera) and, if given, one with cheaper clients. */
/**
 * How the measured client polled stats: since 6585b39 one pair of getStats reports per client
 * serves every remote user of a tick; the runs before read a pair per remote user.
 */
function sharedStats(commit) {
  const after = commit ? spawnSync('git', ['merge-base', '--is-ancestor', '6585b39', commit], { cwd: root('.') }).status : null;
  if (after === 0) return 'each client reads one `getStats` report of each of its connections per tick, shared by all its remote users (since 6585b39): 2·N reports per half second over all clients';
  if (after === 1) return 'in this run, before 6585b39, each client read a report of both its connections once per remote user: 2·N·(N−1) full reports per half second over all clients';
  return 'one `getStats` report per connection and tick since 6585b39, one per remote user before it';
}

export function renderSfuSection(r, cheaper = null) {
  const o = r.options;
  return `## d. Largest SFU call

**Method** (\`bench/sfu-capacity.mjs\`; machine as above: ${r.machine.nproc} cores, ${r.machine.cpu}).
For each N, after waiting for a quiet machine (at most ${o.quietWait} s): a fresh Janus (Debian package,
\`config/janus/\`, in its own network namespace as in the tests) and a fresh OpenCall server process
(\`OPENCALL_JANUS_URL\`, \`OPENCALL_SFU_MAX=64\`, \`OPENCALL_MAX_INVITEES=64\`); N Node SDK clients
(\`@opencall/client/node\` on \`@roamhq/wrtc\`, synthetic camera and microphone) in processes of their own.
p0 calls \`groupCall()\` with the N−1 others, who accept. Once every participant has decoded more
than 2 frames and received audio from every other one (the test's condition), ${o.settle} s more, then a
${o.window} s window: a stream (receiver ← sender) is **live** when its inbound-rtp video bytes, audio
bytes and decoded frames (the SDK's \`getStats(userID)\`) all grew over the window; N **passes** when all
N×(N−1) are live. fps = frames decoded per stream over the window; **full rate** = a pass where 90 % of the
streams still decode ≥ 80 % of the frame rate sent. CPU over the window from \`/proc/<pid>/stat\` (Janus, server,
client processes) and \`/proc/stat\` (machine); "other" is what the machine used besides these and the
bench itself (other people's work, and kernel time not charged to a process). All in % of one core
(200 % = the whole machine). ${o.calibrate ? `Calibration calls (N = ${o.calibrate}) first, then ` : ''}N = ${o.start}, ${o.start + o.step}, … until the first failure
(a failure under more than 25 % other load is run once more), then bisection, within a time budget.

**Caveat: this is the rig's limit, not Janus's.** The N clients run on the same 2 cores as Janus:
N×(N−1) video decoders (and as many audio streams), N encoders, and the SDK's own stats polling (every
500 ms, for volume and network quality, ${sharedStats(r.gitHead)}). Janus forwards packets
without decoding. When the clients use both cores, the senders' encoders and the receivers' decoders
fall behind, the frame rate drops, and Janus has less to forward: its CPU in the saturated rows is not
its cost at full rate.

### The tests' camera

${renderSeries(r)}${cheaper ? `
### Cheaper clients: a smaller camera

The clients, not Janus, use the machine, so the same search with smaller, slower video (fewer
pixels to encode and decode; the same number of streams):

${renderSeries(cheaper)}` : ''}`;
}

// ---------------------------------------------------------------------------------------------

if (isMain) {
  const argv = process.argv.slice(2);
  if (argv[0] === '--role' && argv[1] === 'clients') {
    await clientRole();
  } else {
    const o = parseArgs(argv, { calibrate: '3,5,7', start: 9, step: 2, max: 41, budget: 600, window: 10, settle: 5, settleTimeout: 30, camera: 'sdk', procs: 2, quietWait: 60, json: false, out: 'bench/results/sfu-capacity.json' });
    if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new Error('needs root: Janus runs in a network namespace');
    setTimeout(() => {
      console.error('sfu-capacity: still running after budget + 15 min: giving up');
      process.exit(1);
    }, (o.budget + 900) * 1000).unref();
    const t0 = Date.now();
    const log = (m) => console.error(`[sfu ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${m}`);
    const r = await runSfuCapacity(o, log);
    if (o.out) {
      mkdirSync(root('bench/results'), { recursive: true });
      writeFileSync(root(o.out), JSON.stringify(r, null, 1));
      log(`wrote ${o.out}`);
    }
    log(`largest N that passed: ${r.largestPass ?? 'none'}; smallest that failed: ${r.smallestFail ?? 'none'}`);
    if (o.json) console.log(JSON.stringify(r));
    process.exit(0);
  }
}
