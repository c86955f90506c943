/**
 * `chorus-visual simulate`: a standalone simulated ComfyUI for demos and for tests that need it
 * in another process (they drive faults through /_sim/*).
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { startSimulator } from './simulator-server.js';

const argsSchema = z.object({
  port: z.coerce.number().int().min(0).max(65535).default(8188),
  host: z.string().default('127.0.0.1'),
  'output-dir': z.string().optional(),
  'step-ms': z.coerce.number().min(0).optional(),
  'node-ms': z.coerce.number().min(0).optional(),
  'model-load-ms': z.coerce.number().min(0).optional(),
});

const options = {
  port: { type: 'string' },
  host: { type: 'string' },
  'output-dir': { type: 'string' },
  'step-ms': { type: 'string' },
  'node-ms': { type: 'string' },
  'model-load-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const usage =
  'usage: chorus-visual simulate [options]\n\n' +
  'A ComfyUI stand-in speaking the real protocol (HTTP + WebSocket, 0.3.64), for trying chorus-visual without a GPU.\n' +
  'Its images are flat colour fills of the requested size, its video and audio tiny placeholder files.\n\n' +
  'options:\n' +
  '  --port N          port to listen on (default 8188; 0 picks a free one)\n' +
  '  --host HOST       address to listen on (default 127.0.0.1)\n' +
  '  --output-dir DIR  where outputs are written (default: a new temporary folder)\n' +
  '  --step-ms N       time per sampling step (default 5)\n' +
  '  --node-ms N       time per other node (default 1)\n' +
  '  --model-load-ms N time to "load" a model not loaded yet (default 0)\n' +
  '  -h, --help        show this help\n';

export async function run(argv: string[]): Promise<number> {
  let values: ReturnType<typeof parseArgs<{ args: string[]; options: typeof options }>>['values'];
  try {
    values = parseArgs({ args: argv, options }).values;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${usage}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const parsed = argsSchema.safeParse(values);
  if (!parsed.success) {
    process.stderr.write(`${parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('\n')}\n${usage}`);
    return 2;
  }
  const args = parsed.data;
  const sim = await startSimulator({
    port: args.port,
    host: args.host,
    outputDir: args['output-dir'],
    stepDelayMs: args['step-ms'],
    nodeDelayMs: args['node-ms'],
    // Every model file costs this much to load when a prompt's models differ from the previous one's.
    ...(args['model-load-ms'] ? { modelLoadMs: { '*': args['model-load-ms'] } } : {}),
  });
  process.stdout.write(`ComfyUI simulator (0.3.64 protocol) listening on ${sim.url}\noutput: ${sim.outputDir}\ninput: ${sim.inputDir}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await sim.close();
  process.stdout.write('simulator stopped\n');
  return 0;
}
