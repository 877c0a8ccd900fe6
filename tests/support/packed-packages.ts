/**
 * Test helper for consumer tests: packs the workspace packages the way `npm publish` would
 * (`npm pack`, which runs each package's `prepack`) and installs the tarballs into fresh
 * directories outside the repository, so nothing resolves through the workspace's node_modules.
 *
 * The packages are not on the registry, so a consumer installs every @opencall tarball it needs
 * in one `npm install` (the server's dependency on @opencall/protocol is then met by the
 * protocol tarball); everything else comes from the npm registry (or npm's cache).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Tarball paths of the packed workspace packages. */
export interface PackedPackages {
  protocol: string;
  client: string;
  server: string;
  /** The directory holding the tarballs (removed by cleanup()). */
  dir: string;
  cleanup(): Promise<void>;
}

const WORKSPACES = { protocol: 'packages/protocol', client: 'packages/client', server: 'packages/server' } as const;

/** `npm pack` of @opencall/protocol, client and server into a fresh temp dir. */
export async function packWorkspaces(): Promise<PackedPackages> {
  const dir = await mkdtemp(join(tmpdir(), 'opencall-packed-'));
  const args = ['pack', '--json', '--pack-destination', dir];
  for (const ws of Object.values(WORKSPACES)) args.push('--workspace', ws);
  const { stdout } = await run('npm', args, { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024 });
  // The prepack scripts print to stdout too: the JSON is the array that starts a line.
  const start = stdout.search(/^\[/m);
  if (start < 0) throw new Error(`npm pack printed no JSON: ${stdout}`);
  const packed = JSON.parse(stdout.slice(start)) as Array<{ name: string; filename: string }>;
  const byName = (name: string) => {
    const entry = packed.find((p) => p.name === name);
    if (!entry) throw new Error(`npm pack did not produce ${name}: ${stdout}`);
    return join(dir, entry.filename);
  };
  return {
    protocol: byName('@opencall/protocol'),
    client: byName('@opencall/client'),
    server: byName('@opencall/server'),
    dir,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * This process's environment without what `npm test` / `npm run` set for the repository (its
 * package, lifecycle and local prefix), so npm and node run in a consumer project as they would
 * for a user there. npm's own settings (cache, registry, nodedir) stay.
 */
export function consumerEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_(package_|lifecycle_|config_local_prefix$|command$)|^INIT_CWD$/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

export interface ConsumerProject {
  /** The project directory (outside the repository). */
  dir: string;
  /** Runs `npm <args>` in the project. */
  npm(args: string[], env?: NodeJS.ProcessEnv): Promise<{ stdout: string; stderr: string }>;
  cleanup(): Promise<void>;
}

/**
 * A fresh npm project in a temp dir with the given package.json fields, then `npm install` of
 * `install` (tarball paths or registry specs) with `installArgs` (e.g. `--omit=dev`).
 */
export async function createConsumerProject(opts: {
  packageJson?: Record<string, unknown>;
  install: string[];
  installArgs?: string[];
}): Promise<ConsumerProject> {
  const dir = await mkdtemp(join(tmpdir(), 'opencall-consumer-'));
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module', ...opts.packageJson }, null, 2));
  const npm = (args: string[], env?: NodeJS.ProcessEnv) =>
    run('npm', args, { cwd: dir, env: consumerEnv(env), maxBuffer: 64 * 1024 * 1024 });
  await npm(['install', '--no-audit', '--no-fund', '--prefer-offline', ...(opts.installArgs ?? []), ...opts.install]);
  return { dir, npm, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
