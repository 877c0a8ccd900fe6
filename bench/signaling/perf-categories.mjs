#!/usr/bin/env node
/**
 * Where a process's CPU goes, from `perf record -e cpu-clock -g` of a node process started with
 * --perf-basic-prof (on-CPU samples of all its threads, kernel included — unlike V8's
 * --cpu-prof, which samples wall time of the main thread only).
 *
 * Each sample is walked from the leaf towards the root and goes to the category of the first
 * frame that matches one (so a TCP send the kernel does for ws goes to "socket writes", even
 * when metrics code wraps the delivery; an ext4 write matches nothing and falls through to the
 * SQLite frame that called it).
 *
 *   node bench/signaling/perf-categories.mjs perf.data [--json]
 */
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

export const CATEGORIES = [
  ['call records: SQLite (statements, commits, WAL file writes)', /better_sqlite3|records\/(sqlite-store|recorder|sql|index)\.js|better-sqlite3\/lib/],
  ['socket writes (ws framing, writev, loopback TCP send)', /tcp_sendmsg|do_writev|__x64_sys_writev|StreamBase::Writev|LibuvStreamWrap::DoTryWrite|uv_try_write|uv__write|ws\/lib\/sender\.js|writeOrBuffer|clearBuffer|writevGeneric|createWriteWrap|_writev|Writable\.uncork/],
  ['socket reads (read syscall, ws frame parsing)', /tcp_recvmsg|__x64_sys_read\b|ksys_read|uv__read|ws\/lib\/receiver\.js|onStreamRead|socketOnData|addChunk/],
  ['JSON.parse / JSON.stringify', /JsonParser|JsonStringifier|JsonParse|JsonStringify/],
  ['schema validation (zod)', /node_modules\/zod\//],
  ['metrics (prom-client, metrics.js)', /prom-client|metrics\/metrics\.js/],
  ['logging (pino)', /node_modules\/pino/],
  ['garbage collection', /v8::internal::(Heap::|Scavenger|ScavengeJob|ConcurrentMarking|MarkCompact|MinorMark|GCTracer|Sweeper|IncrementalMarking|MemoryAllocator|PagedSpace|MainMarkingVisitor|MarkingVisitor)|cppgc::/],
  ['V8 compiler (JIT, background threads)', /v8::internal::(compiler|maglev|baseline|Compiler|OptimizingCompile)/],
  ['OpenCall server code (gateway, router, engine, sessions)', /packages\/server\/dist\//],
  ['ws / http / node internals (JS)', /node_modules\/ws\/|node:internal|node:events|node:net|node:_http/],
  ['memory allocation (malloc, page faults)', /malloc|_int_free|cfree|exc_page_fault|do_anonymous_page/],
  ['event loop, timers, scheduler', /uv_run|uv__io_poll|epoll_wait|do_epoll|finish_task_switch|__schedule|uv__run_timers|processTicksAndRejections|runMicrotasks/],
];

/** { total, categories: [{name, samples, pct}] } */
export function categorize(perfData) {
  const text = execFileSync('perf', ['script', '-i', perfData, '-F', 'comm,tid,ip,sym,dso'], { encoding: 'utf8', maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'ignore'] });
  const counts = new Map([...CATEGORIES.map(([n]) => [n, 0]), ['other (V8 builtins and runtime, libc, unresolved)', 0]]);
  let total = 0;
  for (const block of text.split('\n\n')) {
    const frames = block.split('\n').slice(1).filter((l) => l.trim());
    if (frames.length === 0) continue;
    total++;
    let name = 'other (V8 builtins and runtime, libc, unresolved)';
    outer: for (const f of frames) {
      for (const [n, re] of CATEGORIES) {
        if (re.test(f)) {
          name = n;
          break outer;
        }
      }
    }
    counts.set(name, counts.get(name) + 1);
  }
  return { total, categories: [...counts].map(([name, samples]) => ({ name, samples, pct: (samples / Math.max(1, total)) * 100 })).sort((a, b) => b.samples - a.samples) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv.slice(2).find((a) => !a.startsWith('--'));
  const r = categorize(file);
  if (process.argv.includes('--json')) console.log(JSON.stringify(r));
  else {
    for (const c of r.categories) console.log(`${c.pct.toFixed(1).padStart(5)}%  ${c.name}`);
    console.log(`(${r.total} samples)`);
  }
}
