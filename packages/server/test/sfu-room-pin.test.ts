/**
 * SFU rooms have a random pin (issue 11, item 5): someone who reaches Janus and guesses (or
 * reads) a room number cannot join the room without it. Real Janus (Debian package), API on
 * 127.0.0.1.
 */
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startJanus, type JanusInstance } from '../../../tests/support/janus.js';
import { JanusClient, JanusPluginError } from '../src/sfu/janus-client.js';
import { VIDEOROOM_PLUGIN, VideoRoomErrorCode } from '../src/sfu/janus-videoroom.js';
import { SfuRoomManager } from '../src/sfu/sfu-room-manager.js';

describe('SFU room pins (real Janus)', () => {
  let janus: JanusInstance;
  beforeAll(async () => {
    janus = await startJanus();
  }, 60_000);
  afterAll(async () => {
    await janus?.stop();
  });

  it('a join without the room pin, or with a wrong one, is refused by Janus; the manager joins with it', async () => {
    const mgr = new SfuRoomManager({ janus: janus.wsUrl, apiSecret: janus.apiSecret, logger: pino({ level: 'silent' }) });
    // A stranger with Janus API access (the api_secret even) and the room number.
    const stranger = await JanusClient.connect(janus.wsUrl, { apiSecret: janus.apiSecret });
    try {
      const roomId = await mgr.createRoom('call-pin', 4);
      await stranger.createSession();
      const handle = await stranger.attach(VIDEOROOM_PLUGIN);
      const refusal = (body: Record<string, unknown>) => handle.message(body).then(() => 'joined', (e: unknown) => e);
      // No pin: 429 "Missing element (pin)"; a wrong pin: 433 unauthorized.
      for (const [body, code] of [
        [{ request: 'join', ptype: 'publisher', room: roomId, display: 'mallory' }, 429],
        [{ request: 'join', ptype: 'publisher', room: roomId, display: 'mallory', pin: 'guess' }, VideoRoomErrorCode.Unauthorized],
        [{ request: 'join', ptype: 'subscriber', room: roomId, streams: [{ feed: 1 }] }, 429],
        [{ request: 'join', ptype: 'subscriber', room: roomId, streams: [{ feed: 1 }], pin: 'guess' }, VideoRoomErrorCode.Unauthorized],
      ] as const) {
        const err = await refusal(body);
        expect(err, JSON.stringify(body)).toBeInstanceOf(JanusPluginError);
        expect((err as JanusPluginError).code, JSON.stringify(body)).toBe(code);
        if (code === 429) expect((err as JanusPluginError).message).toMatch(/pin/);
      }
      // The same join with the room's pin (as the manager sends it) is let in: the refusals above are the pin's doing.
      const pin = (mgr as unknown as { rooms: Map<string, { pin: string }> }).rooms.get('call-pin')!.pin;
      expect(pin.length).toBeGreaterThanOrEqual(16);
      const ok = await handle.message<{ videoroom: string }>({ request: 'join', ptype: 'publisher', room: roomId, display: 'with-pin', pin });
      expect(ok.data.videoroom).toBe('joined');
    } finally {
      await stranger.close();
      await mgr.close();
    }
  });
});
