/**
 * Time enters the job runtime through this port only, so tests can drive timeouts with
 * xstate's SimulatedClock (which satisfies it) instead of sleeping.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The wall clock: for times that are stored or shown (deadlines a restarted process reads back). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * A clock that never steps (ms since an arbitrary origin): for how long something local has
 * lasted, which an NTP step or a changed system time must not shorten or stretch. Its
 * `now()` means nothing to another process and is never stored.
 */
export const monotonicClock: Clock = {
  now: () => performance.now(),
  setTimeout: systemClock.setTimeout,
  clearTimeout: systemClock.clearTimeout,
};

/** Node's timers overflow past ~24.8 days; longer waits are re-armed in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Resolves at the absolute time `at` on `clock`; never resolves once `signal` aborts. */
export function waitUntil(clock: Clock, at: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    let handle: unknown;
    const arm = () => {
      const remaining = at - clock.now();
      if (remaining <= 0) return resolve();
      handle = clock.setTimeout(arm, Math.min(remaining, MAX_TIMER_MS));
    };
    signal?.addEventListener('abort', () => clock.clearTimeout(handle), { once: true });
    if (!signal?.aborted) arm();
  });
}
