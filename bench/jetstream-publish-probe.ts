/**
 * A profiling aid, not part of `npm run bench`: what one JetStream publish costs on this
 * machine when each waits for its ack (as the outbox relay does, row by row) versus when
 * many are in flight. The relay's event rate is bounded by the first number.
 *   npx tsx bench/jetstream-publish-probe.ts [count]
 */
import { connectBenchNats } from './bench-environment.js';

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 1000);
  const nc = await connectBenchNats();
  const jsm = await nc.jetstreamManager();
  const name = `PROBE_${Date.now().toString(36).toUpperCase()}`;
  await jsm.streams.add({ name, subjects: [`probe.${name}.>`], duplicate_window: 3_600_000_000_000 });
  try {
    const js = nc.jetstream();
    // About the size of one of our CloudEvents (a job view with its timings).
    const payload = new TextEncoder().encode('x'.repeat(1500));
    let started = performance.now();
    for (let i = 0; i < count; i++) await js.publish(`probe.${name}.sequential`, payload, { msgID: `s${i}` });
    const sequentialMs = (performance.now() - started) / count;
    started = performance.now();
    await Promise.all(Array.from({ length: count }, (_, i) => js.publish(`probe.${name}.pipelined`, payload, { msgID: `p${i}` })));
    const pipelinedMs = (performance.now() - started) / count;
    process.stdout.write(
      `${count} publishes of 1.5 KB with msgID: one ack at a time ${sequentialMs.toFixed(3)} ms each (${Math.round(1000 / sequentialMs)}/s); all in flight ${pipelinedMs.toFixed(3)} ms each (${Math.round(1000 / pipelinedMs)}/s)\n`,
    );
  } finally {
    await jsm.streams.delete(name);
    await nc.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
