#!/usr/bin/env node
/**
 * Summarizes a V8 .cpuprofile (node --cpu-prof): self time per function and per file/package.
 *
 *   node bench/signaling/profile-top.mjs FILE.cpuprofile [--top 25] [--json]
 *
 * Self time = samples whose top frame is that function × the sampling interval. "(garbage
 * collector)", "(program)" and "(idle)" are V8's own buckets.
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ROOT } from '../lib.mjs';

/** Where a script URL belongs: a workspace package, an npm package, or node's internals. */
export function origin(url) {
  if (!url) return '(native/V8)';
  if (url.startsWith('node:')) return 'node:' + url.slice(5).split('/')[0];
  let path = url;
  try {
    if (url.startsWith('file:')) path = fileURLToPath(url);
  } catch {
    /* keep */
  }
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = path.slice(nm + 13).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  const rel = relative(ROOT, path);
  return rel.startsWith('..') ? path : rel;
}

function shortFile(url) {
  if (!url) return '';
  if (url.startsWith('node:')) return url;
  let path = url;
  try {
    if (url.startsWith('file:')) path = fileURLToPath(url);
  } catch {
    /* keep */
  }
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) return path.slice(nm + 13);
  const rel = relative(ROOT, path);
  return rel.startsWith('..') ? path : rel;
}

/** { totalMs, functions: [{name, file, line, selfMs, pct}], origins: [{origin, selfMs, pct}] } */
export function summarizeProfile(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const counts = new Map();
  for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  const dts = profile.timeDeltas;
  const totalUs = profile.endTime - profile.startTime;
  const interval = totalUs / Math.max(1, profile.samples.length);
  // Time per sample: the delta to the next sample is the time spent in that sample's frame.
  const selfUsById = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = i + 1 < dts.length ? dts[i + 1] : interval;
    selfUsById.set(profile.samples[i], (selfUsById.get(profile.samples[i]) ?? 0) + dt);
  }
  const fn = new Map();
  const orig = new Map();
  let busyUs = 0;
  for (const [id, us] of selfUsById) {
    const n = byId.get(id);
    const cf = n.callFrame;
    const name = cf.functionName || '(anonymous)';
    if (name !== '(idle)') busyUs += us;
    const key = `${cf.url}|${name}|${cf.lineNumber}`;
    const e = fn.get(key) ?? { name, file: shortFile(cf.url), line: cf.lineNumber + 1, selfUs: 0 };
    e.selfUs += us;
    fn.set(key, e);
    const o = name === '(idle)' || name === '(program)' || name === '(garbage collector)' ? name : origin(cf.url);
    orig.set(o, (orig.get(o) ?? 0) + us);
  }
  const functions = [...fn.values()].filter((e) => e.name !== '(idle)').sort((a, b) => b.selfUs - a.selfUs).map((e) => ({ ...e, selfMs: e.selfUs / 1000, pct: (e.selfUs / busyUs) * 100 }));
  const origins = [...orig].filter(([o]) => o !== '(idle)').sort((a, b) => b[1] - a[1]).map(([o, us]) => ({ origin: o, selfMs: us / 1000, pct: (us / busyUs) * 100 }));
  return { totalMs: totalUs / 1000, busyMs: busyUs / 1000, idleMs: (totalUs - busyUs) / 1000, functions, origins };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const topAt = args.indexOf('--top');
  const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
  const file = args.find((a, i) => !a.startsWith('--') && i !== topAt + 1 || (topAt < 0 && !a.startsWith('--')));
  const s = summarizeProfile(JSON.parse(readFileSync(file, 'utf8')));
  if (args.includes('--json')) console.log(JSON.stringify(s, null, 2));
  else {
    console.log(`profile ${file}: ${s.totalMs.toFixed(0)} ms, busy ${s.busyMs.toFixed(0)} ms`);
    console.log('\nself time by origin:');
    for (const o of s.origins.slice(0, 20)) console.log(`  ${o.selfMs.toFixed(0).padStart(7)} ms ${o.pct.toFixed(1).padStart(5)}%  ${o.origin}`);
    console.log('\nself time by function:');
    for (const f of s.functions.slice(0, top)) console.log(`  ${f.selfMs.toFixed(0).padStart(7)} ms ${f.pct.toFixed(1).padStart(5)}%  ${f.file}:${f.line} ${f.name}`);
  }
}
