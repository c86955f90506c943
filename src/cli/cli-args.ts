/**
 * Argument parsing shared by the commands: node's own `parseArgs` (strict, so a mistyped
 * flag is an error, not silently ignored) turned into a ChorusError a person can act on,
 * with the closest option suggested. `--help`/`-h` is understood by every command: the
 * help goes to stdout and the command ends with exit code 0 (HelpShown, caught by cli.ts).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ChorusError, ErrorCode } from '../errors/index.js';
import { suggestNames } from '../workflows/object-info-validator.js';

export interface CommandHelp {
  /** `chorus-visual jobs list [options]` */
  usage: string;
  summary: string;
  /** Option name → "METAVAR  what it does" (METAVAR left out for flags). */
  options: Record<string, string>;
  /** Free text after the options: examples, subcommands. */
  more?: string;
}

/** Thrown after help was printed; the dispatcher turns it into exit code 0. */
export class HelpShown extends Error {
  constructor() {
    super('help shown');
    this.name = 'HelpShown';
  }
}

export function formatHelp(help: CommandHelp): string {
  const rows = Object.entries({ ...help.options, help: 'show this help' }).map(([name, text]) => {
    const split = text.indexOf('  ');
    const metavar = split > 0 && /^[A-Z_.|[\]]+$/.test(text.slice(0, split)) ? ` ${text.slice(0, split)}` : '';
    return [`${name === 'help' ? '-h, ' : ''}--${name}${metavar}`, metavar ? text.slice(split + 2) : text] as const;
  });
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2;
  const options = rows.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`).join('\n');
  return `usage: ${help.usage}\n\n${help.summary}\n\noptions:\n${options}\n${help.more ? `\n${help.more.trimEnd()}\n` : ''}`;
}

/** "did you mean …?" for a wrong word among known ones, or undefined when nothing is close. */
export function didYouMean(wanted: string, known: readonly string[], prefix = ''): string | undefined {
  const [best] = suggestNames(wanted, [...known], 1);
  return best === undefined ? undefined : `did you mean "${prefix}${best}"?`;
}

export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  argv: string[],
  options: T,
  help: CommandHelp,
): { values: ReturnType<typeof parseArgs<{ args: string[]; options: T; allowPositionals: true; strict: true }>>['values']; positionals: string[] } {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(formatHelp(help));
    throw new HelpShown();
  }
  try {
    const parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
    return { values: parsed.values, positionals: parsed.positionals };
  } catch (error) {
    const message = (error as Error).message.split('. To specify')[0]!;
    const unknown = /Unknown option '--?([^']+)'/.exec(message)?.[1];
    const close = unknown === undefined ? undefined : didYouMean(unknown, Object.keys(options), '--');
    const commandName = help.usage
      .split(' ')
      .slice(0, 3)
      .filter((w) => /^[a-z-]+$/.test(w))
      .join(' ');
    throw new ChorusError(ErrorCode.INVALID_COMMAND, message, {
      suggestion: close ?? `see \`${commandName} --help\``,
    });
  }
}

/**
 * An option's value as a number from 0 (`--wait 2.5`, `--step-ms 10`): anything else is
 * INVALID_COMMAND naming the option, its unit and what was given.
 */
export function nonNegativeNumberOption(option: string, text: string, unit: string, suggestion: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0) {
    throw new ChorusError(ErrorCode.INVALID_COMMAND, `--${option} must be a number of ${unit} from 0, not "${text}"`, { suggestion });
  }
  return value;
}
