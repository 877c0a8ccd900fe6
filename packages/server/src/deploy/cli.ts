/** `opencall-server init …`: parses flags, generates secrets, writes the deployment folder. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { renderDeployment, writeDeployment } from './generate.js';
import { HELP, INIT_USAGE, parseInitArgs, UsageError } from './options.js';
import { generateSecrets } from './secrets.js';

/** This package's version (dist/deploy/cli.js → package.json two levels up). */
export function serverVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'latest';
  }
}

/** Runs `init` with the arguments after the word `init`; resolves with the process exit code. */
export async function runInit(argv: readonly string[], out: { log(s: string): void; error(s: string): void } = console): Promise<number> {
  const version = serverVersion();
  let options;
  try {
    options = parseInitArgs(argv, version);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    out.error(`opencall-server init: ${err.message}\nRun "opencall-server init --help" for the flags.`);
    return 2;
  }
  if (options === HELP) {
    out.log(INIT_USAGE);
    return 0;
  }
  const files = renderDeployment(options, generateSecrets(options), version);
  const dir = resolve(options.outDir);
  try {
    await writeDeployment(dir, files, options.force);
  } catch (err) {
    out.error(`opencall-server init: ${(err as Error).message}`);
    return 1;
  }
  out.log(`Wrote ${files.length} files to ${dir} (README.md explains each).\nNext, on the Debian 12 machine ${options.domain} points at:\n  sudo ${dir}/install.sh`);
  return 0;
}
