/**
 * The real job runtime wired the way the service wires it — SQLite JobStore, ComfyUI
 * backend pool against the simulator, workflow library, characters, template prompts,
 * output collector, JobService — with the HTTP server in front. For the browser test.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { jobMachine } from '../../machines/job.js';
import { createJobCommands } from '../../src/app/job-commands.js';
import { CharacterRegistry } from '../../src/characters/index.js';
import { BackendPool, ComfyBackendClient } from '../../src/comfy/index.js';
import { parseServiceConfig } from '../../src/config/index.js';
import { createJobStore } from '../../src/db/index.js';
import { OutputCollector, thumbnailSettingsFrom } from '../../src/files/index.js';
import { createHealthSources, jobFeedFromJobService, startHttpServer, type RunningHttpServer } from '../../src/http/index.js';
import { JobService } from '../../src/jobs/job-service.js';
import type { Logger } from '../../src/logging/logger.js';
import { VisualPromptComposer } from '../../src/prompts/index.js';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { WorkflowLibrary } from '../../src/workflows/index.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface RealRuntime {
  http: RunningHttpServer;
  service: JobService;
  simulator: SimulatorHandle;
  dataDir: string;
  close(): Promise<void>;
}

export async function startRealRuntime(
  options: { token?: string; stepDelayMs?: number; logger?: Logger; gpuHandoff?: (simulatorUrl: string) => Record<string, unknown> } = {},
): Promise<RealRuntime> {
  const root = await mkdtemp(path.join(tmpdir(), 'chorus-e2e-'));
  const dataDir = path.join(root, 'data');
  const simulator = await startSimulator({ port: 0, outputDir: path.join(root, 'comfy', 'output'), stepDelayMs: options.stepDelayMs ?? 150 });
  const config = parseServiceConfig({
    comfyui: {
      backends: [
        {
          name: 'sim',
          url: simulator.url,
          max_concurrent: 2,
          output_directory: simulator.outputDir,
          ...(options.gpuHandoff ? { gpu_handoff: options.gpuHandoff(simulator.url) } : {}),
        },
      ],
      file_management: { mode: 'move', output_directory: simulator.outputDir },
    },
    data_dir: dataDir,
    workflows_dir: path.join(repoRoot, 'workflows'),
    characters_dir: path.join(repoRoot, 'config', 'characters'),
    database: { url: `sqlite:${path.join(root, 'chorus-visual.db')}` },
    nats: { enabled: false },
    instance_id: 'e2e',
  });
  const store = await createJobStore(config.database.url);
  const backends = config.resolvedBackends.map((b) => new ComfyBackendClient(b, { pollInitialMs: 500 }));
  await Promise.all(backends.map((b) => b.start()));
  const pool = new BackendPool(backends);
  const workflows = await WorkflowLibrary.load(config.workflows_dir);
  const characters = await CharacterRegistry.load(config.characters_dir, workflows);
  const service = new JobService({
    store,
    pool,
    workflows,
    characters,
    composer: new VisualPromptComposer(undefined),
    collector: new OutputCollector({ dataDir, thumbnails: thumbnailSettingsFrom(config.thumbnails) }),
    config,
  });
  const http = await startHttpServer({
    port: 0,
    ...(options.token === undefined ? {} : { token: options.token }),
    handler: createJobCommands(service, workflows, pool),
    feed: jobFeedFromJobService(service),
    health: createHealthSources({ store, pool, inUse: (name) => service.scheduler.inUse(name), instanceId: 'e2e' }),
    dataDir,
    machineDefinition: jobMachine,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  return {
    http,
    service,
    simulator,
    dataDir,
    async close() {
      await http.close();
      await service.stop();
      await Promise.all(backends.map((b) => b.close()));
      await store.close();
      await simulator.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}
