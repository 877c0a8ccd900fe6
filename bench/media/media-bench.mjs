#!/usr/bin/env node
/**
 * 1:1 media in real Chromium: from the callee answering to the first remote video frame on both
 * sides, OpenCall (IIFE bundle, its server in this process) against PeerJS (peerjs.min.js from
 * node_modules, the `peer` server in this process), same Chromium, same fake camera, same
 * camera constraints, no ICE servers (loopback host candidates).
 *
 * Variants, interleaved call by call so that both see the same machine load:
 *   opencall         the callee's SDK opens its devices and connects on INVITED (its default);
 *                    the user accepts `ring` ms later; t0 = accept() called
 *   peerjs           the callee opens its camera when the call arrives (as PeerJS apps do) and
 *                    answers `ring` ms later; t0 = call.answer(stream) called
 *   peerjs-gum-first the callee's camera is open before the call arrives
 * for each ring delay (default 2000 ms: a person picking up; 0: answering at once).
 *
 * Standalone (the media part of `npm run bench` alone; it also prints how busy the machine was
 * and how much of that was other load, i.e. not this bench's Node and Chromium):
 *   node bench/media/media-bench.mjs [--calls 20] [--warmup 2] [--rings 2000,0] [--json] [--trace]
 * OPENCALL_BENCH_IIFE=<file> measures another build of the IIFE bundle (A/B of a change).
 */
import { createServer } from 'node:http';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { PeerServer } from 'peer';
import { fmt, parseArgs, root, SDK_APP_ID, SECRET, sleep, summarize, systemBusyMs } from '../lib.mjs';
import { OPENCALL_PAGE, PEERJS_PAGE } from './pages.mjs';
import { CHROMIUM_ARGS as TEST_CHROMIUM_ARGS } from '../../tests/support/chromium-flags.mjs';

/** The browser tests' flags (tests/support/chromium-flags.mjs), plus autoplay with sound (the PeerJS app has no muted fallback). */
export const CHROMIUM_ARGS = [...TEST_CHROMIUM_ARGS, '--autoplay-policy=no-user-gesture-required'];
const CHROMIUM_PATH = process.env.OPENCALL_CHROMIUM ?? '/usr/bin/chromium';
const CALL_TIMEOUT_MS = 15_000;

function serve(files) {
  const server = createServer((req, res) => {
    const f = files[(req.url ?? '/').split('?')[0]];
    if (!f) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': f.type, 'cache-control': 'no-store' }).end(f.body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

export async function runMediaBench({ calls = 20, warmup = 2, rings = [2000, 0], trace = false, progress = () => {} } = {}) {
  const { startServer, genUserSig } = await import(pathToFileURL(root('packages/server/dist/index.js')).href);
  const [iife, peerjs] = await Promise.all([readFile(process.env.OPENCALL_BENCH_IIFE ?? root('packages/client/dist/browser/opencall.iife.js')), readFile(root('node_modules/peerjs/dist/peerjs.min.js'))]);
  const js = 'text/javascript; charset=utf-8';
  const html = 'text/html; charset=utf-8';
  const web = await serve({ '/oc.html': { type: html, body: OPENCALL_PAGE }, '/pj.html': { type: html, body: PEERJS_PAGE }, '/opencall.iife.js': { type: js, body: iife }, '/peerjs.min.js': { type: js, body: peerjs } });
  const base = `http://127.0.0.1:${web.address().port}`;
  // The same two users call each other dozens of times a minute: the invitation rate limits (issue 11) off, as in bench/lib.mjs.
  const oc = await startServer({ port: 0, host: '127.0.0.1', sdkAppId: SDK_APP_ID, secretKey: SECRET, logLevel: 'warn', inviteRate: 0, ringRate: 0 });
  let pjHttp;
  const pjApp = await new Promise((resolve) => {
    const app = PeerServer({ port: 0, host: '127.0.0.1', path: '/pj' }, (srv) => {
      pjHttp = srv;
      resolve(app);
    });
  });
  const pjPort = pjHttp.address().port;
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS, timeout: 20_000 });
  const pageErrors = [];
  const open = async (path, name) => {
    const ctx = await browser.newContext({ viewport: { width: 660, height: 260 } });
    const page = await ctx.newPage();
    page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
    await page.goto(base + path);
    return page;
  };
  const run = `m${Date.now() % 100000}`;
  const [ocA, ocB, pjA, pjB] = await Promise.all([open('/oc.html', 'oc-caller'), open('/oc.html', 'oc-callee'), open('/pj.html', 'pj-caller'), open('/pj.html', 'pj-callee')]);
  const ids = { ocA: `${run}_alice`, ocB: `${run}_bob`, pjA: `${run}-alice`, pjB: `${run}-bob` };
  await Promise.all([
    ...[[ocA, ids.ocA], [ocB, ids.ocB]].map(([p, userID]) => p.evaluate((o) => window.setup(o), { SDKAppID: SDK_APP_ID, serverUrl: oc.url, userID, userSig: genUserSig(SDK_APP_ID, SECRET, userID, 86400) })),
    ...[[pjA, ids.pjA], [pjB, ids.pjB]].map(([p, id]) => p.evaluate((o) => window.setup(o), { id, port: pjPort, path: '/pj' })),
  ]);

  const variants = {
    opencall: { caller: ocA, callee: ocB, calleeID: ids.ocB, callerID: ids.ocA },
    peerjs: { caller: pjA, callee: pjB, calleeID: ids.pjB, callerID: ids.pjA },
    'peerjs-gum-first': { caller: pjA, callee: pjB, calleeID: ids.pjB, callerID: ids.pjA, gumFirst: true },
  };

  async function oneCall(name, ring) {
    const v = variants[name];
    const pages = [v.caller, v.callee];
    await Promise.all(pages.map((p) => p.evaluate((r) => window.reset(r), ring)));
    if (v.gumFirst) await v.callee.evaluate(() => window.openBefore());
    let failure = null;
    try {
      if (trace) {
        await v.caller.evaluate(([peer, ms]) => window.startTrace(peer, ms), [v.calleeID, ring + 2500]);
        await v.callee.evaluate(([peer, ms]) => window.startTrace(peer, ms), [v.callerID, ring + 2500]);
      }
      await v.caller.evaluate((id) => window.dial(id), v.calleeID);
      await Promise.all(pages.map((p) => p.waitForFunction(() => window.marks.remoteLive !== undefined, undefined, { timeout: CALL_TIMEOUT_MS + ring })));
    } catch (err) {
      failure = err.message.split('\n')[0];
    }
    if (trace) await sleep(500);
    const [caller, callee] = await Promise.all(pages.map((p) => p.evaluate(() => ({ marks: window.marks, errors: window.errors.splice(0), trace: window.trace }))));
    // Hang up and let both sides tear down before the next call.
    if (name === 'opencall') {
      await v.caller.evaluate(() => window.hangup()).catch(() => {});
      await Promise.all(pages.map((p) => p.waitForFunction(() => window.marks.ended !== undefined && !document.querySelector('#remote video'), undefined, { timeout: 10_000 }).catch(() => {})));
    } else {
      await v.caller.evaluate(() => window.hangup());
      await v.callee.evaluate(() => window.hangup());
    }
    await sleep(300);
    if (caller.errors.length || callee.errors.length) failure ??= `page errors: ${[...caller.errors, ...callee.errors].join('; ')}`;
    return { caller: caller.marks, callee: callee.marks, failure, ...(trace && { trace: { caller: caller.trace, callee: callee.trace } }) };
  }

  const results = [];
  let elementStartupMs = [];
  const total = rings.length * (warmup + calls) * Object.keys(variants).length;
  let done = 0;
  try {
    for (const ring of rings) {
      for (let i = 0; i < warmup + calls; i++) {
        for (const name of Object.keys(variants)) {
          const r = await oneCall(name, ring);
          done++;
          if (i >= warmup) results.push({ variant: name, ring, ...r });
          if (r.failure) progress(`  ${name} ring ${ring} call ${i}: FAILED ${r.failure}`);
          else if (done % 10 === 0) progress(`  media: ${done}/${total} calls`);
        }
      }
    }
    // Diagnostic: in a running OpenCall call, how long a NEW <video> element takes to present
    // its first frame of the remote stream that is already flowing (what startRemoteView pays).
    progress('  media: element start-up diagnostic');
    await Promise.all([ocA, ocB].map((p) => p.evaluate(() => window.reset(300))));
    await ocA.evaluate((id) => window.dial(id), ids.ocB);
    await Promise.all([ocA, ocB].map((p) => p.waitForFunction(() => window.marks.remoteLive !== undefined, undefined, { timeout: CALL_TIMEOUT_MS })));
    await sleep(1000);
    elementStartupMs = await ocA.evaluate(async () => {
      const stream = document.querySelector('#remote video').srcObject;
      const out = [];
      for (let i = 0; i < 15; i++) {
        const v = document.createElement('video');
        v.autoplay = true;
        v.muted = true;
        v.playsInline = true;
        const t0 = Date.now();
        v.srcObject = stream;
        document.body.appendChild(v);
        out.push(await new Promise((r) => v.requestVideoFrameCallback(() => r(Date.now() - t0))));
        v.remove();
        await new Promise((r) => setTimeout(r, 200));
      }
      return out;
    });
    await ocA.evaluate(() => window.hangup());
  } finally {
    await browser.close().catch(() => {});
    await oc.close().catch(() => {});
    pjHttp.closeAllConnections?.();
    await new Promise((r) => pjHttp.close(r));
    await new Promise((r) => web.close(r));
    void pjApp;
  }
  return { rings, calls, warmup, results, pageErrors, elementStartup: summarize(elementStartupMs), elementStartupMs, summary: summarizeMedia(results, rings) };
}

/** Per variant and ring delay: distributions of t0 → first live remote frame, each side. */
export function summarizeMedia(results, rings) {
  const out = [];
  for (const ring of rings) {
    for (const variant of ['opencall', 'peerjs', 'peerjs-gum-first']) {
      const rs = results.filter((r) => r.variant === variant && r.ring === ring);
      const ok = rs.filter((r) => !r.failure && r.callee.t0 !== undefined);
      const d = (f) => ok.map(f).filter(Number.isFinite);
      out.push({
        variant,
        ring,
        calls: rs.length,
        failed: rs.length - ok.length,
        /** callee sees the caller's video */
        calleeLive: summarize(d((r) => r.callee.remoteLive - r.callee.t0)),
        /** caller sees the callee's video */
        callerLive: summarize(d((r) => r.caller.remoteLive - r.callee.t0)),
        /** both see each other */
        bothLive: summarize(d((r) => Math.max(r.caller.remoteLive, r.callee.remoteLive) - r.callee.t0)),
        calleeFirstFrame: summarize(d((r) => r.callee.remoteFrame - r.callee.t0)),
        callerFirstFrame: summarize(d((r) => r.caller.remoteFrame - r.callee.t0)),
        blackFramesCallee: summarize(d((r) => r.callee.blackFrames)),
        blackFramesCaller: summarize(d((r) => r.caller.blackFrames)),
        /** where the time goes (medians, ms after t0) */
        steps:
          variant === 'opencall'
            ? {
                'callee: accept() resolved': summarize(d((r) => r.callee.accepted - r.callee.t0)).p50,
                'callee: USER_ENTER': summarize(d((r) => r.callee.enter - r.callee.t0)).p50,
                'callee: first frame (any)': summarize(d((r) => r.callee.remoteFrame - r.callee.t0)).p50,
                'callee: first live frame': summarize(d((r) => r.callee.remoteLive - r.callee.t0)).p50,
                'caller: USER_ACCEPT': summarize(d((r) => r.caller.userAccept - r.callee.t0)).p50,
                'caller: USER_ENTER': summarize(d((r) => r.caller.enter - r.callee.t0)).p50,
                'caller: first frame (any)': summarize(d((r) => r.caller.remoteFrame - r.callee.t0)).p50,
                'caller: first live frame': summarize(d((r) => r.caller.remoteLive - r.callee.t0)).p50,
                'ringing before t0 (INVITED → t0)': summarize(d((r) => r.callee.t0 - r.callee.invited)).p50,
              }
            : {
                'callee: click → answer() (waiting for getUserMedia)': summarize(d((r) => r.callee.t0 - r.callee.click)).p50,
                'callee: stream event': summarize(d((r) => r.callee.stream - r.callee.t0)).p50,
                'callee: ICE connected': summarize(d((r) => r.callee.ice - r.callee.t0)).p50,
                'callee: first frame': summarize(d((r) => r.callee.remoteFrame - r.callee.t0)).p50,
                'caller: stream event': summarize(d((r) => r.caller.stream - r.callee.t0)).p50,
                'caller: ICE connected': summarize(d((r) => r.caller.ice - r.callee.t0)).p50,
                'caller: first frame': summarize(d((r) => r.caller.remoteFrame - r.callee.t0)).p50,
                'ringing before t0 (call event → t0)': summarize(d((r) => r.callee.t0 - r.callee.invited)).p50,
              },
      });
    }
  }
  return out;
}

/**
 * CPU used by this process and everything it started (Chromium, its zygote and renderers):
 * `start()` samples /proc every 500 ms and adds up, per process of this tree, the growth of its
 * utime+stime (a renderer's last ≤ 500 ms before it exits are missed); `stop()` returns ms.
 * The machine's busy time minus this is the other load.
 */
export function ownTreeCpu() {
  const last = new Map();
  let ticks = 0;
  const sample = () => {
    const kids = new Map();
    const stat = new Map();
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const s = readFileSync(`/proc/${d}/stat`, 'utf8');
        const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
        stat.set(Number(d), Number(f[11]) + Number(f[12]));
        if (!kids.has(Number(f[1]))) kids.set(Number(f[1]), []);
        kids.get(Number(f[1])).push(Number(d));
      } catch {
        /* gone meanwhile */
      }
    }
    const todo = [process.pid];
    while (todo.length) {
      const pid = todo.pop();
      const t = stat.get(pid) ?? 0;
      ticks += t - (last.get(pid) ?? t);
      last.set(pid, t);
      todo.push(...(kids.get(pid) ?? []));
    }
  };
  sample();
  const timer = setInterval(sample, 500);
  timer.unref();
  return {
    stop() {
      sample();
      clearInterval(timer);
      return (ticks * 1000) / 100; // CLK_TCK is 100 on Linux
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const o = parseArgs(process.argv.slice(2), { calls: 20, warmup: 2, rings: '2000,0', json: false, trace: false });
  setTimeout(() => {
    console.error('media-bench: still running after 30 min: giving up');
    process.exit(1);
  }, 30 * 60_000).unref();
  const b0 = systemBusyMs();
  const own = ownTreeCpu();
  const t0 = Date.now();
  const r = await runMediaBench({ calls: o.calls, warmup: o.warmup, rings: o.rings.split(',').map(Number), trace: o.trace, progress: (m) => console.error(m) });
  // The whole machine's CPU use during the run (this bench's Chromium and Node included), % of one core.
  r.machineBusyPct = ((systemBusyMs() - b0) / (Date.now() - t0)) * 100;
  r.durationS = (Date.now() - t0) / 1000;
  r.otherLoadPct = ((systemBusyMs() - b0 - own.stop()) / (Date.now() - t0)) * 100;
  console.error(`machine busy ${fmt.pct(r.machineBusyPct)} of one core on average over ${r.durationS.toFixed(0)} s, of which other load (not this bench) ${fmt.pct(r.otherLoadPct)}`);
  if (o.json) console.log(JSON.stringify(r));
  else {
    for (const s of r.summary) {
      console.log(`${s.variant.padEnd(17)} ring ${String(s.ring).padStart(4)}  n=${s.calls - s.failed}/${s.calls}  callee sees caller p50 ${fmt.ms(s.calleeLive.p50, 0)} p95 ${fmt.ms(s.calleeLive.p95, 0)}  caller sees callee p50 ${fmt.ms(s.callerLive.p50, 0)} p95 ${fmt.ms(s.callerLive.p95, 0)}  both p50 ${fmt.ms(s.bothLive.p50, 0)} p95 ${fmt.ms(s.bothLive.p95, 0)} ms`);
      console.log('   ', JSON.stringify(s.steps));
    }
    if (r.pageErrors.length) console.log('page errors:', r.pageErrors);
  }
  process.exit(0);
}
