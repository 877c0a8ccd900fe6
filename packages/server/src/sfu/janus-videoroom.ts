/**
 * Room-level helpers for the Janus VideoRoom plugin (the SFU).
 *
 * The signaling server owns one admin handle per Janus connection and uses it
 * to create a room when a group call starts and destroy it when the call
 * ends. Publisher/subscriber handles (one per participant role) are separate
 * and carry the JSEP the server proxies between clients and Janus.
 */
import { JanusPluginError, type JanusClient, type JanusHandle, type RequestOptions } from './janus-client.js';

/** Package name to pass to {@link JanusClient.attach}. */
export const VIDEOROOM_PLUGIN = 'janus.plugin.videoroom';

/** VideoRoom error codes we branch on (from janus_videoroom.c). */
export const VideoRoomErrorCode = {
  NoSuchRoom: 426,
  RoomExists: 427,
  NoSuchFeed: 428,
  Unauthorized: 433,
} as const;

/** Options for {@link VideoRoomAdmin.createRoom}. */
export interface CreateRoomOptions {
  /** Numeric room id chosen by the caller (the signaling server maps call ids to these). */
  room: number;
  /** Maximum number of concurrent publishers (participants sending media). */
  publishers: number;
  /** Human-readable label; shows up in Janus logs and `list` responses. */
  description: string;
  /** Needed later to edit/destroy the room; remembered by this helper for {@link VideoRoomAdmin.destroyRoom}. */
  secret?: string;
  /** Needed by every participant to join. */
  pin?: string;
  /** Video bitrate cap (bps) Janus asks publishers to respect via REMB; Janus default if omitted. */
  bitrate?: number;
  /** Seconds between keyframe requests to publishers; helps late subscribers (default 10). */
  firFreq?: number;
}

/** Reply to a successful `create`. */
export interface CreatedRoom {
  room: number;
  permanent: boolean;
}

/** One entry of a `listparticipants` reply. */
export interface VideoRoomParticipant {
  id: number;
  display?: string;
  /** Whether the participant currently has an active publishing PeerConnection. */
  publisher: boolean;
  talking?: boolean;
}

/**
 * Admin handle for creating, inspecting and destroying VideoRoom rooms.
 *
 * Rooms are created with `permanent: false` (never written to the config
 * file: a call's room must not outlive a Janus restart) and forced to
 * Opus + VP8, the codec pair every WebRTC endpoint we support can send.
 */
export class VideoRoomAdmin {
  private readonly secrets = new Map<number, string>();

  private constructor(
    /** The underlying plugin handle (not used for media). */
    readonly handle: JanusHandle,
  ) {}

  /** Attaches a fresh VideoRoom handle on the client's session (which must already exist). */
  static async attach(client: JanusClient, options?: RequestOptions): Promise<VideoRoomAdmin> {
    return new VideoRoomAdmin(await client.attach(VIDEOROOM_PLUGIN, options));
  }

  /** Wraps an existing VideoRoom handle. */
  static fromHandle(handle: JanusHandle): VideoRoomAdmin {
    if (handle.plugin !== VIDEOROOM_PLUGIN) throw new TypeError(`Handle is attached to ${handle.plugin}, not ${VIDEOROOM_PLUGIN}`);
    return new VideoRoomAdmin(handle);
  }

  /** Creates a room; rejects with {@link JanusPluginError} code 427 if the id is taken. */
  async createRoom(opts: CreateRoomOptions, options?: RequestOptions): Promise<CreatedRoom> {
    const body: Record<string, unknown> = {
      request: 'create',
      room: opts.room,
      permanent: false,
      description: opts.description,
      publishers: opts.publishers,
      // Hidden from 'list': rooms are addressed only by the ids the signaling server hands out.
      is_private: true,
      audiocodec: 'opus',
      videocodec: 'vp8',
      fir_freq: opts.firFreq ?? 10,
    };
    if (opts.secret !== undefined) body.secret = opts.secret;
    if (opts.pin !== undefined) body.pin = opts.pin;
    if (opts.bitrate !== undefined) body.bitrate = opts.bitrate;
    const { data } = await this.handle.message<{ videoroom: string; room: number; permanent?: boolean }>(
      body,
      undefined,
      options,
    );
    if (data.videoroom !== 'created') throw unexpected('create', data);
    if (opts.secret !== undefined) this.secrets.set(opts.room, opts.secret);
    return { room: data.room, permanent: data.permanent === true };
  }

  /**
   * Destroys a room, kicking everyone in it (participants get a `destroyed`
   * event). Uses the secret given to {@link createRoom} unless one is passed.
   */
  async destroyRoom(room: number, secret?: string, options?: RequestOptions): Promise<void> {
    const body: Record<string, unknown> = { request: 'destroy', room, permanent: false };
    const s = secret ?? this.secrets.get(room);
    if (s !== undefined) body.secret = s;
    const { data } = await this.handle.message<{ videoroom: string }>(body, undefined, options);
    if (data.videoroom !== 'destroyed') throw unexpected('destroy', data);
    this.secrets.delete(room);
  }

  /** Whether a room with this id exists. */
  async roomExists(room: number, options?: RequestOptions): Promise<boolean> {
    const { data } = await this.handle.message<{ videoroom: string; exists?: boolean }>(
      { request: 'exists', room },
      undefined,
      options,
    );
    return data.exists === true;
  }

  /** Lists the room's participants (publishers, active or not; subscribers are not participants). */
  async listParticipants(room: number, options?: RequestOptions): Promise<VideoRoomParticipant[]> {
    const { data } = await this.handle.message<{ videoroom: string; participants?: VideoRoomParticipant[] }>(
      { request: 'listparticipants', room },
      undefined,
      options,
    );
    if (data.videoroom !== 'participants' || !Array.isArray(data.participants)) throw unexpected('listparticipants', data);
    return data.participants;
  }

  /** Detaches the admin handle. Rooms stay alive (they belong to the plugin, not the handle). */
  async detach(options?: RequestOptions): Promise<void> {
    await this.handle.detach(options);
  }
}

function unexpected(request: string, data: object): JanusPluginError {
  return new JanusPluginError(
    `Unexpected VideoRoom reply to "${request}": ${JSON.stringify(data)}`,
    0,
    data as Record<string, unknown>,
  );
}
