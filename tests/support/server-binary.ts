/** The built `opencall-server` binary, for tests that run the real process (kill, restart, SIGTERM). */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADMIN_TOKEN, SDK_APP_ID, SECRET } from './harness.js';
import { onJsonLines } from './json-lines.js';

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

/** One run of the server binary (test credentials, a free port on loopback); its pino JSON log lines are kept. */
export class ServerProcess {
  readonly logs: Record<string, any>[] = [];
  url = '';
  port = 0;
  /** What it wrote to stderr so far. */
  stderr = '';
  private constructor(readonly child: ChildProcess) {}

  /** Starts with `env` on top of the test defaults; `unset` names variables of this process not to pass on. */
  static async start(env: NodeJS.ProcessEnv = {}, unset: string[] = []): Promise<ServerProcess> {
    const full: NodeJS.ProcessEnv = {
      ...process.env,
      OPENCALL_PORT: '0',
      OPENCALL_HOST: '127.0.0.1',
      OPENCALL_SDKAPPID: String(SDK_APP_ID),
      OPENCALL_SECRET: SECRET,
      OPENCALL_ADMIN_TOKEN: ADMIN_TOKEN,
      OPENCALL_DEV_USERSIG: '0',
      OPENCALL_LOG_LEVEL: 'info',
      ...env,
    };
    for (const name of unset) delete full[name];
    const child = spawn(process.execPath, [SERVER_BIN], { cwd: REPO_ROOT, env: full, stdio: ['ignore', 'pipe', 'pipe'] });
    const s = new ServerProcess(child);
    child.stderr!.on('data', (d: Buffer) => (s.stderr += d.toString()));
    const listening = new Promise<string>((resolve, reject) => {
      onJsonLines(child.stdout!, (j) => {
        s.logs.push(j);
        if (j.event === 'server.listening') resolve(j.url);
      });
      child.once('exit', (code) => reject(new Error(`server exited (${code}) before listening: ${s.stderr}`)));
      setTimeout(() => reject(new Error(`server did not start: ${s.stderr}`)), 20_000);
    });
    s.url = await listening;
    s.port = Number(new URL(s.url).port);
    return s;
  }

  /** Resolves with the exit code (or signal name). */
  stop(signal: NodeJS.Signals): Promise<number | string> {
    return new Promise((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return resolve(this.child.exitCode ?? this.child.signalCode!);
      this.child.once('exit', (code, sig) => resolve(code ?? sig!));
      this.child.kill(signal);
    });
  }
}
