/**
 * Renders docs/benchmarks.md from bench/results/latest.json (bench/run.mjs calls it; also
 * `node bench/report.mjs` re-renders the last results without measuring again), plus
 * bench/results/sfu-capacity*.json for section d.
 *
 *   node bench/report.mjs [--out <file>]   (default: the --out of the run that wrote latest.json,
 *                                           docs/benchmarks.md unless that run said otherwise;
 *                                           a relative path is taken from the repository root)
 *
 * Conclusions (met / not met, what costs what) are derived from the stored numbers; statements
 * about the server as it is today say so. Hand-written passages (measurements of other runs,
 * history of changes) live in bench/notes/*.md and are included as written at fixed places (see
 * notes()), so that re-rendering never loses them.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { fmt, median, parseArgs, root } from './lib.mjs';
import { renderSfuSection, sfuSummaryRow } from './sfu-capacity.mjs';
import { attackSummaryRows, renderAttackSection } from './attack/report.mjs';

/** Section d comes from the SFU capacity searches' own results (bench/sfu-capacity.mjs; `npm run bench -- --sfu` runs the main one too). */
function sfuResults(r) {
  const read = (f) => (existsSync(root(f)) ? JSON.parse(readFileSync(root(f), 'utf8')) : null);
  return { main: r.sfu ?? read('bench/results/sfu-capacity.json'), cheaper: read('bench/results/sfu-capacity-small.json') };
}

const TENCENT = 336_810;

const row = (cells) => `| ${cells.join(' | ')} |`;
/** Markdown table; a column is right-aligned when its cells are numbers (or empty). */
const numeric = (c) => c === '' || /^(\*\*)?[-–\d.,]+/.test(String(c));
const table = (head, rows) => [row(head), row(head.map((_, i) => (i > 0 && rows.every((r) => numeric(r[i])) ? '---:' : '---'))), ...rows.map(row)].join('\n');
const yes = (ok) => (ok ? '**met**' : '**not met**');
/** '78–88' for a few ms values, '78' when they round to the same. */
function span(values) {
  const v = values.filter(Number.isFinite).map(Math.round);
  if (!v.length) return '–';
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  return lo === hi ? `${lo}` : `${lo}–${hi}`;
}

/**
 * Hand-written notes, included as written: bench/notes/summary.md under the summary table,
 * signaling.md, media.md and sfu.md at the end of sections a, b and d. They hold what no stored
 * JSON can regenerate (runs of the standalone benches, before/after tables, ideas tried), each
 * with its own date and commit.
 */
function notes(name) {
  const f = root(`bench/notes/${name}.md`);
  return existsSync(f) ? readFileSync(f, 'utf8').trim() : '';
}
/** A section's notes under a heading that says where they come from ('' without notes). */
function notesBlock(name) {
  const text = notes(name);
  if (!text) return '';
  return `### Changes measured along the way

*Hand-written notes from \`bench/notes/${name}.md\`, included as written: measurements of other runs
than the one above, each with its date and commit; \`bench/report.mjs\` does not regenerate them.*

${text}
`;
}

/** Sum of the perf shares of the categories whose names start with one of `prefixes`, as µs per setup of that run. */
function perfUs(perf, label, ...prefixes) {
  const p = perf[label];
  if (!p) return NaN;
  const cats = p.categories.filter((c) => c.samples && prefixes.some((x) => c.name.startsWith(x)));
  return cats.length ? (cats.reduce((a, c) => a + c.pct, 0) / 100) * p.measured?.serverCpuUsPerSetup : NaN;
}

function signalingSection(s, mc) {
  const of = (label) => s.rounds.filter((r) => (r.label ?? r.kind) === label);
  const oc = of('opencall');
  const bare = of('bare');
  const mem = of('opencall-memory-records');
  const sat = (rs, f) => median(rs.map((r) => f(r.saturated.measured)).filter(Number.isFinite));
  const idle = (rs, f) => median(rs.map((r) => r.unloaded && f(r.unloaded.measured)).filter(Number.isFinite));
  const ocRate = sat(oc, (m) => m.setupsPerSec);
  const bareRate = sat(bare, (m) => m.setupsPerSec);
  const memRate = sat(mem, (m) => m.setupsPerSec);
  const ocCpu = sat(oc, (m) => m.serverCpuUsPerSetup);
  const bareCpu = sat(bare, (m) => m.serverCpuUsPerSetup);
  const memCpu = sat(mem, (m) => m.serverCpuUsPerSetup);
  // The main (event-loop) thread alone; runs older than these fields show '–'.
  const mainUs = (rs) => sat(rs, (m) => m.serverMainCpuUsPerSetup);
  const mainPct = (rs) => sat(rs, (m) => m.serverMainCpuPct);
  const ocMain = mainUs(oc);
  const hasMain = Number.isFinite(ocMain);
  const ratio = ocRate / bareRate;
  const bareClient = sat(bare, (m) => m.clientCpuPct);
  const m0 = oc[0]?.saturated.measured;
  const nRounds = new Set(s.rounds.map((r) => r.round)).size;
  const times = (a, b) => (Number.isFinite(a / b) ? `${fmt.x(a / b, 1)}× more` : '');
  // Frames the load client got besides the 6 it waits for per setup (it counts them over the
  // warm-up too, which the setup count leaves out: hence "about").
  const extra = {};
  let measuredSetups = 0;
  for (const r of oc) {
    for (const [k, v] of Object.entries(r.saturated.extraFrames ?? {})) extra[k] = (extra[k] ?? 0) + v;
    measuredSetups += r.saturated.setupsDone ?? 0;
  }
  const extraPerSetup = Object.values(extra).reduce((a, b) => a + b, 0) / measuredSetups;
  let frames = '';
  if (Number.isFinite(extraPerSetup)) {
    frames = extraPerSetup < 0.05
      ? 'OpenCall sent the load client the same 6 frames per setup as the relay (no other frame arrived).'
      : `Besides the 6 frames per setup the load client waits for, OpenCall sent it ${Object.entries(extra).map(([k, v]) => `${fmt.int(v)} \`${k}\``).join(', ')}
frames (over ${fmt.int(measuredSetups)} measured setups and their warm-up): about ${6 + Math.round(extraPerSetup)} frames per setup against the relay's 6.${extra.left ? `
That \`left\` before \`ended\` is what this build sent; the server now tells the remaining party of a 1:1 call
in its \`ended\` frame (\`leftUserID\`), with no \`left\` before it (docs/protocol.md): 6 frames, as the relay sends.` : ''}`;
  }
  const out = [];
  out.push(`## a. Signaling: call setups, OpenCall server vs a bare \`ws\` relay

**Method.** Each measurement starts a fresh server process on a free loopback port and a load
client in another process (\`bench/signaling/client.mjs\`). The client opens ${m0?.pairs ?? '?'}×2 WebSocket
connections, logs each user in (UserSigs from \`genUserSig\`), then every pair does
${m0?.setupsPerPair ?? '?'} call setups back to back, all pairs at once (after 5 warm-up setups per pair):
\`invite\` → callee gets \`invited\` → \`accept\` → caller gets \`accepted\` → \`hangup\` → callee gets \`ended\`
(the two users of a pair swap roles at each setup). *Setup latency* is invite sent → \`accepted\`
received by the caller; *cycle* adds the hang-up until the callee has \`ended\`. "One pair alone"
is a separate run of 300 setups by a single pair on the same server (latency without queueing).
Server CPU is read over the measured phase only, from \`/proc/<pid>/stat\` (the whole process: every
thread) and \`/proc/<pid>/task/<pid>/stat\` (its main thread alone). Before each measurement
the bench waits (up to 60 s) for the machine to be quiet; "other load" is the CPU that anything
else on the machine used during the measurement (percent of one core).

- **OpenCall**: \`node packages/server/dist/bin.js\` with \`OPENCALL_PORT\`, \`OPENCALL_SECRET\`,
  \`OPENCALL_SDKAPPID\`, \`OPENCALL_LOG_LEVEL=warn\`, \`OPENCALL_DATA_DIR=<temp dir>\`: the production
  configuration, call records in an SQLite file (the default).
- **OpenCall, records in memory**: the same with \`OPENCALL_DATA_DIR=""\` (SQLite \`:memory:\`), to
  separate the cost of the record file. Since the writer thread (d7058a8) a file's records are
  committed on another thread while \`:memory:\` ones (one connection) still are on the main thread,
  so for such builds the difference prices the file and where it is committed together.
- **Bare relay**: \`bench/signaling/bare-relay.mjs\`: \`ws\` + \`JSON.parse\` + a Map, the same frames,
  no auth check, no validation, no rate limit, no state machine, no records, no logs.

**Result** (medians of ${nRounds} interleaved round${nRounds === 1 ? '' : 's'}):

${table(['', 'OpenCall', 'OpenCall, records in memory', 'bare ws relay', 'OpenCall / bare'], [
  ['setups/s', `**${fmt.int(ocRate)}**`, fmt.int(memRate), fmt.int(bareRate), `**${fmt.x(ratio)}**`],
  ['server CPU per setup, whole process (µs)', fmt.int(ocCpu), fmt.int(memCpu), fmt.int(bareCpu), times(ocCpu, bareCpu)],
  ['main thread µs/setup', fmt.int(ocMain), fmt.int(mainUs(mem)), fmt.int(mainUs(bare)), times(ocMain, mainUs(bare))],
  ['main thread busy (% of one core)', fmt.pct(mainPct(oc)), fmt.pct(mainPct(mem)), fmt.pct(mainPct(bare)), ''],
  ['setup latency under load, p50 / p99 (ms)', `${fmt.ms(sat(oc, (m) => m.setupMs.p50))} / ${fmt.ms(sat(oc, (m) => m.setupMs.p99))}`, `${fmt.ms(sat(mem, (m) => m.setupMs.p50))} / ${fmt.ms(sat(mem, (m) => m.setupMs.p99))}`, `${fmt.ms(sat(bare, (m) => m.setupMs.p50))} / ${fmt.ms(sat(bare, (m) => m.setupMs.p99))}`, ''],
  ['setup latency, one pair alone, p50 / p99 (ms)', `${fmt.ms(idle(oc, (m) => m.setupMs.p50), 2)} / ${fmt.ms(idle(oc, (m) => m.setupMs.p99), 2)}`, '', `${fmt.ms(idle(bare, (m) => m.setupMs.p50), 2)} / ${fmt.ms(idle(bare, (m) => m.setupMs.p99), 2)}`, ''],
  ['full cycle incl. hang-up, one pair alone, p50 (ms)', fmt.ms(idle(oc, (m) => m.cycleMs.p50), 2), '', fmt.ms(idle(bare, (m) => m.cycleMs.p50), 2), ''],
  ['server RSS after the run (MiB)', fmt.mib(sat(oc, (m) => m.serverRssBytes)), fmt.mib(sat(mem, (m) => m.serverRssBytes)), fmt.mib(sat(bare, (m) => m.serverRssBytes)), ''],
])}

Target: OpenCall ≥ 0.5 × the bare relay's setups/s — ${yes(ratio >= 0.5)} (${fmt.x(ratio)}).
${bareClient > 75 ? `In the bare-relay runs the load client itself used ${fmt.pct(bareClient)} of a core (it parses 6 frames and sends 3 per
setup, the relay 3 and 6): the client may have been the relay's limit, whose real ceiling would then be
higher than shown, and this ratio would flatter OpenCall. The CPU per setup (${fmt.x(ocCpu / bareCpu, 1)}×) depends much less on the client.
` : ''}
The main thread runs the server's event loop (every frame is read, validated, handled and written
there), so it is what limits throughput; the whole-process figure also counts the other threads
(the records writer, GC and JIT helpers), which run on the other core${mc?.nproc > 2 ? 's' : ''}. ${hasMain
  ? `Here OpenCall's main thread used ${fmt.int(ocMain)} of the process's ${fmt.int(ocCpu)} µs per setup, ${fmt.pct(mainPct(oc))} of one core.`
  : 'This run predates the main-thread measurement (shown as "–").'}

All runs:

${table(['round', 'server', 'setups', 'setups/s', 'p50 ms', 'p99 ms', 'server CPU', 'µs CPU/setup (of which sys)', 'main thread µs/setup (% of a core)', 'server RSS MiB', 'client CPU', 'other load', 'errors'], s.rounds.map((r) => {
  const m = r.saturated.measured;
  const errs = Object.entries(r.saturated.errors ?? {}).map(([k, v]) => `${k}: ${v}`).join(', ') || 'none';
  const main = Number.isFinite(m.serverMainCpuUsPerSetup) ? `${fmt.int(m.serverMainCpuUsPerSetup)} (${fmt.pct(m.serverMainCpuPct)})` : '–';
  return [r.round, r.label ?? r.kind, fmt.int(m.setups), fmt.int(m.setupsPerSec), fmt.ms(m.setupMs.p50), fmt.ms(m.setupMs.p99), fmt.pct(m.serverCpuPct), `${fmt.int(m.serverCpuUsPerSetup)} (${fmt.int(m.serverSysUsPerSetup)})`, main, fmt.mib(m.serverRssBytes), fmt.pct(m.clientCpuPct), fmt.pct(Math.max(0, m.otherCpuPct)), errs];
}))}
${frames ? `\n${frames}\n` : ''}`);

  const perf = s.perf ?? {};
  if (Object.keys(perf).length || s.profiled?.profile) out.push("### Where the server's CPU goes\n");
  if (Object.keys(perf).length) {
    const labels = ['opencall', 'opencall-memory-records', 'bare'].filter((l) => perf[l]);
    const names = [...new Set(labels.flatMap((l) => perf[l].categories.map((c) => c.name)))];
    const cpuOf = (l) => perf[l].measured?.serverCpuUsPerSetup;
    const rows = names
      .map((n) => [n, ...labels.map((l) => {
        const c = perf[l].categories.find((x) => x.name === n);
        return c && c.samples ? `${c.pct.toFixed(1)}% ≈ ${fmt.int((c.pct / 100) * cpuOf(l))} µs` : '–';
      })])
      .filter((r) => r.slice(1).some((x) => x !== '–'));
    out.push(`**On-CPU profile** (\`perf record -e cpu-clock -g -p <server>\` during the same saturated load, node
started with \`--perf-basic-prof\`; all threads of the server, kernel included; each sample is
charged to the first recognisable frame from the leaf up — \`bench/signaling/perf-categories.mjs\`).
Recorded over the measured phase only (after logins and warm-up); µs are the share × that run's
CPU per setup (perf itself slows the run a little):

${table(['category', ...labels.map((l) => `${l === 'opencall' ? 'OpenCall' : l === 'bare' ? 'bare relay' : 'OpenCall, records in memory'} (${fmt.int(cpuOf(l))} µs/setup)`)], rows)}
`);
  }
  const p = s.profiled?.profile;
  // --cpu-prof writes one file per thread (the records writer has its own) and run.mjs keeps the
  // first it finds: only call it the main thread's when the gateway's or sessions' code is in it.
  const mainProfile = !!p && p.origins.some((o) => /transport\/ws-gateway|sessions\/session/.test(o.origin));
  if (p) {
    const pm = s.profiled.saturated.measured;
    const has = (name) => p.functions.slice(0, 20).some((f) => f.name === name);
    const natives = [
      has('sqliteTransaction') && '`sqliteTransaction` below is the native SQLite transaction (statements + COMMIT + WAL write)',
      has('writev') && `\`writev\` the socket write syscall, which on this ${mc?.nproc ?? '?'}-core machine also collects time spent waiting for a core after waking the client`,
    ].filter(Boolean);
    out.push(`**V8 CPU profile** (\`node --cpu-prof packages/server/dist/bin.js\`, same load: ${fmt.int(pm?.setups)} setups at
${fmt.int(pm?.setupsPerSec)} setups/s under the profiler; whole process life; kept in \`${p.file}\` — open it in
Chrome DevTools → Performance, or \`node bench/signaling/profile-top.mjs ${p.file}\`). V8 samples
*wall time* on the thread it profiles, and a call into native code (better-sqlite3, a socket write) is
charged to the JS function or native binding that made it${natives.length ? `: ${natives.join('; ')}` : ''}.
${mainProfile ? `This is the main thread's profile. Self time, busy ${fmt.int(p.busyMs)} ms:` : `**Caution:** none of the gateway's or sessions' code is in this profile, so it is probably not the main
thread's (\`--cpu-prof\` writes one profile per thread, and the bench keeps the first file it finds).
Self time, busy ${fmt.int(p.busyMs)} ms:`}

${table(['origin', 'self ms', 'share'], p.origins.slice(0, 12).map((x) => [x.origin === '(native/V8)' ? '(native: syscalls, V8 builtins)' : `\`${x.origin}\``, fmt.int(x.selfMs), `${x.pct.toFixed(1)}%`]))}

${table(['function (file:line)', 'self ms', 'share'], p.functions.slice(0, 20).map((f) => [`\`${f.name}\` ${f.file ? `${f.file}:${f.line}` : '(native)'}`, fmt.int(f.selfMs), `${f.pct.toFixed(1)}%`]))}
`);
  }

  // Conclusions, each from this run's numbers; what the server does today is said as such.
  const recPerf = perf.opencall?.categories.find((c) => c.name.startsWith('call records'));
  const originPct = (re) => (p ? p.origins.filter((o) => re.test(o.origin)).reduce((a, o) => a + o.pct, 0) : NaN);
  const sqliteOnMain = mainProfile ? originPct(/^better-sqlite3$|records\/sqlite-store\.js$/) : NaN;
  const points = [];
  points.push(`- **Call records.** ${recPerf?.samples ? `SQLite was ${recPerf.pct.toFixed(0)}% of the server's CPU in the on-CPU profile (all threads),
  ≈ ${fmt.int(perfUs(perf, 'opencall', 'call records'))} µs per setup. ` : ''}With the records in memory the server needed ${fmt.int(memCpu)} µs per setup
  instead of ${fmt.int(ocCpu)}${hasMain ? ` (main thread ${fmt.int(mainUs(mem))} instead of ${fmt.int(ocMain)})` : ''} and did ${fmt.int(memRate)} setups/s instead of ${fmt.int(ocRate)}.${Number.isFinite(sqliteOnMain) ? `
  In the main thread's V8 profile better-sqlite3 and \`sqlite-store.js\` had ${sqliteOnMain.toFixed(1)}% of the self time:
  ${sqliteOnMain >= 5 ? 'this build committed the records on the main thread.' : 'the commits ran on another thread.'}` : ''}
  The server today (docs/records.md, "SQLite (default)") commits a records file on a writer thread
  (\`worker_threads\`, its own connection): the main thread only queues the rows and posts them every
  10 ms as one batch; a member row queued again before its batch leaves replaces the queued one;
  inviteIDs are time-ordered (UUID v7), so new calls' rows land at the right edge of the indexes.`);
  const sockOc = perfUs(perf, 'opencall', 'socket writes');
  const sockBare = perfUs(perf, 'bare', 'socket writes');
  points.push(`- **Sockets.** ${Number.isFinite(sockOc) ? `Socket writes (ws framing, writev, loopback TCP) took ≈ ${fmt.int(sockOc)} µs per setup for OpenCall and
  ≈ ${fmt.int(sockBare)} µs for the relay in the on-CPU profile. ` : ''}Since d7058a8 the server corks each connection's socket
  for the rest of the event-loop pass in which it gets a frame, so the frames it gets in one pass
  leave in one write, in order.`);
  const own = [['OpenCall\'s own code (gateway, router, engine, sessions)', 'OpenCall server code'], ['frame validation (zod)', 'schema validation'], ['metrics (prom-client)', 'metrics']]
    .map(([what, prefix]) => [what, perfUs(perf, 'opencall', prefix)]).filter(([, us]) => Number.isFinite(us));
  const gc = [perfUs(perf, 'opencall', 'garbage collection'), perfUs(perf, 'bare', 'garbage collection')];
  points.push(`- **The rest.** ${own.length ? `Work the relay does not do, per setup in the on-CPU profile: ${own.map(([w, us]) => `${w} ≈ ${fmt.int(us)} µs`).join(', ')}${Number.isFinite(gc[0]) ? `;
  garbage collection ≈ ${fmt.int(gc[0])} µs against the relay's ≈ ${fmt.int(gc[1])}` : ''}. ` : ''}OpenCall also keeps every frame it sends in a
  per-user replay backlog (with its \`seq\`) for reconnects.${Number.isFinite(memCpu / bareCpu) ? ` With the records in memory it needed ${fmt.int(memCpu)} µs per
  setup, ${fmt.x(memCpu / bareCpu, 1)}× the relay's ${fmt.int(bareCpu)}${memCpu > 1.2 * bareCpu ? ': without record files it would still stay above the relay' : ''}.` : ''}`);
  out.push(`### What this means

${points.join('\n')}
`);
  return { text: out.join('\n'), ocRate, bareRate, ratio, ocCpu, bareCpu };
}

function goLiveRow(g) {
  let mech;
  if (g.mode.startsWith('enabled')) mech = '`track.enabled = true` (OpenCall)' + (g.mode.includes('(') ? ' ' + g.mode.slice(8) : '');
  else if (g.mode === 'replace-black') mech = 'black canvas track → `replaceTrack(camera)`';
  else mech = '`encodings[0].active` false → true';
  return [g.setup, g.fps, mech, fmt.ms(g.ms.p50, 0), fmt.ms(g.ms.p95, 0), g.ms.n];
}

function mediaSection(m, goLive) {
  const by = (v, ring) => m.summary.find((s) => s.variant === v && s.ring === ring);
  const out = [];
  out.push(`## b. 1:1 media in Chromium: answering → first remote video frame, OpenCall vs PeerJS

**Method.** One headless Chromium (${'`/usr/bin/chromium`'}, fake camera and microphone), four pages in their own
contexts: an OpenCall caller and callee (the IIFE bundle from a \`<script>\` tag, server started in
the bench process) and a PeerJS caller and callee (\`node_modules/peerjs/dist/peerjs.min.js\`,
the \`peer\` server started in the bench process). Both apps ask for the same camera (640×480,
15 fps ideal: OpenCall's default 480p profile) and use no ICE servers (loopback host candidates).
Calls alternate OpenCall / PeerJS / PeerJS-camera-first, ${m.calls} measured calls each per ring delay
(after ${m.warmup} warm-up calls), one call at a time, hung up and torn down between calls.

- t0, OpenCall: the callee's \`accept()\` call (the SDK opened the devices and connected while ringing).
- t0, PeerJS: the callee's \`call.answer(stream)\` call. "peerjs": the callee's \`getUserMedia\` starts
  when the call arrives (as PeerJS's docs do it); "peerjs, camera first": its camera was open before.
- "Ring" is the time from the incoming call (INVITED / \`peer.on('call')\`) to t0: 2000 ms is a person
  picking up, 0 an app answering at once.
- First remote frame: \`requestVideoFrameCallback\` on the remote \`<video>\` (OpenCall: the element
  \`startRemoteView\` made on USER_ENTER; PeerJS: the app's element on the \`stream\` event), the first
  frame that is not black (OpenCall sends black frames while ringing). Timestamps are \`Date.now()\`
  in each page: one machine, one clock.

The machine was ${fmt.pct(m.machineBusyPct)} busy (of one core) on average during the media runs, which took ${fmt.int(m.durationS)} s.

**Result** (ms after t0; "both" = until each side sees the other):
`);
  const rows = [];
  for (const ring of m.rings) {
    for (const v of ['opencall', 'peerjs', 'peerjs-gum-first']) {
      const s = by(v, ring);
      if (!s) continue;
      rows.push([`${v === 'opencall' ? '**OpenCall**' : v === 'peerjs' ? 'PeerJS' : 'PeerJS, camera first'}`, ring, `${s.calls - s.failed}/${s.calls}`, `${fmt.ms(s.calleeLive.p50, 0)} / ${fmt.ms(s.calleeLive.p95, 0)}`, `${fmt.ms(s.callerLive.p50, 0)} / ${fmt.ms(s.callerLive.p95, 0)}`, `${fmt.ms(s.bothLive.p50, 0)} / ${fmt.ms(s.bothLive.p95, 0)}`]);
    }
  }
  out.push(table(['variant', 'ring ms', 'calls ok', 'callee sees caller p50 / p95', 'caller sees callee p50 / p95', 'both p50 / p95'], rows));
  const ratios = [];
  for (const ring of m.rings) {
    const oc = by('opencall', ring);
    for (const v of ['peerjs', 'peerjs-gum-first']) {
      const pj = by(v, ring);
      if (!oc || !pj) continue;
      ratios.push([ring, v === 'peerjs' ? 'PeerJS' : 'PeerJS, camera first', fmt.x(oc.calleeLive.p50 / pj.calleeLive.p50), fmt.x(oc.callerLive.p50 / pj.callerLive.p50), `**${fmt.x(oc.bothLive.p50 / pj.bothLive.p50)}**`, fmt.x(oc.bothLive.p95 / pj.bothLive.p95), yes(oc.bothLive.p50 / pj.bothLive.p50 <= 0.5)]);
    }
  }
  out.push(`
OpenCall / PeerJS (goal: ≤ 0.5):

${table(['ring ms', 'against', 'callee side p50', 'caller side p50', 'both p50', 'both p95', 'goal'], ratios)}

**Where the time goes** (medians, ms after t0):
`);
  for (const ring of m.rings) {
    for (const v of ['opencall', 'peerjs']) {
      const s = by(v, ring);
      if (!s) continue;
      out.push(`- ${v === 'opencall' ? 'OpenCall' : 'PeerJS'}, ring ${ring} ms: ${Object.entries(s.steps).map(([k, x]) => `${k} ${fmt.ms(x, 0)}`).join(' · ')}`);
    }
  }
  // The ringing case is the longest ring measured (2000 ms by default).
  const ring = Math.max(...m.rings);
  const oc2 = ring > 0 ? by('opencall', ring) : null;
  const pj2 = ring > 0 ? by('peerjs', ring) : null;
  const step = (s, k) => s?.steps[k];
  const acc = step(oc2, 'callee: accept() resolved');
  if (m.elementStartup?.n) {
    const any = ['callee', 'caller'].map((w) => step(oc2, `${w}: first frame (any)`));
    const lead = ['callee', 'caller'].map((w, i) => step(oc2, `${w}: first live frame`) - any[i]);
    out.push(`
**A new \`<video>\` element.** In a running call, a fresh \`<video>\` given the remote stream that is
already flowing presented its first frame after p50 ${fmt.ms(m.elementStartup.p50, 0)} ms, p95 ${fmt.ms(m.elementStartup.p95, 0)} ms (${m.elementStartup.n} tries,
the last step of \`media-bench.mjs\`).${oc2 && lead.every(Number.isFinite) ? (lead.every((x) => x > 0)
  ? ` With the phone ringing first this was not on OpenCall's critical
path: the view made on USER_ENTER showed the (still black) remote video ${span(any)} ms after accept(), and the
first live frame came ${span(lead)} ms later.`
  : ` With the phone ringing first, the view made on USER_ENTER showed its first frame ${span(any)} ms
after accept(), and that frame was already live: the element's start-up may be on the critical path.`) : ''}`);
  }
  if (oc2 && pj2) {
    const both = oc2.bothLive.p50;
    const goal = 0.5 * pj2.bothLive.p50;
    const oc0 = by('opencall', 0);
    const pj0 = by('peerjs', 0);
    const r0 = oc0 && pj0 ? oc0.bothLive.p50 / pj0.bothLive.p50 : NaN;
    const r0Text = r0 <= 0.5 ? 'the goal is met' : r0 < 0.9 ? 'faster than PeerJS, short of the goal' : r0 <= 1.1 ? 'about as fast as PeerJS' : 'slower than PeerJS';
    out.push(`
**What this means.** With the phone ringing first (ring ${ring} ms), OpenCall's signaling after accept() took
about ${fmt.ms(acc, 0)} ms (accept() resolved; USER_ENTER on both sides after ${span(['callee', 'caller'].map((w) => step(oc2, `${w}: USER_ENTER`)))} ms), and both sides saw each other
after ${fmt.ms(both, 0)} ms (p50). The remainder is Chromium turning the sending track live (\`enabled\` = true in
\`LocalMedia.setLive\`) and the next camera frame travelling through encoder, loopback, decoder and
compositor (the go-live table below measures that part alone). PeerJS reached ICE connected after
${fmt.ms(step(pj2, 'callee: ICE connected'), 0)} ms (loopback, host candidates) and both its sides saw each other after ${fmt.ms(pj2.bothLive.p50, 0)} ms. The goal,
≤ 0.5 × PeerJS = ${fmt.ms(goal, 0)} ms, is ${yes(both <= goal)}${both > goal && both - acc > goal ? `; even with no signaling at all OpenCall would have taken
${fmt.ms(both - acc, 0)} ms: what is left to gain here is in the media pipeline, not in OpenCall's signaling` : ''}.${Number.isFinite(r0) ? `
Answering at once (ring 0) there is no ringing to pre-connect in: OpenCall took ${fmt.ms(oc0.bothLive.p50, 0)} ms, PeerJS
${fmt.ms(pj0.bothLive.p50, 0)} ms (${fmt.x(r0)}: ${r0Text}).` : ''} Pre-connecting should pay off more on real networks, where
ICE and DTLS cost several round trips (and TURN allocations) that OpenCall has already paid while
ringing; that was not measured here (it needs links with delay).`);
  }
  if (goLive?.length) {
    const g = (mode) => goLive.find((x) => x.setup === 'one page, one way' && x.fps === 15 && x.mode === mode)?.ms.p50;
    const [en, rb, act] = [g('enabled'), g('replace-black'), g('active')];
    const others = [['a black canvas track replaced by the camera', rb], ['re-activating a paused encoding', act]].filter(([, v]) => Number.isFinite(v));
    const fastest = others.reduce((a, b) => (b[1] < a[1] ? b : a), ['', Infinity]);
    const two = goLive.filter((x) => x.setup.startsWith('two pages')).map((x) => x.ms.p50);
    out.push(`
**Going live, by mechanism** (\`bench/media/go-live.mjs\`: plain RTCPeerConnections on loopback, no SDK,
the fake camera, the receiver's \`<video>\` playing; 1.5 s of black/no frames, then t0 = go live;
time to the first non-black frame presented at the receiver):

${table(['setup', 'fps', 'mechanism', 'p50 ms', 'p95 ms', 'n'], goLive.map(goLiveRow))}
${Number.isFinite(en) ? `
In one page at 15 fps OpenCall's mechanism (\`track.enabled\`) went live in ${fmt.ms(en, 0)} ms (p50)${others.length ? `, ${others.map(([w, v]) => `${w} in ${fmt.ms(v, 0)} ms`).join(', ')}:
${en <= fastest[1] * 1.15 ? "OpenCall's is as fast as the fastest" : `${fastest[0]} was faster`}` : ''}.${act > 2 * en ? ' Re-activating an\nencoding is slower probably because the encoder then has to start with a key frame.' : ''}${two.length ? ` Two pages (two renderer processes)
sending video both ways, as in a call, took ${span(two)} ms, ${fmt.x(two.reduce((a, b) => a + b, 0) / two.length / en, 1)}× one page one way` : ''}${oc2 ? `; the whole call (audio too,
both directions, ring ${ring} ms) took ${fmt.ms(oc2.bothLive.p50, 0)} ms, of which about ${fmt.ms(acc, 0)} ms was OpenCall's signaling after accept()` : ''}.` : ''}`);
  }
  const fails = m.results.filter((r) => r.failure);
  out.push('');
  if (fails.length) out.push(`\nFailed calls (excluded): ${fails.map((r) => `${r.variant} ring ${r.ring}: ${r.failure}`).join('; ')}`);
  if (m.pageErrors?.length) out.push(`\nPage errors: ${m.pageErrors.join('; ')}`);
  return out.join('\n');
}

function sizeSection(z) {
  return `## c. Client bundle size

\`node scripts/size.mjs --no-build --json\` on the bundles built by \`packages/client/build.mjs\`
(minified, gzip level 9), against Tencent's client stack, ${fmt.int(TENCENT)} B min+gzip
(trtc-calling-js + tsignaling + trtc-js-sdk + tim-js-sdk, from shared/spec/compat-facts.md):

${table(['bundle', 'min B', 'min+gzip B', 'of Tencent', 'smaller by'], z.bundles.map((b) => [b.file, fmt.int(b.min), `**${fmt.int(b.gzip)}**`, `${(b.ratio * 100).toFixed(1)}%`, `${(1 / b.ratio).toFixed(1)}×`]))}
`;
}

/** Others rebuild packages/ while this runs (their npm test): say which builds were measured. */
function buildNote(r) {
  const builds = [...new Set((r.signaling?.rounds ?? []).map((x) => x.builtAt).filter(Boolean))];
  const head = r.gitHeadAtEnd && r.gitHeadAtEnd !== r.gitHead ? ` HEAD moved to ${r.gitHeadAtEnd} during the run (the server build measured did not change).` : '';
  if (builds.length <= 1) return `\nServer build measured: \`packages/server/dist\` of ${(builds[0] ?? r.distBuiltAt ?? '?').replace('T', ' ').slice(0, 19)} UTC.${head}`;
  return `\n**Caution:** the server's \`dist/\` was rebuilt by someone else during this run: the signaling rounds ran on ${builds.length} different builds (${builds.map((b) => b.slice(11, 19)).join(', ')} UTC).${head}`;
}

export function renderReport(r) {
  const mc = r.machine;
  const other = (r.signaling?.rounds ?? []).map((x) => x.saturated?.measured?.otherCpuPct).filter(Number.isFinite);
  const maxOther = other.length ? Math.max(0, ...other) : NaN;
  const parts = [];
  parts.push(`# Benchmarks

Generated by \`${r.command}\` (\`bench/run.mjs\`) on ${r.date.replace('T', ' ').slice(0, 19)} UTC, in ${Math.round((Date.parse(r.finished) - Date.parse(r.date)) / 1000)} s,
at commit ${r.gitHead ?? '?'}${r.gitDirty ? ` with ${r.gitDirty} uncommitted change(s) under packages/ (work in progress of other people was measured as it was)` : ''}.
Raw numbers: \`bench/results/latest.json\`. Issue 6; the load test is in [load.md](load.md).${buildNote(r)}
Rendered by \`bench/report.mjs\` from the stored results; the hand-written notes of \`bench/notes/\`
(other runs, with their dates and commits) are included as written, marked as such.

| machine | |
|---|---|
| cores (nproc) | ${mc.nproc} |
| CPU | ${mc.cpu} |
| memory | ${mc.memGiB} GiB |
| kernel | ${mc.kernel} |
| Node.js | ${mc.node} |
| Chromium | ${mc.chromium} |

This is a shared ${mc.nproc}-core VM${Number.isFinite(maxOther) ? `: during this run's signaling measurements everything else on it used up to
${fmt.pct(maxOther)} of a core` : ''}. Every measurement waits for a quiet moment first (at most ${r.options?.quietWait ?? 60} s) and reports how
much CPU everything else used meanwhile ("other load"); the signaling rounds are interleaved so the
servers see similar conditions.
`);
  const sig = r.signaling ? signalingSection(r.signaling, mc) : null;
  const summary = [];
  if (sig) summary.push(['signaling: setups/s, OpenCall / bare ws relay', `${fmt.int(sig.ocRate)} / ${fmt.int(sig.bareRate)} = **${fmt.x(sig.ratio)}**`, '≥ 0.5', yes(sig.ratio >= 0.5)]);
  if (r.media) {
    for (const ring of r.media.rings) {
      const oc = r.media.summary.find((s) => s.variant === 'opencall' && s.ring === ring);
      const pj = r.media.summary.find((s) => s.variant === 'peerjs' && s.ring === ring);
      if (oc && pj) summary.push([`media: answer → both see each other, p50, ring ${ring} ms, OpenCall / PeerJS`, `${fmt.ms(oc.bothLive.p50, 0)} / ${fmt.ms(pj.bothLive.p50, 0)} ms = **${fmt.x(oc.bothLive.p50 / pj.bothLive.p50)}**`, '≤ 0.5', yes(oc.bothLive.p50 / pj.bothLive.p50 <= 0.5)]);
    }
  }
  if (r.size) {
    const iife = r.size.bundles.find((b) => b.file.includes('iife'));
    if (iife) summary.push(['client bundle (IIFE) min+gzip vs Tencent', `${fmt.int(iife.gzip)} B vs ${fmt.int(TENCENT)} B = ${(iife.ratio * 100).toFixed(1)}%`, 'smaller', yes(iife.ratio < 1)]);
  }
  const sfu = sfuResults(r);
  if (sfu.main) summary.push(sfuSummaryRow(sfu.main, sfu.cheaper));
  // Section e comes from its own run (bench/under-attack.mjs), like d.
  const readJson = (f) => (existsSync(root(f)) ? JSON.parse(readFileSync(root(f), 'utf8')) : null);
  const attack = readJson('bench/results/under-attack.json');
  // The soak on every default is a run of its own (bench/under-attack.mjs --defaults).
  if (attack) attack.soakDefaults = readJson('bench/results/under-attack-soak-defaults.json')?.soak;
  if (attack) summary.push(...attackSummaryRows(attack));
  const later = notes('summary');
  parts.push(`## Summary

${table(['what', 'measured', 'goal', ''], summary)}
${later ? `
**Other runs of the same ratios** (hand-written notes from \`bench/notes/summary.md\`, included as written; not regenerated):

${later}
` : ''}`);
  // The notes go in even when this run skipped their section: they are not this run's.
  parts.push(sig ? sig.text : `## a. Signaling: call setups, OpenCall server vs a bare \`ws\` relay

Not measured in this run (\`npm run bench\` without \`--skip-signaling\`).
`, notesBlock('signaling'));
  parts.push(r.media ? mediaSection(r.media, r.goLive) : `## b. 1:1 media in Chromium: answering → first remote video frame, OpenCall vs PeerJS

Not measured in this run (\`npm run bench\` without \`--skip-media\`).
`, notesBlock('media'));
  if (r.size) parts.push(sizeSection(r.size));
  parts.push(sfu.main ? renderSfuSection(sfu.main, sfu.cheaper) : `## d. Largest SFU call

Not measured in this run (\`node bench/sfu-capacity.mjs\`, or \`npm run bench -- --sfu\`).
`, notesBlock('sfu'));
  parts.push(attack ? renderAttackSection(attack) : `## e. Under attack

Not measured yet (\`node bench/under-attack.mjs\`).
`, notesBlock('attack'));
  parts.push(`## Reproduce

\`\`\`sh
npm run bench                       # everything, 8–20 minutes (waits for quiet moments); rewrites this file
npm run bench -- --quick            # a smoke run (1 round, few calls)
npm run bench -- --skip-media       # signaling and size only
npx tsc -b packages/protocol packages/server   # ab.mjs does not build
node bench/signaling/ab.mjs --rounds 3 --memory --json   # signaling only: bare relay vs OpenCall (+ records in memory), interleaved; --json prints the runs (see a′)
node bench/signaling/ab.mjs --dist packages/server/dist-before   # also another build (a copy of dist inside packages/server), as 'opencall@dist-before'
node bench/signaling/ab.mjs --variants 'no-metrics:OPENCALL_METRICS=0'   # also OpenCall with other environment variables ('name:K=V,K=V;name2:K=V'), to price one part
node bench/media/media-bench.mjs --calls 5 --trace --json   # media with getStats traces
node bench/signaling/profile-top.mjs bench/results/opencall-server.cpuprofile --top 40
node bench/sfu-capacity.mjs         # d: largest SFU call (root, janus; ≤ 10 min; writes bench/results/sfu-capacity.json)
node bench/sfu-capacity.mjs --camera 160x120@10 --out bench/results/sfu-capacity-small.json   # d, cheaper clients
node bench/under-attack.mjs --soak 600   # e: honest call setups during each attack, then a 10-minute mixed soak (writes bench/results/under-attack.json)
node bench/under-attack.mjs --only none --soak 600 --defaults --out bench/results/under-attack-soak-defaults.json   # e: the soak on every default
node bench/report.mjs               # re-render this file from bench/results/latest.json (+ sfu-capacity*.json, bench/notes/*.md)
node bench/report.mjs --out /tmp/benchmarks.md   # the same, written elsewhere
\`\`\`
`);
  return parts.filter(Boolean).join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const o = parseArgs(process.argv.slice(2), { out: '' });
  const r = JSON.parse(readFileSync(root('bench/results/latest.json'), 'utf8'));
  // Without --out, where the run that measured wrote (so a `--quick --out x` run stays out of docs/).
  const out = o.out || r.options?.out || 'docs/benchmarks.md';
  writeFileSync(root(out), renderReport(r));
  console.log(`wrote ${out}`);
}
