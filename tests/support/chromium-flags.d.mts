/** Chromium's flags for the browser tests and the media bench (chromium-flags.mjs). */
export declare const CHROMIUM_ARGS: readonly string[];
