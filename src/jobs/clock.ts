/**
 * Time enters the job runtime through this port only, so tests can drive timeouts with
 * xstate's SimulatedClock (which satisfies it) instead of sleeping.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
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
