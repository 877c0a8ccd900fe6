/** Values shared by client and server that need no schema library (the browser bundle imports only these). */

/** userID as the spec allows it: letters, digits, '-' and '_'; OpenCall caps it at 64 characters. */
export const USER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Largest text frame the server processes; larger ones get FRAME_TOO_LARGE and are dropped. */
export const MAX_FRAME_BYTES = 64 * 1024;

/** Default invitation timeout of the v1 API, in seconds (v0 took `timeout` per call; 0 = never). */
export const DEFAULT_INVITE_TIMEOUT_SECONDS = 30;

/** WebSocket path of the signaling endpoint. */
export const SIGNALING_PATH = '/ws';
