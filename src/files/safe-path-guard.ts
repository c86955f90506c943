import path from 'node:path';
import { isSafeName } from '../contracts/safe-name.js';
import { unsafePathError } from './collector-errors.js';

/**
 * Every name that reaches the disk is checked twice: lexically here (so `..`, absolute
 * paths, backslashes, NUL and odd characters never form a path at all), and by realpath
 * after the fact (so a symlink planted inside a folder cannot lead outside it).
 */

/**
 * One name from ComfyUI: letters and digits of any script (filename prefixes are free text),
 * plus the punctuation its counters and upload de-duplication use (`name (1).png`).
 */
const safeSegment = /^[\p{L}\p{N}\p{M}_\-.()[\] +,@=~]+$/u;
const comfyFileTypes = new Set(['output', 'temp', 'input']);

export function assertSafeId(field: string, value: string): void {
  // Job and conversation ids: the command schemas' rule (contracts/safe-name.ts).
  if (!isSafeName(value)) {
    throw unsafePathError(field, value, 'ids are 1-128 letters, digits, "_", "-" or "." (no "..")');
  }
}

function assertSafeSegment(field: string, value: string, segment: string): void {
  if (segment === '' || segment === '.' || segment === '..') {
    throw unsafePathError(field, value, 'empty, "." or ".." path segment');
  }
  if (!safeSegment.test(segment)) {
    throw unsafePathError(field, value, 'contains a character outside letters, digits and _-.()[] +,@=~');
  }
  if (segment.startsWith('.') || segment.startsWith(' ') || segment.endsWith(' ') || segment.endsWith('.')) {
    throw unsafePathError(field, value, 'hidden name, or leading/trailing space or dot');
  }
  if (Buffer.byteLength(segment) > 255) throw unsafePathError(field, value, 'name longer than 255 bytes');
}

export function assertSafeFilename(value: string): void {
  assertSafeSegment('filename', value, value);
}

/** '' (the folder itself) or `a/b`: forward slashes only, every segment a safe name. */
export function assertSafeSubfolder(value: string): void {
  if (value === '') return;
  if (value.length > 1024) throw unsafePathError('subfolder', value, 'longer than 1024 characters');
  for (const segment of value.split('/')) assertSafeSegment('subfolder', value, segment);
}

export function assertComfyFileType(value: string): void {
  if (!comfyFileTypes.has(value)) throw unsafePathError('type', value, 'type must be output, temp or input');
}

/** True when `candidate` is `root` itself or below it (both absolute, already resolved). */
export function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative));
}

/** `realCandidate` must be strictly below `realRoot`; both already passed through realpath. */
export function assertResolvedInside(field: string, realRoot: string, realCandidate: string): void {
  if (realCandidate === realRoot || !isInside(realRoot, realCandidate)) {
    throw unsafePathError(field, realCandidate, `resolves outside ${realRoot} (symlink?)`);
  }
}
