/**
 * `npm run bench` runs every benchmark with sizes that finish in a few minutes;
 * `npx tsx bench/run.ts latency --jobs 500 --json out.json` runs one. Each prints its
 * table; `--json [file]` also writes the results (stdout when no file is given).
 * `npx tsx bench/run.ts latency --comfy-url http://127.0.0.1:8188 --output-dir ~/ComfyUI/output`
 * measures chorus-visual beside a bare client on a real ComfyUI (see latency-bench.ts).
 */
import { writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { parseBenchOptions, type BenchName, type BenchOptions } from './bench-options.js';
import { renderResult, type BenchResult } from './result-table.js';

async function runOne(name: BenchName, options: BenchOptions): Promise<BenchResult> {
  const { jobs } = options;
  const sized = jobs === undefined ? {} : { jobs };
  switch (name) {
    case 'latency': {
      const { comfyUrl, outputDir, light, serviceInBench, warmup } = options;
      return (await import('./latency-bench.js')).runLatencyBench({ ...sized, comfyUrl, outputDir, light, serviceInBench, warmupPairs: warmup });
    }
    case 'throughput':
      return (await import('./throughput-bench.js')).runThroughputBench({ ...sized, serviceInBench: options.serviceInBench, warmupJobs: options.warmup });
    case 'utilization':
      return (await import('./pool-utilization-bench.js')).runPoolUtilizationBench(sized);
    case 'memory':
      return (await import('./memory-bench.js')).runMemoryBench(sized);
    case 'recovery':
      return (await import('./recovery-bench.js')).runRecoveryBench(sized);
    case 'affinity':
      return (await import('./affinity-bench.js')).runAffinityBench(sized);
    case 'startup':
      // --jobs N: launches per launcher and database.
      return (await import('./startup-bench.js')).runStartupBench(jobs === undefined ? {} : { launches: jobs });
  }
}

async function main(argv: string[]): Promise<number> {
  let options: ReturnType<typeof parseBenchOptions>;
  try {
    options = parseBenchOptions(argv);
  } catch (error) {
    process.stderr.write(
      `${(error as Error).message}\nusage: tsx bench/run.ts [latency|throughput|utilization|memory|recovery|affinity|startup …] [--jobs N] [--json [file]]\n` +
        '       tsx bench/run.ts latency [--light] [--comfy-url URL [--output-dir DIR]]   (side by side with a bare client; against a real ComfyUI)\n' +
        '       tsx bench/run.ts latency|throughput --service-in-bench   (the service in the benchmark process, not `serve` in its own)\n' +
        '       tsx bench/run.ts latency|throughput --warmup N   (latency: pairs not counted, default 5; throughput: the warm row starts when N jobs have ended, default half)\n',
    );
    return 2;
  }
  const machine = {
    cpus: cpus().length,
    cpu_model: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    loadavg_at_start: loadavg().map((l) => Number(l.toFixed(2))),
  };
  process.stdout.write(`machine: ${machine.cpus} cores (${machine.cpu_model}), node ${machine.node}, load ${machine.loadavg_at_start.join(' ')}\n\n`);
  const results: BenchResult[] = [];
  for (const name of options.names) {
    const result = await runOne(name, options);
    results.push(result);
    process.stdout.write(`${renderResult(result)}\n`);
  }
  if (options.json !== undefined) {
    const document = JSON.stringify({ machine, finished_at: new Date().toISOString(), loadavg_at_end: loadavg(), results }, null, 2);
    if (options.json === '-') process.stdout.write(`${document}\n`);
    else await writeFile(options.json, `${document}\n`);
  }
  return results.every((r) => r.target.met) ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`benchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
