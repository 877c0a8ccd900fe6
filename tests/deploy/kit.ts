/** Helpers for the deployment-kit tests: run `opencall-server init` as a user would and read what it wrote. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { SERVER_BIN } from '../support/server-binary.js';

/** `node packages/server/dist/bin.js init …args` (the built binary); status and output. */
export function runInitBinary(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [SERVER_BIN, 'init', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** KEY=value lines of an env file (comments and blank lines skipped), as systemd's EnvironmentFile reads them. */
export function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`not KEY=value: ${line}`);
    env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

export const readKit = (dir: string, file: string) => readFileSync(join(dir, file), 'utf8');

/** `key = "value"` or `key=value` in a jcfg/conf text (first match). */
export function confValue(text: string, key: string): string | undefined {
  const m = new RegExp(`^\\s*${key}\\s*[=\\s]\\s*"?([^"\\n]*)"?\\s*$`, 'm').exec(text);
  return m?.[1];
}

/** A child process with its output kept (last 8 KB), killed by {@link stopChild}. */
export function startChild(argv: string[], env?: NodeJS.ProcessEnv): { child: ChildProcess; output: () => string } {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...(env && { env }) });
  let out = '';
  const keep = (d: Buffer) => (out = (out + d.toString()).slice(-8192));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  process.once('exit', () => child.kill('SIGKILL'));
  return { child, output: () => out };
}

export async function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(t);
}

/** Resolves once host:port accepts TCP connections; rejects when the child exits or time runs out. */
export async function waitForTcp(host: string, port: number, child: ChildProcess, what: string, output: () => string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}):\n${output()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host, port });
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} did not open ${host}:${port} within ${timeoutMs} ms:\n${output()}`);
}
