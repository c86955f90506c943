/**
 * A start step that waits on the outside world (a database connection, NATS that accepts and
 * says nothing) must not hold a stop request up. `interruptible` settles with the signal's
 * reason as soon as it aborts, and hands what the step yields after that to `dispose`, so
 * nothing the step opened outlives the start.
 */
export function interruptible<T>(work: Promise<T>, signal: AbortSignal | undefined, dispose: (late: T) => unknown): Promise<T> {
  if (signal === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      reject(signal.reason);
      work.then(
        (late) =>
          Promise.resolve()
            .then(() => dispose(late))
            .catch(() => undefined),
        () => undefined,
      );
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
