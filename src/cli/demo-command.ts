/**
 * `chorus-visual demo`: the main job on embedded defaults, with nothing else running.
 * Starts the ComfyUI simulator, an in-process event bus and SQLite in a temporary (or
 * given) folder, generates an image for every shipped character plus the model-free
 * video and audio workflows, shows their progress and prints where each file went.
 * The workflows and characters are the package's own, so it runs from any folder.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startApp, type ChorusVisualApp } from '../app/chorus-visual-app.js';
import { runThenStop } from '../app/stop-sequence.js';
import { parseServiceConfig, type ResolvedConfig } from '../config/index.js';
import type { GenerateCommandInput } from '../commands/command-schemas.js';
import { generateCommandSchema } from '../commands/command-schemas.js';
import { finalStates, type JobView } from '../contracts/index.js';
import { createSilentLogger } from '../logging/logger.js';
import { startSimulator, type SimulatorHandle } from '../simulator/index.js';
import { parseCommandArgs, type CommandHelp } from './cli-args.js';
import { createJobProgressDisplay } from './job-progress-display.js';
import { findPackageRoot } from './package-root.js';
import { noteStopFailure } from './stop-failure-note.js';
import { timingLine } from './job-summary-format.js';

const help: CommandHelp = {
  usage: 'chorus-visual demo [options]',
  summary:
    'Everything embedded, nothing else needed: the ComfyUI simulator, an in-process event bus and SQLite in a temporary folder. Generates an image for every shipped character plus the model-free image, video and text-to-speech workflows, and prints where each file went with its timing.',
  options: {
    'data-dir': 'DIR  keep everything in this folder instead of a temporary one',
    keep: 'leave the state inspector running afterwards (Ctrl-C ends it)',
    'http-port': 'N  the inspector port (default: a free one)',
    'step-ms': "N  the simulator's time per sampling step (default 40)",
  },
};

interface DemoCommand {
  label: string;
  command: GenerateCommandInput;
}

interface StartedJob {
  label: string;
  id: string;
}

const requests: Record<string, string> = {
  nova: 'send me a selfie of you sketching',
  alex: 'show me what your desk looks like right now',
};

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(
    argv,
    { 'data-dir': { type: 'string' }, keep: { type: 'boolean' }, 'http-port': { type: 'string' }, 'step-ms': { type: 'string' } },
    help,
  );
  // The shipped workflows and characters, wherever this is run from (`npx chorus-visual demo`).
  const packageRoot = await findPackageRoot();
  const root = resolve(values['data-dir'] ?? (await mkdtemp(join(tmpdir(), 'chorus-visual-demo-'))));
  const out = process.stdout;
  out.write(`chorus-visual demo — everything embedded, files under ${root}\n\n`);

  // What is started is stopped on every way out, a failure included: the simulator's and
  // the app's open sockets would otherwise keep the process alive after the error is printed.
  // Both are stopped even when the first fails to, and the demo's own failure stays the
  // error reported; a stop that fails after it is noted just before it.
  const simulator = await startSimulator({ outputDir: join(root, 'comfyui', 'output'), stepDelayMs: Number(values['step-ms'] ?? 40) });
  let startedApp: ChorusVisualApp | undefined;
  const demo = async (): Promise<number> => {
    out.write(`  ComfyUI simulator   ${simulator.url}\n`);
    const config = demoConfig(simulator, root, packageRoot, Number(values['http-port'] ?? 0));
    const app = await startApp({ config, bus: 'memory', logger: createSilentLogger(), role: 'demo' });
    startedApp = app;
    out.write(`  database            ${config.database.url}\n`);
    out.write(`  events              in-process bus (subjects as on NATS: chorus.visual.events.>)\n`);
    out.write(`  state inspector     ${app.http?.url ?? '(off)'}/\n\n`);
    const failures = await runDemoJobs(app, config, out);
    if (values.keep) await keepInspectorUp(app, out);
    return failures === 0 ? 0 : 1;
  };
  return runThenStop(
    demo,
    [
      { part: 'the app', stop: () => startedApp?.stop() },
      { part: 'the ComfyUI simulator', stop: () => simulator.close() },
    ],
    'stopping the demo',
    noteStopFailure,
  );
}

/** Everything embedded: the simulator, the in-process bus, SQLite under `root`; the package's own workflows and characters. */
function demoConfig(simulator: SimulatorHandle, root: string, packageRoot: string, httpPort: number): ResolvedConfig {
  return parseServiceConfig({
    comfyui: {
      url: simulator.url,
      queue: { max_concurrent_jobs: 2, max_queue_size: 100 },
      file_management: { output_directory: simulator.outputDir, move_files: true },
    },
    data_dir: join(root, 'data'),
    database: { url: `sqlite:${join(root, 'data', 'chorus-visual.db')}` },
    workflows_dir: join(packageRoot, 'workflows'),
    characters_dir: join(packageRoot, 'config', 'characters'),
    nats: { enabled: false },
    http: { enabled: true, port: httpPort },
  });
}

/** Every shipped character's default workflow, then every model-free workflow. */
function demoCommands(app: ChorusVisualApp): DemoCommand[] {
  const commands: DemoCommand[] = [];
  for (const character of app.runtime.characters.list()) {
    commands.push({
      label: `${character.id} (${character.visual_identity.default_workflow})`,
      command: {
        conversation_id: 'demo-conversation',
        character: character.id,
        user_request: requests[character.id] ?? 'send me a picture of what you are doing',
        activity: 'a quiet afternoon',
      },
    });
  }
  for (const workflow of app.runtime.workflows.list()) {
    if (!workflow.name.startsWith('no_model')) continue;
    commands.push({
      label: `${workflow.name} [${workflow.type}]`,
      command: { conversation_id: 'demo-conversation', workflow: workflow.name, prompt: 'a lighthouse at dusk, painted in watercolour' },
    });
  }
  return commands;
}

/** Runs the demo's jobs to their final states and prints the results; the number that did not complete. */
async function runDemoJobs(app: ChorusVisualApp, config: ResolvedConfig, out: NodeJS.WriteStream): Promise<number> {
  const eventCounts = new Map<string, number>();
  app.memoryBus!.subscribe(`${config.nats.subject_prefix}.events.>`, (msg) => {
    const suffix = msg.subject.split('.').pop() ?? '';
    eventCounts.set(suffix, (eventCounts.get(suffix) ?? 0) + 1);
  });
  const started = await runToFinalStates(app, demoCommands(app), out);
  const failures = await printResults(app, started, out);
  out.write(`\nEvents published: ${[...eventCounts.entries()].map(([k, v]) => `${k} ${v}`).join(', ')}\n`);
  out.write(`Data folder: ${config.data_dir}\n`);
  return failures;
}

async function runToFinalStates(app: ChorusVisualApp, commands: DemoCommand[], out: NodeJS.WriteStream): Promise<StartedJob[]> {
  const display = createJobProgressDisplay(out);
  const finished = new Map<string, JobView>();
  let expected = 0;
  let resolveAll: () => void = () => undefined;
  const allDone = new Promise<void>((r) => (resolveAll = r));
  app.runtime.service.on('transition', (notice) => {
    display.transition(notice.job);
    if (finalStates.has(notice.job.state) && !finished.has(notice.jobId)) {
      finished.set(notice.jobId, notice.job);
      if (finished.size === expected) resolveAll();
    }
  });
  app.runtime.service.on('progress', (notice) => display.progress(notice.jobId, notice.progress.value, notice.progress.max));

  const started: StartedJob[] = [];
  try {
    for (const { label, command } of commands) {
      const { job } = await app.runtime.service.generate(generateCommandSchema.parse(command));
      expected += 1;
      started.push({ label, id: job.id });
      display.track(job, label);
      if (finalStates.has(job.state)) finished.set(job.id, job);
    }
    if (finished.size < expected) await allDone;
  } finally {
    // The terminal's progress bars redraw on a timer, which would keep a failed run alive.
    display.stop();
  }
  return started;
}

async function printResults(app: ChorusVisualApp, started: StartedJob[], out: NodeJS.WriteStream): Promise<number> {
  out.write('\nResults\n');
  let failures = 0;
  for (const { label, id } of started) {
    const { job } = await app.runtime.service.get(id);
    out.write(`  ${label}: ${job.state}${job.prompt_source ? ` (prompt: ${job.prompt_source})` : ''}\n`);
    if (job.state !== 'completed') {
      failures += 1;
      out.write(`    error ${job.error?.code}: ${job.error?.message}\n`);
      continue;
    }
    for (const file of job.result?.files ?? []) {
      out.write(
        `    ${file.kind.padEnd(5)} ${file.absolutePath} (${file.mediaType}, ${file.bytes} bytes${file.width ? `, ${file.width}x${file.height}` : ''})\n`,
      );
    }
    out.write(`    timing: ${timingLine(job.timings)}\n`);
  }
  return failures;
}

async function keepInspectorUp(app: ChorusVisualApp, out: NodeJS.WriteStream): Promise<void> {
  out.write(`\nThe inspector stays up at ${app.http?.url}/ — press Ctrl-C to stop.\n`);
  await new Promise<void>((r) => {
    process.once('SIGINT', () => r());
    process.once('SIGTERM', () => r());
  });
}
