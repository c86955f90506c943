/**
 * What a workflow may be called: the one rule the command schemas (NATS, HTTP, CLI) check a
 * requested name with and the workflow library checks each file's name with, so every file
 * the library offers can be asked for, and nothing can be asked for that no file is.
 *
 * A workflow's name is its file's name without the final `.json`, exactly: `a.b.json` is
 * `a.b`. A request is matched to that name as written; `a.json` asks for a file `a.json.json`.
 * The rule is the one for ids (safe-name.ts), spelled out here for the messages.
 */
import { SAFE_NAME_CHARACTER, SAFE_NAME_FIRST, SAFE_NAME_MAX_LENGTH } from './safe-name.js';

export const WORKFLOW_NAME_MAX_LENGTH = SAFE_NAME_MAX_LENGTH;
export const WORKFLOW_NAME_RULE = '1-128 letters (a-z, A-Z), digits, "_", "-" and ".", starting with a letter or digit, no ".."';

/** Why `name` cannot be a workflow's name, or undefined when it can. */
export function workflowNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'it is empty';
  if (name.length > WORKFLOW_NAME_MAX_LENGTH) return `it is ${name.length} characters long, more than ${WORKFLOW_NAME_MAX_LENGTH}`;
  if (!SAFE_NAME_FIRST.test(name)) return 'it does not start with a letter (a-z, A-Z) or digit';
  const odd = [...name].find((c) => !SAFE_NAME_CHARACTER.test(c));
  if (odd !== undefined) return `it contains ${JSON.stringify(odd)}`;
  return name.includes('..') ? 'it contains ".."' : undefined;
}
