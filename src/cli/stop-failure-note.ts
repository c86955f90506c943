/**
 * How a command shows a part that failed to stop after the command itself failed
 * (`runThenStop`'s `afterFailure`): one stderr line, written just before the command's own
 * error, which stays the error reported because it is the one the user needs.
 */
import type { StopFailure } from '../app/stop-sequence.js';
import { messageOf } from '../errors/index.js';

export function noteStopFailure({ part, error }: StopFailure): void {
  process.stderr.write(`${part} failed to stop after the error below: ${messageOf(error)}\n`);
}
