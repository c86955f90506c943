import { ChorusError } from '../errors/index.js';

/**
 * The collector's failures, one constructor each so every call site gives the same
 * details shape. Unsafe paths are FILE_MOVE_FAILED with `details.reason = 'unsafe_path'`:
 * the job cannot deliver its files, and no retry will change a hostile name.
 */
export function unsafePathError(field: string, value: string, why: string): ChorusError {
  return new ChorusError('FILE_MOVE_FAILED', `Refused unsafe ${field} ${JSON.stringify(value)}: ${why}`, {
    recoverable: false,
    details: { reason: 'unsafe_path', field, value, why },
    suggestion: 'Output names and ids may not contain "..", slashes outside subfolders, backslashes or control characters.',
  });
}

export function noOutputError(reported: number): ChorusError {
  return new ChorusError('NO_OUTPUT', 'ComfyUI finished the job without any image, video or audio output', {
    details: { reported_files: reported },
  });
}

export function outputMissingError(expectedPath: string, file: object, cause?: unknown): ChorusError {
  return new ChorusError('OUTPUT_FILE_NOT_FOUND', `ComfyUI reported ${expectedPath} but it is not there`, {
    details: { expected_path: expectedPath, file },
    cause,
  });
}

function errnoOf(cause: unknown): string | undefined {
  const code = (cause as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export function writeFailedError(destination: string, cause: unknown): ChorusError {
  const errno = errnoOf(cause);
  const why = cause instanceof Error ? cause.message : String(cause);
  return new ChorusError('FILE_MOVE_FAILED', `Could not write ${destination}: ${why}`, {
    details: { reason: 'write_failed', errno, destination },
    cause,
  });
}

export function readFailedError(source: string, cause: unknown): ChorusError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new ChorusError('FILE_MOVE_FAILED', `Could not read ${source}: ${why}`, {
    details: { reason: 'read_failed', errno: errnoOf(cause), source },
    cause,
  });
}

/** A destination already holds different bytes: never overwritten silently. */
export function destinationConflictError(destination: string, existingSha256: string, newSha256: string): ChorusError {
  return new ChorusError('FILE_MOVE_FAILED', `${destination} already exists with different content`, {
    recoverable: false,
    details: { reason: 'destination_conflict', destination, existing_sha256: existingSha256, new_sha256: newSha256 },
    suggestion: "Move the existing file aside (or delete it) and collect the job again; ComfyUI's file was left in place.",
  });
}

export function abortedError(cause: unknown): ChorusError {
  return new ChorusError('FILE_MOVE_FAILED', 'Collecting outputs was aborted', {
    details: { reason: 'aborted' },
    cause,
  });
}

export function errnoCode(cause: unknown): string | undefined {
  return errnoOf(cause);
}
