/**
 * Shared helpers of the benchmarks (bench/) and the load generator (load/): process CPU and
 * memory from /proc, spawning the servers, percentiles, machine description.
 *
 * Everything here listens on or connects to 127.0.0.1 only.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const root = (p) => resolve(ROOT, p);

export const SDK_APP_ID = 1400012345;
export const SECRET = 'bench-secret-0123456789abcdef0123456789';

const CLK_TCK = Number(safeExec('getconf', ['CLK_TCK'])) || 100;
const PAGE_SIZE = Number(safeExec('getconf', ['PAGESIZE'])) || 4096;

function safeExec(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

/** CPU time (user+system, ms) and resident memory (bytes) of a process, from /proc/<pid>/stat. */
export function procStat(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after "(comm)": state is field 3, utime 14, stime 15, rss 24.
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  const userMs = (Number(f[11]) * 1000) / CLK_TCK;
  const sysMs = (Number(f[12]) * 1000) / CLK_TCK;
  return { cpuMs: userMs + sysMs, userMs, sysMs, rssBytes: Number(f[21]) * PAGE_SIZE };
}

/**
 * CPU of one thread of a process (`/proc/<pid>/task/<tid>/stat`); the main thread's tid is the
 * pid. Node's event loop runs on the main thread: when it is saturated the server is, however
 * idle its other threads (GC helpers, the records writer) are.
 */
export function threadStat(pid, tid = pid) {
  const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return { cpuMs: ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK };
}

/** Peak resident memory (VmHWM) of a process, in bytes. */
export function peakRss(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** Nearest-rank percentile of an unsorted array (p in 0..100). */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

export function summarize(values) {
  return { n: values.length, p50: percentile(values, 50), p95: percentile(values, 95), p99: percentile(values, 99), max: values.length ? Math.max(...values) : NaN };
}

export function median(values) {
  return percentile(values, 50);
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The machine the numbers come from. */
export function machine() {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  const chromium = safeExec(process.env.OPENCALL_CHROMIUM ?? '/usr/bin/chromium', ['--version']) || 'not found';
  return {
    nproc: Number(safeExec('nproc', [])) || os.availableParallelism(),
    cpu: model,
    memGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    node: process.version,
    chromium,
    fdLimit: safeExec('sh', ['-c', 'ulimit -n']),
  };
}

/** Waits until `fn` resolves truthy, polling; throws after `timeoutMs`. */
export async function waitUntil(fn, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await fn()) return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Server processes started here and not stopped yet: killed if this process exits or is interrupted. */
const live = new Set();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));

/** Newest modification time of the server's built files: shows when someone rebuilt dist/ mid-run. */
export function distStamp() {
  const dir = root('packages/server/dist');
  let newest = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.js')) newest = Math.max(newest, statSync(join(d, e.name)).mtimeMs);
    }
  };
  try {
    walk(dir);
  } catch {
    return null;
  }
  return new Date(newest).toISOString();
}

/**
 * Starts a signaling server in its own process on a free loopback port:
 *  - 'opencall': `node packages/server/dist/bin.js`, configured by environment as in production
 *    (call records in SQLite in a temporary data directory, the default; log level warn);
 *  - 'bare': bench/signaling/bare-relay.mjs, a plain `ws` relay of the same message pattern.
 * `nodeArgs` go before the script (e.g. --cpu-prof); `script` runs another build of OpenCall's bin.js. Returns { pid, url, wsUrl, stop() }.
 */
export async function startServerProcess(kind, { nodeArgs = [], env = {}, dataDir, script: scriptOverride, defaultLimits = false } = {}) {
  const port = await freePort();
  let tmp;
  let script;
  let childEnv;
  if (kind === 'opencall') {
    script = scriptOverride ?? root('packages/server/dist/bin.js');
    if (dataDir === undefined) tmp = dataDir = mkdtempSync(join(os.tmpdir(), 'opencall-bench-'));
    childEnv = {
      ...process.env,
      OPENCALL_PORT: String(port),
      OPENCALL_HOST: '127.0.0.1',
      OPENCALL_SDKAPPID: String(SDK_APP_ID),
      OPENCALL_SECRET: SECRET,
      OPENCALL_DEV_USERSIG: '0',
      OPENCALL_LOG_LEVEL: 'warn',
      OPENCALL_DATA_DIR: dataDir,
      // The benchmarks and the load test ring the same people thousands of times a minute on
      // purpose: the invitation rate limits (issue 11) would refuse that (not for bench/under-attack.mjs).
      ...(!defaultLimits && { OPENCALL_INVITE_RATE: '0', OPENCALL_RING_RATE: '0' }),
      // Load and benchmarks open thousands of sockets from 127.0.0.1: no per-address cap (issue 11).
      ...(!defaultLimits && { OPENCALL_MAX_CONNECTIONS_PER_IP: '0' }),
      ...env,
    };
  } else if (kind === 'bare') {
    script = root('bench/signaling/bare-relay.mjs');
    childEnv = { ...process.env, PORT: String(port), ...env };
  } else throw new Error(`unknown server kind ${kind}`);
  const builtAt = kind === 'opencall' ? distStamp() : null;
  const child = spawn(process.execPath, [...nodeArgs, script], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let output = '';
  child.stdout.on('data', (d) => (output += d));
  child.stderr.on('data', (d) => (output += d));
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    }),
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntil(async () => {
      if (child.exitCode !== null) throw Object.assign(new Error('exited'), { fatal: true });
      const r = await fetch(`${url}/healthz`);
      return r.ok;
    }, 15_000, `${kind} server on ${url}`);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${kind} server did not start: ${err.message}\n${output}`);
  }
  return {
    kind,
    builtAt,
    pid: child.pid,
    url,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    output: () => output,
    /** SIGTERM (graceful: the OpenCall server closes its records, --cpu-prof writes its profile), SIGKILL after 10 s. */
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      if (tmp) rmSync(tmp, { recursive: true, force: true });
      return exited;
    },
  };
}

/** Runs a Node script in its own process; resolves with its last stdout line parsed as JSON. */
export function runNodeJson(script, args, { timeoutMs = 120_000, nodeArgs = [], onLine } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgs, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    let partial = '';
    child.stderr.on('data', (d) => {
      err += d;
      if (!onLine) return process.stderr.write(d);
      const lines = (partial + d).split('\n');
      partial = lines.pop();
      for (const l of lines) if (onLine(l) !== true) process.stderr.write(l + '\n');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop() ?? '';
      try {
        const json = JSON.parse(last);
        if (code !== 0) json.exitCode = code;
        resolve(json);
      } catch {
        reject(new Error(`${script} ${args.join(' ')} exited with ${code ?? signal} and no JSON result\n${out}\n${err}`));
      }
    });
  });
}

/** `--name value` / `--flag` command-line options over defaults (numbers stay numbers). */
export function parseArgs(argv, defaults) {
  const o = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const [k, inline] = a.slice(2).split('=', 2);
    const key = k.replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!(key in defaults)) throw new Error(`unknown option --${k}; known: ${Object.keys(defaults).map((x) => '--' + x.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(' ')}`);
    if (typeof defaults[key] === 'boolean') o[key] = inline === undefined ? true : inline !== 'false';
    else {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`--${k} needs a value`);
      o[key] = typeof defaults[key] === 'number' ? Number(v) : v;
      if (typeof defaults[key] === 'number' && !Number.isFinite(o[key])) throw new Error(`--${k}: not a number: ${v}`);
    }
  }
  return o;
}

export const fmt = {
  int: (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–'),
  ms: (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–'),
  mib: (b) => (Number.isFinite(b) ? (b / 2 ** 20).toFixed(0) : '–'),
  pct: (x) => (Number.isFinite(x) ? `${x.toFixed(0)}%` : '–'),
  x: (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '–'),
};

/** Busy CPU time of the whole machine so far (all cores, ms), from /proc/stat. */
export function systemBusyMs() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const busy = f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0);
  return (busy * 1000) / CLK_TCK;
}

/**
 * Waits (at most `maxWaitMs`) until the machine is quiet: less than `maxBusyPct` % of one core
 * busy over a 1 s sample. Other people's test runs share this machine; measuring on top of them
 * would measure them. Returns the last sample (percent of one core).
 */
export async function waitForQuiet({ maxWaitMs = 30_000, maxBusyPct = 25 } = {}) {
  const deadline = Date.now() + maxWaitMs;
  for (;;) {
    const b0 = systemBusyMs();
    const t0 = Date.now();
    await sleep(1000);
    const pct = ((systemBusyMs() - b0) / (Date.now() - t0)) * 100;
    if (pct < maxBusyPct || Date.now() > deadline) return { busyPct: pct, waitedMs: maxWaitMs - Math.max(0, deadline - Date.now()) };
  }
}
