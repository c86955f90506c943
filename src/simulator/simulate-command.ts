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
});

const options = {
  port: { type: 'string' },
  host: { type: 'string' },
  'output-dir': { type: 'string' },
  'step-ms': { type: 'string' },
  'node-ms': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const usage = 'usage: chorus-visual simulate [--port 8188] [--host 127.0.0.1] [--output-dir DIR] [--step-ms 5] [--node-ms 1]\n';

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
    port: args.port, host: args.host, outputDir: args['output-dir'], stepDelayMs: args['step-ms'], nodeDelayMs: args['node-ms'],
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
