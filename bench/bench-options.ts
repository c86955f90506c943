/**
 * Command-line options shared by every benchmark: `run.ts [name] [--jobs N] [--json [file]]`.
 * `--json` takes an optional file (a following `--flag` or nothing means "print to stdout"),
 * which `node:util` parseArgs cannot express, hence the small hand-rolled reader.
 */
import { z } from 'zod';

export const benchNames = ['latency', 'throughput', 'utilization', 'memory', 'recovery', 'affinity', 'startup'] as const;
export type BenchName = (typeof benchNames)[number];

export interface BenchOptions {
  names: BenchName[];
  /** Overrides the benchmark's default job count. */
  jobs: number | undefined;
  /** undefined: no JSON; '-': JSON on stdout; otherwise a file path. */
  json: string | undefined;
}

const optionsSchema = z.strictObject({
  names: z.array(z.enum(benchNames)),
  jobs: z.coerce.number().int().min(1).max(1_000_000).optional(),
  json: z.string().min(1).optional(),
});

export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  const raw: { names: string[]; jobs?: string; json?: string } = { names: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--jobs') {
      const value = argv[++i];
      if (value === undefined) throw new Error('--jobs needs a number');
      raw.jobs = value;
    } else if (arg.startsWith('--jobs=')) {
      raw.jobs = arg.slice('--jobs='.length);
    } else if (arg === '--json') {
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('--')) {
        raw.json = next;
        i++;
      } else {
        raw.json = '-';
      }
    } else if (arg.startsWith('--json=')) {
      raw.json = arg.slice('--json='.length);
    } else if (arg.startsWith('--')) {
      throw new Error(`unknown option ${arg}`);
    } else {
      raw.names.push(arg);
    }
  }
  const parsed = optionsSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`bad benchmark options: ${z.prettifyError(parsed.error)}`);
  const names = parsed.data.names.length > 0 ? parsed.data.names : [...benchNames];
  return { names, jobs: parsed.data.jobs, json: parsed.data.json };
}
