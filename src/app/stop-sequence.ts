/**
 * Stopping several parts one after another when any of them may fail. Every part still gets
 * its turn: a pool that fails to close must not leave the database store open (its SQLite
 * connection, the lock file beside it), nor the sockets that keep a process alive. Failures
 * come back as values, because what to do with them depends on why the parts are stopped:
 * undoing a failed start logs them and throws the start's own error, the one the user needs;
 * a stop throws them (`throwStopFailures`) once every part has been stopped; a command that
 * stops what it started however its work ended (`runThenStop`) keeps the work's error.
 */
import { ChorusError, ErrorCode, isChorusError, messageOf } from '../errors/index.js';

export interface StopStep {
  /** Names the part in logs and errors ("database store", "http"). */
  part: string;
  stop: () => unknown;
}

export interface StopFailure {
  part: string;
  error: unknown;
}

/**
 * Runs the steps in the order given, each once the one before it has settled (order matters:
 * the store closes after the service that writes to it). A step that throws or rejects is
 * recorded and the next one runs. The failures, in the order they happened.
 */
export async function runStopSequence(steps: Iterable<StopStep>): Promise<StopFailure[]> {
  const failures: StopFailure[] = [];
  for (const { part, stop } of steps) {
    try {
      await stop();
    } catch (error) {
      failures.push({ part, error });
    }
  }
  return failures;
}

/**
 * What a stop throws once all its steps have run. One failure is thrown as it is, so its
 * code (a ChorusError's STORAGE_UNAVAILABLE, say) and cause reach the caller unchanged, as
 * they did when the first failure ended the stop. Several are one ChorusError, because
 * callers branch on `code` and report anything else as a bug: the first failure's code when
 * it has one (what the caller saw when the first failure ended the stop), INTERNAL when it
 * is not a ChorusError; a message naming each part with its error (a log line with only the
 * message still shows them all); `details.parts` the same as data; and the originals as the
 * cause, an AggregateError.
 *
 * The very same error from two parts is one failure: the app stops the job service and then
 * the runtime, whose stop of it returns that first stop's outcome, so a service that failed
 * to stop is recorded by both parts.
 */
export function throwStopFailures(failures: readonly StopFailure[], what: string): void {
  const distinct = withoutRepeats(failures);
  if (distinct.length === 0) return;
  if (distinct.length === 1) throw distinct[0]!.error;
  const first = distinct[0]!.error;
  const parts = distinct.map(({ part, error }) => `${part}: ${messageOf(error)}`).join('; ');
  throw new ChorusError(isChorusError(first) ? first.code : ErrorCode.INTERNAL, `${what}: ${distinct.length} parts failed to stop (${parts})`, {
    details: { parts: distinct.map(partDetails) },
    // What to do is what the code the caller branches on says: the first failure's advice.
    ...(isChorusError(first) ? { recoverable: first.recoverable, suggestion: first.suggestion } : {}),
    cause: new AggregateError(
      distinct.map(({ error }) => error),
      `${what}: ${distinct.length} parts failed to stop`,
    ),
  });
}

/** Drops a failure whose error is the very object an earlier one threw (a string or number may be two failures). */
function withoutRepeats(failures: readonly StopFailure[]): StopFailure[] {
  const seen = new Set<unknown>();
  return failures.filter(({ error }) => {
    if ((typeof error !== 'object' && typeof error !== 'function') || error === null) return true;
    if (seen.has(error)) return false;
    seen.add(error);
    return true;
  });
}

function partDetails({ part, error }: StopFailure): { part: string; code?: ErrorCode; message: string } {
  return isChorusError(error) ? { part, code: error.code, message: error.message } : { part, message: messageOf(error) };
}

/**
 * Runs `work`, then the steps however `work` ended. When `work` fails, its error is what is
 * thrown — a stop failing after it must not replace it — and each stop failure goes to
 * `afterFailure` (to be shown beside it). When `work` succeeded, a failed stop is thrown as
 * `throwStopFailures` does.
 */
export async function runThenStop<T>(
  work: () => Promise<T>,
  steps: readonly StopStep[],
  what: string,
  afterFailure: (failure: StopFailure) => void,
): Promise<T> {
  let result: T;
  try {
    result = await work();
  } catch (error) {
    for (const failure of await runStopSequence(steps)) afterFailure(failure);
    throw error;
  }
  throwStopFailures(await runStopSequence(steps), what);
  return result;
}
