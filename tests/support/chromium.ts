/**
 * Headless Chromium for browser tests: Debian's `chromium` package driven by playwright-core
 * (Playwright's own browser builds cannot be downloaded here).
 *
 * Camera and microphone are Chromium's fake devices (a moving test pattern and a beep), and
 * permission prompts are auto-accepted, so getUserMedia works without any UI: the flags are in
 * chromium-flags.mjs, shared with the media bench.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { CHROMIUM_ARGS } from './chromium-flags.mjs';

export { CHROMIUM_ARGS };

export const CHROMIUM_PATH = process.env.OPENCALL_CHROMIUM ?? '/usr/bin/chromium';

/** Launches headless Chromium with fake media devices; `extraArgs` are appended. */
export async function launchChromium(extraArgs: string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: run \`apt-get update && apt-get install -y chromium\` (or set OPENCALL_CHROMIUM)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
    timeout: 20_000,
  });
}
