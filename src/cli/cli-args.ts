/**
 * Argument parsing shared by the commands: node's own `parseArgs` (strict, so a mistyped
 * flag is an error, not silently ignored) turned into a ChorusError a person can act on.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ChorusError, ErrorCode } from '../errors/index.js';

export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  usage: string,
): { values: ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>>['values']; positionals: string[] } {
  try {
    const parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: parsed.values, positionals: parsed.positionals };
  } catch (error) {
    throw new ChorusError(ErrorCode.INVALID_COMMAND, `${(error as Error).message}\n${usage}`, { suggestion: usage });
  }
}
