/**
 * Time source of the call engine. Invitation timeouts go through it so tests can drive time
 * (model-based tests use a manual clock) while production uses the real one.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export type TimerHandle = { readonly __timer: unique symbol } | object;

/** Node's setTimeout cannot wait more than 2^31-1 ms; longer waits are chained. */
const MAX_DELAY = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const state: { t?: NodeJS.Timeout } = {};
    const due = Date.now() + ms;
    const arm = () => {
      const left = due - Date.now();
      state.t = left > MAX_DELAY ? setTimeout(arm, MAX_DELAY) : setTimeout(fn, Math.max(0, left));
      state.t.unref?.();
    };
    arm();
    return state;
  },
  clearTimeout(handle) {
    const t = (handle as { t?: NodeJS.Timeout }).t;
    if (t) clearTimeout(t);
  },
};
