import { ErrorCode, type ErrorCodeValue } from '@opencall/protocol';

/**
 * A refusal the client caused: it becomes an error `res` (or `error` frame) with this code,
 * and never changes anybody's call. Anything else thrown on the message path is a server bug
 * and is answered with INTERNAL after being logged.
 */
export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCodeValue,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export const refuse = {
  notFound: (inviteID: string) => new ProtocolError(ErrorCode.CALL_NOT_FOUND, `no call ${inviteID} (it may be over)`),
  notParticipant: (inviteID: string) => new ProtocolError(ErrorCode.NOT_A_PARTICIPANT, `you are not a party of call ${inviteID}`),
  state: (message: string) => new ProtocolError(ErrorCode.INVALID_STATE, message),
};
