#!/usr/bin/env node
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadConfigFromEnv } from './config.js';
import { MissingPackageError } from './optional-packages.js';
import { startServer } from './server.js';

/** A shutdown (SIGTERM/SIGINT) that takes longer than this exits with code 1 regardless. */
const FORCE_EXIT_MS = 10_000;

/** `opencall-server`: configured by OPENCALL_* environment variables (see docs/configuration.md). */
async function main(): Promise<void> {
  // `opencall-server init …` writes a deployment kit (src/deploy/); without a subcommand it runs the server.
  if (process.argv[2] === 'init') process.exit(await (await import('./deploy/cli.js')).runInit(process.argv.slice(3)));
  let config;
  try {
    config = loadConfigFromEnv();
  } catch (err) {
    console.error(`opencall-server: ${(err as Error).message}`);
    process.exit(2);
  }
  for (const w of config.warnings) console.warn(`\n  WARNING: ${w}\n`);
  // `npm start` in a checkout serves the demo app when it has been built (apps/demo/dist); an installed package has none.
  const demo = fileURLToPath(new URL('../../../apps/demo/dist', import.meta.url));
  if (config.options.staticDir === undefined && existsSync(demo)) config.options.staticDir = demo;
  const server = await startServer(config.options);
  const stop = (signal: string) => {
    console.error(`opencall-server: ${signal}, shutting down`);
    // Ending calls and closing sockets takes milliseconds; never hang a deployment on it.
    setTimeout(() => {
      console.error(`opencall-server: shutdown did not finish within ${FORCE_EXIT_MS / 1000} s; exiting anyway`);
      process.exit(1);
    }, FORCE_EXIT_MS).unref();
    server.close().then(
      () => process.exit(0),
      (err) => {
        console.error('opencall-server: error while shutting down:', err);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err) => {
  // A missing optional package is the operator's to fix: its message says what to install, no stack needed.
  if (err instanceof MissingPackageError) console.error(`opencall-server failed to start: ${err.message}`);
  else console.error('opencall-server failed to start:', err);
  process.exit(1);
});
