/**
 * Benchmark 5 — recovery: 1,000 unfinished jobs in the database (some sent to ComfyUI and
 * sitting in its queue or running, the rest queued with us), the service stopped, a new one
 * started on the same SQLite file. Measured from the start call to: every job restored (the
 * actors are live again: startApp returns after JobService.restore) and every job that had a
 * ComfyUI prompt reconciled (its prompt located in /queue or /history before anything is
 * re-sent: the locate() call of each such job has answered).
 */
import { startApp, type ChorusVisualApp } from '../src/app/chorus-visual-app.js';
import { ComfyBackendClient } from '../src/comfy/index.js';
import type { PromptLocation } from '../src/comfy/backend-port.js';
import type { ResolvedConfig } from '../src/config/index.js';
import { benchConfig, benchJob, connectBenchNats, createBenchDir, deleteRunStream, nowMs, startSimulators, uniqueRunNames } from './bench-environment.js';
import type { BenchResult } from './result-table.js';

export interface RecoveryBenchOptions {
  jobs?: number;
}

const backends = 4;
const maxConcurrentPerBackend = 64;

/** A backend client that reports each locate() answer: the reconcile step of a restored job. */
class ReconcileCountingClient extends ComfyBackendClient {
  constructor(
    config: ResolvedConfig['resolvedBackends'][number],
    options: ConstructorParameters<typeof ComfyBackendClient>[1],
    private readonly onLocated: () => void,
  ) {
    super(config, options);
  }

  override async locate(promptId: string): Promise<PromptLocation> {
    const location = await super.locate(promptId);
    this.onLocated();
    return location;
  }
}

/** Admits `jobs` and returns once every one is persisted and all slots hold a ComfyUI prompt. */
async function fillAndStop(app: ChorusVisualApp, jobs: number): Promise<{ withPrompt: number }> {
  const lastState = new Map<string, string>();
  const off = app.runtime.service.on('transition', (notice) => lastState.set(notice.jobId, notice.job.state));
  const slots = backends * maxConcurrentPerBackend;
  const withPrompt = () => [...lastState.values()].filter((s) => s === 'submitted' || s === 'processing').length;
  const allSent = new Promise<void>((resolve) => {
    const check = () => withPrompt() >= Math.min(slots, jobs) && resolve();
    app.runtime.service.on('transition', check);
  });
  for (let i = 0; i < jobs; i++) await app.runtime.service.generate(benchJob(i));
  await allSent;
  off();
  const count = withPrompt();
  await app.stop();
  return { withPrompt: count };
}

export async function runRecoveryBench(options: RecoveryBenchOptions = {}): Promise<BenchResult> {
  const jobs = options.jobs ?? 1_000;
  const sims = await startSimulators(backends, { stepDelayMs: 0, nodeDelayMs: 0, previews: false });
  // Prompts that outlive the benchmark: the restored jobs find them queued or running.
  for (const sim of sims) sim.faults.executionDelayMs(600_000);
  const dir = await createBenchDir('recovery');
  const names = uniqueRunNames('recovery');
  const nc = await connectBenchNats();
  const config = benchConfig({
    dir: dir.path,
    backends: sims.map((sim) => ({ url: sim.url, outputDir: sim.outputDir })),
    names,
    maxConcurrent: maxConcurrentPerBackend,
    maxQueueSize: jobs + 10,
  });
  let restarted: ChorusVisualApp | undefined;
  const clients: ReconcileCountingClient[] = [];
  try {
    const { withPrompt } = await fillAndStop(await startApp({ config, bus: 'nats', http: false, waitForNats: true }), jobs);

    let located = 0;
    let reconciledAt = Number.NaN;
    const allReconciled = new Promise<void>((resolve) => {
      const onLocated = () => {
        if (++located === withPrompt) {
          reconciledAt = nowMs();
          resolve();
        }
      };
      for (const backendConfig of config.resolvedBackends) {
        clients.push(
          new ReconcileCountingClient(
            backendConfig,
            { pollInitialMs: config.comfyui.polling.initial_interval_seconds * 1000, pollMaxMs: config.comfyui.polling.max_interval_seconds * 1000 },
            onLocated,
          ),
        );
      }
    });
    const startedAt = nowMs();
    await Promise.all(clients.map((client) => client.start()));
    restarted = await startApp({ config, bus: 'nats', http: false, waitForNats: true, runtime: { backends: clients } });
    const restoredAt = nowMs();
    const restored = restarted.runtime.restored;
    await Promise.race([allReconciled, new Promise((resolve) => setTimeout(resolve, 60_000))]);
    const totalMs = reconciledAt - startedAt;
    const executions = sims.reduce((total, sim) => total + sim.stats().totalExecutions, 0);
    const submissions = sims.reduce((total, sim) => total + sim.stats().submissions, 0);
    return {
      name: 'recovery',
      setup: { jobs, backends, max_concurrent_per_backend: maxConcurrentPerBackend, jobs_with_comfy_prompt: withPrompt },
      rows: [
        {
          restored,
          reconciled: located,
          restored_ms: restoredAt - startedAt,
          restored_and_reconciled_ms: totalMs,
          comfy_submissions: submissions,
          comfy_executions_started: executions,
        },
      ],
      target: {
        description: 'all restored and reconciled in < 2 s',
        met: restored === jobs && located === withPrompt && totalMs < 2_000 && submissions === withPrompt,
      },
      notes: [
        'clock starts before the backend clients connect; includes NATS connect, SQLite open, restore() of every actor and one /queue (+ /history) look per job with a prompt',
        'comfy_submissions == jobs_with_comfy_prompt shows nothing was sent twice across the restart',
      ],
    };
  } finally {
    await restarted?.stop();
    await Promise.all(clients.map((client) => client.close()));
    await deleteRunStream(nc, names);
    await nc.close();
    await Promise.all(sims.map((sim) => sim.close()));
    await dir.remove();
  }
}
