/**
 * `chorus-visual simulate`: a standalone simulated ComfyUI for demos and for tests that need it
 * in another process (they drive faults through /_sim/*). Its options and failures follow the
 * other commands (cli-args.ts: `error CODE: message`, "did you mean", exit 1); it loads the
 * simulator and the error catalogue only, never the database (scripts/build.ts).
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ChorusError, ErrorCode, portRefused } from '../errors/index.js';
import { startSimulator } from '../simulator/index.js';
import { nonNegativeNumberOption, parseCommandArgs, type CommandHelp } from './cli-args.js';

const help: CommandHelp = {
  usage: 'chorus-visual simulate [options]',
  summary:
    'A ComfyUI stand-in speaking the real protocol (HTTP + WebSocket, 0.3.64), for trying chorus-visual without a GPU. ' +
    'Its images are flat colour fills of the requested size, its video and audio tiny placeholder files. SIGTERM or Ctrl-C stops it.',
  options: {
    port: 'N  port to listen on (default 8188; 0 picks a free one)',
    host: 'HOST  address to listen on (default 127.0.0.1)',
    'output-dir': 'DIR  where outputs are written, input/ and temp/ beside it (default: a new temporary folder)',
    'step-ms': 'N  time per sampling step (default 5)',
    'node-ms': 'N  time per other node (default 1)',
    'model-load-ms': 'N  time to "load" a model not loaded yet (default 0)',
  },
};

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      port: { type: 'string' },
      host: { type: 'string' },
      'output-dir': { type: 'string' },
      'step-ms': { type: 'string' },
      'node-ms': { type: 'string' },
      'model-load-ms': { type: 'string' },
    },
    help,
  );
  if (positionals.length > 0) {
    throw new ChorusError(ErrorCode.INVALID_COMMAND, `simulate takes no arguments, but got "${positionals[0]}"`, {
      suggestion: 'see `chorus-visual simulate --help`',
    });
  }
  const port = wholeNumber('port', values.port, 8188, 65535, 'e.g. --port 8188 (0 picks a free port)');
  const host = values.host ?? '127.0.0.1';
  const outputDir = values['output-dir'] === undefined ? undefined : resolve(values['output-dir']);
  if (outputDir !== undefined) refuseFileAsFolder(outputDir);
  const modelLoadMs = milliseconds('model-load-ms', values['model-load-ms']);
  const sim = await startSimulator({
    port,
    host,
    ...(outputDir === undefined ? {} : { outputDir }),
    ...optional('stepDelayMs', milliseconds('step-ms', values['step-ms'])),
    ...optional('nodeDelayMs', milliseconds('node-ms', values['node-ms'])),
    // Every model file costs this much to load when a prompt's models differ from the previous one's.
    ...(modelLoadMs ? { modelLoadMs: { '*': modelLoadMs } } : {}),
  }).catch((error: unknown) => {
    throw startRefused(error, host, port);
  });
  process.stdout.write(`ComfyUI simulator (0.3.64 protocol) listening on ${sim.url}\noutput: ${sim.outputDir}\ninput: ${sim.inputDir}\n`);
  await new Promise<void>((resolveStop) => {
    const stop = () => resolveStop();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await sim.close();
  process.stdout.write('simulator stopped\n');
  return 0;
}

function optional<K extends string>(key: K, value: number | undefined): { [P in K]?: number } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: number };
}

function wholeNumber(option: string, text: string | undefined, fallback: number, max: number, example: string): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value > max) {
    throw new ChorusError(ErrorCode.INVALID_COMMAND, `--${option} must be a whole number from 0 to ${max}, not "${text}"`, { suggestion: example });
  }
  return value;
}

function milliseconds(option: string, text: string | undefined): number | undefined {
  return text === undefined ? undefined : nonNegativeNumberOption(option, text, 'milliseconds', `e.g. --${option} 10`);
}

/** A file where the output folder should be: said plainly before anything starts. */
function refuseFileAsFolder(outputDir: string): void {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(outputDir, { throwIfNoEntry: false });
  } catch (error) {
    throw folderRefused(error); // ENOTDIR: a file on the way to it
  }
  if (stat === undefined || stat.isDirectory()) return;
  throw new ChorusError(ErrorCode.CONFIG_INVALID, `--output-dir ${outputDir} is a file, not a folder`, {
    details: { key: '--output-dir', path: outputDir },
    suggestion: 'give --output-dir a folder (made when missing), or leave it out for a temporary one',
  });
}

/** The port taken (as `serve` says it for http.port), or a folder the simulator cannot make. */
function startRefused(error: unknown, host: string, port: number): unknown {
  const refused = portRefused(error, {
    host,
    port,
    key: '--port',
    suggestion: 'Another process listens there (ComfyUI, another simulator?): stop it, or pick another --port (0 picks a free one).',
  });
  return refused === error ? folderRefused(error) : refused;
}

/** A file system error on the simulator's folders, said as a fault of --output-dir; anything else unchanged. */
function folderRefused(error: unknown): unknown {
  const { code, path, syscall } = (error ?? {}) as NodeJS.ErrnoException;
  if (path === undefined || code === undefined || syscall === 'listen') return error;
  return new ChorusError(ErrorCode.CONFIG_INVALID, `cannot make the simulator's folder ${path}: ${code}`, {
    cause: error,
    details: { key: '--output-dir', path, reason: code },
    suggestion: 'give --output-dir a folder this user can write, with input/ and temp/ free beside it (no files by those names)',
  });
}
