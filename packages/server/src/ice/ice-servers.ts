import type { IceServerConfig } from '@opencall/protocol';

export interface IceOptions {
  iceServers: IceServerConfig[];
}

/** The ICE servers a user gets at login. TURN REST credentials (OPENCALL_TURN_SECRET) come in issue 5. */
export function createIceServerProvider(o: IceOptions): (userID: string) => IceServerConfig[] {
  return () => o.iceServers;
}
