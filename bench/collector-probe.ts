/**
 * A profiling aid for the `moving` stage, not part of `npm run bench`: the output collector
 * alone, in this process, one job at a time — the wall time of each `collect()` and the
 * process CPU it used (process.cpuUsage covers every thread: sharp's and libuv's too). Each
 * job moves one ComfyUI-style 512×512 RGB PNG (the simulator's solid colour, or incompressible
 * noise like a real picture with `--image noise`) into one of 16 conversation folders, with
 * the shipped 256 px WebP thumbnail unless `--no-thumbnails`.
 *   npx tsx bench/collector-probe.ts --jobs 200
 *   npx tsx bench/collector-probe.ts --jobs 200 --image noise
 *   npx tsx bench/collector-probe.ts --jobs 200 --no-thumbnails
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { z } from 'zod';
import { OutputCollector } from '../src/files/index.js';
import { encodeSolidPng } from '../src/simulator/solid-png-encoder.js';
import { createBenchDir, nowMs } from './bench-environment.js';
import { summarize } from './latency-stats.js';
import { renderTable } from './result-table.js';

const argsSchema = z.object({
  jobs: z.coerce.number().int().min(1).default(200),
  warmup: z.coerce.number().int().min(0).default(10),
  image: z.enum(['solid', 'noise']).default('solid'),
  'no-thumbnails': z.boolean().default(false),
});

async function noisePng(): Promise<Buffer> {
  const raw = Buffer.alloc(512 * 512 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 2654435761) >>> 24;
  return sharp(raw, { raw: { width: 512, height: 512, channels: 3 } })
    .png()
    .toBuffer();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { jobs: { type: 'string' }, warmup: { type: 'string' }, image: { type: 'string' }, 'no-thumbnails': { type: 'boolean' } },
  });
  const args = argsSchema.parse(values);
  const dir = await createBenchDir('collector');
  const output = path.join(dir.path, 'ComfyUI', 'output');
  await mkdir(output, { recursive: true });
  const collector = new OutputCollector({
    dataDir: path.join(dir.path, 'data'),
    ...(args['no-thumbnails'] ? {} : { thumbnails: { maxSize: 256, format: 'webp', quality: 80 } }),
  });
  const noise = args.image === 'noise' ? await noisePng() : undefined;
  const wall: number[] = [];
  const cpu: number[] = [];
  const load = loadavg();
  try {
    for (let i = 0; i < args.warmup + args.jobs; i++) {
      const filename = `ComfyUI_${String(i).padStart(5, '0')}_.png`;
      await writeFile(path.join(output, filename), noise ?? (await encodeSolidPng(512, 512, (i * 0x9e3779) & 0xffffff)));
      const cpuBefore = process.cpuUsage();
      const started = nowMs();
      await collector.collect({
        jobId: `job-${i}`,
        conversationId: `bench-conv-${i % 16}`,
        files: [{ nodeId: '9', key: 'images', filename, subfolder: '', type: 'output' }],
        mode: 'move',
        comfyOutputDir: output,
        metadata: { workflow: 'no_model_test' },
      });
      const ended = nowMs();
      const used = process.cpuUsage(cpuBefore);
      if (i < args.warmup) continue;
      wall.push(ended - started);
      cpu.push((used.user + used.system) / 1000);
    }
  } finally {
    await dir.remove();
  }
  const row = (measure: string, samples: number[]) => {
    const s = summarize(samples);
    return { measure, jobs: s.count, p50_ms: s.p50, p95_ms: s.p95, p99_ms: s.p99, max_ms: s.max, mean_ms: s.mean };
  };
  process.stdout.write(
    [
      `jobs=${args.jobs} (+${args.warmup} warm-up) image=${args.image} 512x512 thumbnails=${!args['no-thumbnails']} load_at_start=${load.map((l) => l.toFixed(2)).join(' ')} load_at_end=${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
      renderTable([row('collect() wall', wall), row('collect() process CPU', cpu)]),
      '',
    ].join('\n'),
  );
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
