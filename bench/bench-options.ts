/**
 * Command-line options shared by every benchmark: `run.ts [name] [--jobs N] [--json [file]]`,
 * for `latency` alone `--light`, `--comfy-url URL` and `--output-dir DIR`, and for `latency` and
 * `throughput` `--service-in-bench` (the service inside the benchmark's process instead of
 * `serve` in its own, to compare the two), and `--warmup N` (latency: pairs run first and not
 * counted, default 5; throughput: jobs before the second row's CPU reading, default half the run).
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
  /** latency: measure against this ComfyUI (http/https base URL) instead of a simulator. */
  comfyUrl: string | undefined;
  /** latency: that ComfyUI's output folder on this machine. */
  outputDir: string | undefined;
  /** latency: only the light-load side-by-side rows (implied by comfyUrl). */
  light: boolean;
  /** latency, throughput: run the service inside the benchmark's process, not as `serve` in its own. */
  serviceInBench: boolean;
  /** latency: pairs not counted; throughput: jobs before the warm row's CPU reading. */
  warmup: number | undefined;
}

const optionsSchema = z.strictObject({
  names: z.array(z.enum(benchNames)),
  jobs: z.coerce.number().int().min(1).max(1_000_000).optional(),
  json: z.string().min(1).optional(),
  comfyUrl: z.url({ protocol: /^https?$/ }).optional(),
  outputDir: z.string().min(1).optional(),
  light: z.boolean().default(false),
  serviceInBench: z.boolean().default(false),
  warmup: z.coerce.number().int().min(0).max(1_000_000).optional(),
});

/** Options that take a value and belong to the latency benchmark. */
const latencyValueOptions = { '--comfy-url': 'comfyUrl', '--output-dir': 'outputDir' } as const;

export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  const raw: {
    names: string[];
    jobs?: string;
    json?: string;
    comfyUrl?: string;
    outputDir?: string;
    light?: boolean;
    serviceInBench?: boolean;
    warmup?: string;
  } = { names: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    if (flag in latencyValueOptions) {
      const value = inline ?? argv[++i];
      if (value === undefined || value.startsWith('--')) throw new Error(`${flag} needs a value`);
      raw[latencyValueOptions[flag as keyof typeof latencyValueOptions]] = value;
    } else if (arg === '--light') {
      raw.light = true;
    } else if (arg === '--service-in-bench') {
      raw.serviceInBench = true;
    } else if (flag === '--warmup') {
      const value = inline ?? argv[++i];
      if (value === undefined || value === '' || value.startsWith('--')) throw new Error('--warmup needs a number');
      raw.warmup = value;
    } else if (arg === '--jobs') {
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
  const { comfyUrl, outputDir, light, serviceInBench, warmup } = parsed.data;
  const names = parsed.data.names.length > 0 ? parsed.data.names : [...benchNames];
  if ((comfyUrl !== undefined || outputDir !== undefined || light) && (names.length !== 1 || names[0] !== 'latency')) {
    throw new Error('--comfy-url, --output-dir and --light belong to the latency benchmark: name it alone (run.ts latency …)');
  }
  if (serviceInBench && names.some((name) => name !== 'latency' && name !== 'throughput')) {
    throw new Error('--service-in-bench belongs to the latency and throughput benchmarks: name them (run.ts latency|throughput …)');
  }
  if (warmup !== undefined && names.some((name) => name !== 'latency' && name !== 'throughput')) {
    throw new Error('--warmup belongs to the latency and throughput benchmarks: name them (run.ts latency|throughput …)');
  }
  if (outputDir !== undefined && comfyUrl === undefined) throw new Error('--output-dir is the output folder of the ComfyUI named by --comfy-url');
  return { names, jobs: parsed.data.jobs, json: parsed.data.json, comfyUrl, outputDir, light, serviceInBench, warmup };
}
