/**
 * `npm run chaos -- [--seconds 60] [--seed N] [--json FILE] [--db-on-data-disk] [--no-disk-full]`: the fault campaign (see
 * RELIABILITY.md). Runs the real service as a process against the simulator, a private
 * nats-server and a data folder on its own tmpfs, injects faults for the given time, then
 * checks that nothing was lost, repeated or reordered. Exit code 1 on any violation.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { runCampaign } from './chaos/chaos-campaign.js';
import { formatReport } from './chaos/campaign-report.js';

const argsSchema = z.object({
  seconds: z.coerce.number().positive().max(3_600).default(60),
  seed: z.coerce
    .number()
    .int()
    .nonnegative()
    .default(() => Math.floor(Math.random() * 1_000_000)),
  'settle-seconds': z.coerce.number().positive().default(120),
  'submit-ms': z.coerce.number().positive().default(200),
  json: z.string().optional(),
  'db-on-data-disk': z.boolean().default(false),
  'no-disk-full': z.boolean().default(false),
});

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      seed: { type: 'string' },
      'settle-seconds': { type: 'string' },
      'submit-ms': { type: 'string' },
      json: { type: 'string' },
      'db-on-data-disk': { type: 'boolean' },
      'no-disk-full': { type: 'boolean' },
    },
  });
  const args = argsSchema.parse(values);
  // Ctrl-C ends the fault window; the run still settles, reports and unmounts its tmpfs.
  const interrupted = new AbortController();
  process.once('SIGINT', () => {
    process.stderr.write('[chaos] interrupted: stopping faults, settling, cleaning up\n');
    interrupted.abort();
  });
  const report = await runCampaign({
    seconds: args.seconds,
    seed: args.seed,
    submitIntervalMs: args['submit-ms'],
    settleSeconds: args['settle-seconds'],
    tmpfsMb: 16,
    executionDelayMs: 100,
    databaseOnDataDisk: args['db-on-data-disk'],
    diskFull: !args['no-disk-full'],
    signal: interrupted.signal,
    timing: { gapMs: [300, 1_500], serviceDownMs: [0, 500], natsDownMs: [100, 1_500], diskFullMs: [500, 2_500], minServiceUpMs: 2_000 },
    log: (line) => process.stderr.write(`[chaos] ${line}\n`),
  });
  process.stdout.write(`${formatReport(report)}\n`);
  if (args.json) await writeFile(args.json, `${JSON.stringify(report, null, 2)}\n`);
  return report.verdict.totalViolations === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`chaos campaign failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(2);
  },
);
