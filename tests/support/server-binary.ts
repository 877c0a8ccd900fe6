/** The built `opencall-server` binary, for tests that run the real process (kill, restart, SIGTERM). */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const SERVER_BIN = join(REPO_ROOT, 'packages/server/dist/bin.js');

/** Outputs whose age tells whether dist is current (the entry point and modules tests rely on). */
const OUTPUTS = ['bin.js', 'server.js', 'metrics/metrics.js', 'records/index.js'].map((f) => join(REPO_ROOT, 'packages/server/dist', f));

/** Newest mtime of the .ts files under a folder. */
function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * `tsc -b packages/protocol packages/server` unless dist is newer than every source (`npm test`
 * builds first anyway). With `tolerateTypeErrors`, a build that reported errors but still
 * emitted the binary only warns.
 */
export function ensureServerBuilt(options: { tolerateTypeErrors?: boolean } = {}): void {
  const sources = Math.max(newestSource(join(REPO_ROOT, 'packages/protocol/src')), newestSource(join(REPO_ROOT, 'packages/server/src')));
  if (OUTPUTS.every((f) => existsSync(f) && statSync(f).mtimeMs >= sources)) return;
  try {
    execFileSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-b', 'packages/protocol', 'packages/server'], { cwd: REPO_ROOT, stdio: 'pipe' });
  } catch (err) {
    const out = String((err as { stdout?: Buffer }).stdout ?? '') + String((err as { stderr?: Buffer }).stderr ?? '');
    if (!options.tolerateTypeErrors || !existsSync(SERVER_BIN)) throw new Error(`building the server failed:\n${out}`);
    console.warn(`tsc -b reported errors (dist was still emitted):\n${out.slice(0, 2000)}`);
  }
}
