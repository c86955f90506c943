/**
 * The one rule for a name that becomes a path piece (data/conversations/{id}/…) or a file
 * name: ids (conversation, job, request, message, character, backend) and workflow names.
 * Nothing that could climb out of a folder. The command schemas, the workflow library and
 * the output collector's path guard all build their checks from this, so they cannot drift.
 */

export const SAFE_NAME_MAX_LENGTH = 128;

const firstCharacters = 'A-Za-z0-9';
const characters = 'A-Za-z0-9_.-';

/** A name starts with a letter (a-z, A-Z) or digit. */
export const SAFE_NAME_FIRST = new RegExp(`^[${firstCharacters}]`);
/** One character a name may contain. */
export const SAFE_NAME_CHARACTER = new RegExp(`^[${characters}]$`);
/** The first character and the rest; the length and ".." are checked beside it. */
export const SAFE_NAME_PATTERN = new RegExp(`^[${firstCharacters}][${characters}]*$`);

/** 1-128 characters of the pattern, no "..". */
export function isSafeName(value: string): boolean {
  return value.length >= 1 && value.length <= SAFE_NAME_MAX_LENGTH && SAFE_NAME_PATTERN.test(value) && !value.includes('..');
}
