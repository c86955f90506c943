#!/usr/bin/env node
/**
 * Composition root and command dispatcher. Each command lives in its own module that
 * exports `run(argv): Promise<number>` (the exit code) and is imported only when used,
 * so `chorus-visual simulate` does not load the database driver and so on.
 */
import { exitQuietlyWhenOutputCloses } from './cli/closed-output-exit.js';
import { ChorusError } from './errors/index.js';

type CommandModule = { run(argv: string[]): Promise<number> };

const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  serve: { summary: 'run the service (NATS commands + events, HTTP inspector, job actors)', load: () => import('./cli/serve-command.js') },
  demo: {
    summary: 'everything embedded: simulator, in-process bus, SQLite; generates images for the shipped characters',
    load: () => import('./cli/demo-command.js'),
  },
  generate: { summary: 'generate an image for a character and wait for it', load: () => import('./cli/generate-command.js') },
  jobs: { summary: 'jobs list | show <id> | watch <id> | cancel <id> | regenerate <id>', load: () => import('./cli/jobs-command.js') },
  workflows: { summary: 'workflows list | validate [name] [--backend URL]', load: () => import('./cli/workflows-command.js') },
  simulate: { summary: 'run the ComfyUI simulator (--port 8188)', load: () => import('./cli/simulate-command.js') },
  doctor: {
    summary: 'check the configuration and every dependency (ComfyUI, NATS, database, LLM); says what to fix',
    load: () => import('./cli/doctor-command.js'),
  },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: chorus-visual <command> [options]\n\ncommands:\n${lines.join('\n')}\n\n\`chorus-visual <command> --help\` describes a command's options; \`chorus-visual --version\` prints the version.\n`;
}

async function version(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    (name ? process.stdout : process.stderr).write(usage());
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    process.stdout.write(`chorus-visual ${await version()}\n`);
    return 0;
  }
  const command = commands[name];
  if (!command) {
    const { didYouMean } = await import('./cli/cli-args.js');
    throw new ChorusError('INVALID_COMMAND', `unknown command "${name}"`, {
      suggestion: didYouMean(name, Object.keys(commands)) ?? 'see `chorus-visual --help` for the commands',
    });
  }
  const mod = await command.load();
  return mod.run(rest);
}

/** What a person sees for a failure: its code, message and suggestion, never a stack. */
function report(error: unknown): number {
  if ((error as Error | null)?.name === 'HelpShown') return 0;
  const issues = (error as { issues?: Array<{ path: PropertyKey[]; message: string }> } | null)?.issues;
  if ((error as Error | null)?.name === 'ZodError' && issues) {
    error = new ChorusError('INVALID_COMMAND', issues.map((i) => `${i.path.map(String).join('.') || 'input'}: ${i.message}`).join('; '));
  }
  const chorus =
    error instanceof ChorusError
      ? error
      : new ChorusError('INTERNAL', error instanceof Error ? error.message : String(error), {
          suggestion: 'this is a bug in chorus-visual; please report it with the command you ran',
        });
  process.stderr.write(`error ${chorus.code}: ${chorus.message}\n`);
  if (chorus.suggestion) process.stderr.write(`suggestion: ${chorus.suggestion}\n`);
  return 1;
}

exitQuietlyWhenOutputCloses({ keepRunning: process.argv[2] === 'serve' });
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.exitCode = report(error);
  },
);
