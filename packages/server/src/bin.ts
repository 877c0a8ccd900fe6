#!/usr/bin/env node
import { fileURLToPath } from 'node:url';
import { loadConfigFromEnv } from './config.js';
import { startServer } from './server.js';

/** `opencall-server`: configured by OPENCALL_* environment variables (see docs/configuration.md). */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfigFromEnv();
  } catch (err) {
    console.error(`opencall-server: ${(err as Error).message}`);
    process.exit(2);
  }
  for (const w of config.warnings) console.warn(`\n  WARNING: ${w}\n`);
  // `npm start` serves the demo app when it has been built (apps/demo/dist).
  config.options.staticDir ??= fileURLToPath(new URL('../../../apps/demo/dist', import.meta.url));
  const server = await startServer(config.options);
  const stop = (signal: string) => {
    console.error(`opencall-server: ${signal}, shutting down`);
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err) => {
  console.error('opencall-server failed to start:', err);
  process.exit(1);
});
