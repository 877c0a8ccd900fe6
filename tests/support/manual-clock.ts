/**
 * A Clock (packages/server/src/clock.ts) that only moves when told to: pass it to startServer as
 * `clock` and invitation timeouts fire exactly when a test calls advance(), synchronously, in
 * order of due time (timers due at the same moment fire in the order they were set).
 */
import type { Clock, TimerHandle } from '@opencall/server';

interface Timer {
  id: number;
  due: number;
  fn: () => void;
}

export class ManualClock implements Clock {
  private t: number;
  private nextId = 1;
  private readonly timers = new Map<number, Timer>();

  constructor(start = 1_750_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: Timer = { id: this.nextId++, due: this.t + Math.max(0, ms), fn };
    this.timers.set(timer.id, timer);
    return { id: timer.id };
  }

  clearTimeout(handle: TimerHandle): void {
    const id = (handle as { id?: unknown }).id;
    if (typeof id === 'number') this.timers.delete(id);
  }

  /** Timers set and not yet fired or cleared. */
  get pending(): number {
    return this.timers.size;
  }

  /**
   * Moves time forward by `ms`, firing every timer due by then: earliest due first, ties in the
   * order they were set; `now()` inside a callback is the timer's due time. Timers set by a
   * callback fire too if due within the window. Returns how many fired.
   */
  advance(ms: number): number {
    if (!(ms >= 0)) throw new Error(`cannot advance by ${ms} ms`);
    const target = this.t + ms;
    let fired = 0;
    for (;;) {
      let next: Timer | undefined;
      for (const timer of this.timers.values()) {
        if (timer.due <= target && (next === undefined || timer.due < next.due || (timer.due === next.due && timer.id < next.id))) next = timer;
      }
      if (next === undefined) break;
      this.timers.delete(next.id);
      this.t = Math.max(this.t, next.due);
      fired++;
      next.fn();
    }
    this.t = target;
    return fired;
  }
}
