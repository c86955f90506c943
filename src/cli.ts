#!/usr/bin/env node
/**
 * Composition root and command dispatcher. Each command lives in its own module that
 * exports `run(argv): Promise<number>` (the exit code) and is imported only when used,
 * so `chorus-visual simulate` does not load the database driver and so on.
 */
import { ChorusError } from './errors/index.js';

type CommandModule = { run(argv: string[]): Promise<number> };

const commands: Record<string, { summary: string; load: () => Promise<CommandModule> }> = {
  serve: { summary: 'run the service (NATS commands + events, HTTP inspector, job actors)', load: () => import('./cli/serve-command.js') },
  demo: { summary: 'everything embedded: simulator, in-process bus, SQLite; generates images for the shipped characters', load: () => import('./cli/demo-command.js') },
  generate: { summary: 'generate an image for a character and wait for it', load: () => import('./cli/generate-command.js') },
  jobs: { summary: 'jobs list | show <id> [--debug] | cancel <id>', load: () => import('./cli/jobs-command.js') },
  workflows: { summary: 'workflows list | validate [name] [--backend URL]', load: () => import('./cli/workflows-command.js') },
  simulate: { summary: 'run the ComfyUI simulator (--port 8188)', load: () => import('./simulator/simulate-command.js') },
};

function usage(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: chorus-visual <command> [options]\n\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  const mod = await command.load();
  return mod.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ChorusError) {
      process.stderr.write(`error ${error.code}: ${error.message}\n`);
      if (error.suggestion) process.stderr.write(`suggestion: ${error.suggestion}\n`);
    } else {
      process.stderr.write(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    }
    process.exitCode = 1;
  },
);
