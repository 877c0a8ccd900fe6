/**
 * Headless Chromium for browser tests: Debian's `chromium` package driven by playwright-core
 * (Playwright's own browser builds cannot be downloaded here).
 *
 * Camera and microphone are Chromium's fake devices (a moving test pattern and a beep), and
 * permission prompts are auto-accepted, so getUserMedia works without any UI.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM_PATH = process.env.OPENCALL_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  // Running as root in a container: Chromium refuses to start with its sandbox.
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-gpu',
  '--disable-quic',
];

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
