import { ref, type Ref } from 'vue';

export type ToneKind = 'incoming' | 'outgoing';

/**
 * Ring tones made with WebAudio, no audio files: a soft three-note chime for an incoming call
 * and a low "ring back" for an outgoing one. Browsers only let a page make sound after the
 * person has interacted with it, so {@link unlock} is called from the sign-in click.
 */
export class Ringtone {
  /** What is sounding now (null: silence); the app shows it as `data-ringtone` for tests. */
  readonly playing: Ref<ToneKind | null> = ref(null);
  private ctx: AudioContext | null = null;
  private master: GainNode | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;

  /** The audio context's state ('running' once unlocked), for the tests and the curious. */
  get audioState(): string {
    return this.ctx?.state ?? 'none';
  }

  /** Creates (or resumes) the audio context; call it from a click or key press. */
  unlock(): void {
    const Ctor = window.AudioContext ?? (window as unknown as { webkitAudioContext?: typeof AudioContext }).webkitAudioContext;
    if (!Ctor) return;
    try {
      this.ctx ??= new Ctor();
      if (this.ctx.state === 'suspended') void this.ctx.resume().catch(() => {});
    } catch {
      this.ctx = null;
    }
  }

  start(kind: ToneKind): void {
    if (this.playing.value === kind) return;
    this.stop();
    this.playing.value = kind;
    this.unlock();
    const ctx = this.ctx;
    if (!ctx) return; // no WebAudio: the screen still says it is ringing
    const master = ctx.createGain();
    master.gain.value = kind === 'incoming' ? 0.22 : 0.12;
    master.connect(ctx.destination);
    this.master = master;
    const period = kind === 'incoming' ? 2600 : 4000;
    const ring = () => (kind === 'incoming' ? this.chime(ctx, master) : this.ringBack(ctx, master));
    ring();
    this.timer = setInterval(ring, period);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const master = this.master;
    this.master = null;
    if (master && this.ctx) {
      // A short fade, then cut: notes already scheduled go silent with their gain node.
      const t = this.ctx.currentTime;
      master.gain.cancelScheduledValues(t);
      master.gain.setValueAtTime(master.gain.value, t);
      master.gain.linearRampToValueAtTime(0, t + 0.05);
      setTimeout(() => master.disconnect(), 80);
    }
    this.playing.value = null;
  }

  /** E5 – G#5 – B5, twice, each note a sine with a bell-like decay. */
  private chime(ctx: AudioContext, out: AudioNode): void {
    const notes = [659.25, 830.61, 987.77];
    const t0 = ctx.currentTime + 0.02;
    for (let round = 0; round < 2; round++) {
      notes.forEach((f, i) => this.note(ctx, out, f, t0 + round * 0.75 + i * 0.16, 0.55));
    }
  }

  /** The classic 440 + 480 Hz ring-back: one second on, then quiet. */
  private ringBack(ctx: AudioContext, out: AudioNode): void {
    const t0 = ctx.currentTime + 0.02;
    for (const f of [440, 480]) this.note(ctx, out, f, t0, 1.0, true);
  }

  private note(ctx: AudioContext, out: AudioNode, freq: number, at: number, length: number, flat = false): void {
    const osc = ctx.createOscillator();
    const env = ctx.createGain();
    osc.type = 'sine';
    osc.frequency.value = freq;
    env.gain.setValueAtTime(0, at);
    env.gain.linearRampToValueAtTime(flat ? 0.5 : 1, at + 0.015);
    if (flat) {
      env.gain.setValueAtTime(0.5, at + length - 0.05);
      env.gain.linearRampToValueAtTime(0, at + length);
    } else {
      env.gain.exponentialRampToValueAtTime(0.001, at + length);
    }
    osc.connect(env).connect(out);
    osc.start(at);
    osc.stop(at + length + 0.05);
    osc.onended = () => env.disconnect();
  }
}
