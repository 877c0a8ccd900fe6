/**
 * Renders a deployment from the templates and writes it to a folder. Every file comes from one
 * template function in ./templates (plain TypeScript, so they ship in dist with the server).
 */
import { chmod, mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DeployOptions } from './options.js';
import type { DeploySecrets } from './secrets.js';
import type { TemplateContext } from './templates/context.js';
import { caddyfile } from './templates/caddyfile.js';
import { composeFile, containerfile } from './templates/containers.js';
import { envFile } from './templates/env.js';
import { installSh } from './templates/install-sh.js';
import { janusCore } from './templates/janus-core.js';
import { janusVideoroom } from './templates/janus-videoroom.js';
import { janusWebsockets } from './templates/janus-websockets.js';
import { postgresSql } from './templates/postgres.js';
import { readme } from './templates/readme.js';
import { redisConf } from './templates/redis.js';
import { coturnDropIn, janusDropIn, opencallService, turnCertService, turnCertSync, turnCertTimer } from './templates/systemd.js';
import { turnserverConf } from './templates/turnserver.js';

/** One generated file: path relative to the output folder, content, and file mode. */
export interface DeployFile {
  path: string;
  content: string;
  /** 0o600 for files holding a secret, 0o755 for scripts, else 0o644. */
  mode: number;
}

const SECRET = 0o600;
const PUBLIC = 0o644;
const SCRIPT = 0o755;

/** Every file of the deployment, for these options and secrets. */
export function renderDeployment(o: DeployOptions, s: DeploySecrets, version: string): DeployFile[] {
  const c: TemplateContext = { o, s, version };
  const files: [string, (c: TemplateContext) => string, number, boolean][] = [
    ['opencall.env', envFile, SECRET, true],
    ['Caddyfile', caddyfile, PUBLIC, true],
    ['systemd/opencall.service', opencallService, PUBLIC, true],
    ['janus/janus.jcfg', janusCore, SECRET, o.sfu],
    ['janus/janus.transport.websockets.jcfg', janusWebsockets, PUBLIC, o.sfu],
    ['janus/janus.plugin.videoroom.jcfg', janusVideoroom, PUBLIC, o.sfu],
    ['systemd/janus.service.d/opencall.conf', janusDropIn, PUBLIC, o.sfu],
    ['coturn/turnserver.conf', turnserverConf, SECRET, o.turn],
    ['coturn/turn-cert-sync.sh', turnCertSync, SCRIPT, o.turn],
    ['systemd/coturn.service.d/opencall.conf', coturnDropIn, PUBLIC, o.turn],
    ['systemd/opencall-turn-cert.service', turnCertService, PUBLIC, o.turn],
    ['systemd/opencall-turn-cert.timer', turnCertTimer, PUBLIC, o.turn],
    ['redis/opencall.conf', redisConf, SECRET, o.redis],
    ['postgres/setup.sql', postgresSql, SECRET, o.postgres],
    // compose.yaml carries the PostgreSQL password when there is one.
    ['compose.yaml', composeFile, o.postgres ? SECRET : PUBLIC, true],
    ['Containerfile', containerfile, PUBLIC, true],
    ['install.sh', installSh, SCRIPT, true],
    ['README.md', readme, PUBLIC, true],
  ];
  return files.filter(([, , , on]) => on).map(([path, render, mode]) => ({ path, content: render(c), mode }));
}

/** Refuses a non-empty folder unless `force` (then overwrites the files it writes, leaves others). */
export async function writeDeployment(outDir: string, files: DeployFile[], force: boolean): Promise<void> {
  const existing = await readdir(outDir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw new Error(`cannot read ${outDir}: ${err.message}`);
  });
  if (existing.length > 0 && !force) {
    throw new Error(`${outDir} is not empty; choose another --out, or --force to overwrite the deployment files in it (its secrets change)`);
  }
  await mkdir(outDir, { recursive: true, mode: 0o700 });
  for (const f of files) {
    const path = join(outDir, f.path);
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    await writeFile(path, f.content, { mode: f.mode });
    // writeFile's mode only applies to new files (and is masked by the umask).
    await chmod(path, f.mode);
  }
}
