import { ErrorCode } from '@opencall/protocol/lite';

/** Every SDK method rejects with this; the same object is emitted as the ERROR event payload. */
export class CallingError extends Error {
  /** TUICallKit's spelling of `code`. */
  readonly errorCode: number;
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'CallingError';
    this.errorCode = code;
  }
}

export { ErrorCode };

export const misuse = {
  notLoggedIn: () => new CallingError(ErrorCode.NOT_LOGGED_IN, 'call login() first'),
  badArgument: (message: string) => new CallingError(ErrorCode.INVALID_ARGUMENT, message),
  state: (message: string) => new CallingError(ErrorCode.INVALID_STATE, message),
};

/** Maps a getUserMedia failure to the spec's codes (60003 mic, 60004 camera, 60005 denied). */
export function mediaError(err: unknown, kind: 'audio' | 'video'): CallingError {
  const name = (err as { name?: string })?.name ?? '';
  const detail = (err as { message?: string })?.message ?? String(err);
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError') {
    return new CallingError(ErrorCode.DEVICE_PERMISSION_DENIED, `access to the ${kind === 'audio' ? 'microphone' : 'camera'} was denied: ${detail}`);
  }
  return kind === 'audio'
    ? new CallingError(ErrorCode.NO_MICROPHONE, `no microphone available: ${detail}`)
    : new CallingError(ErrorCode.NO_CAMERA, `no camera available: ${detail}`);
}
