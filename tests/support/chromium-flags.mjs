/**
 * Chromium's command-line flags for the browser tests (tests/support/chromium.ts) and the media
 * bench (bench/media/media-bench.mjs, which adds its own). Plain JavaScript so that the bench,
 * run by node directly, can import it; chromium-flags.d.mts types it for the tests.
 *
 * Camera and microphone are Chromium's fake devices (a moving test pattern and a beep), and
 * permission prompts are auto-accepted, so getUserMedia works without any UI.
 */
export const CHROMIUM_ARGS = Object.freeze([
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
]);
