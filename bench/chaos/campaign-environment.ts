/**
 * Everything a campaign runs against, all private to it: temp folders, a data folder on its
 * own small tmpfs, a database beside it (by default not on the full disk: the disk fault is
 * about output files; `databaseOnDataDisk` puts it there too), the simulator in this process (so its counters survive its restarts),
 * a nats-server on a free port with JetStream on disk, and the service's config file.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startSimulator, type SimulatorHandle } from '../../src/simulator/index.js';
import { NatsTestServer } from '../../test/support/nats-server.js';
import { DataDiskFiller } from './disk-filler.js';

export interface EnvironmentOptions {
  tmpfsMb: number;
  /** Added to every simulated execution, so kills land mid-run. */
  executionDelayMs: number;
  prefix: string;
  streamName: string;
  /** Put the SQLite file on the tmpfs too, so a full disk also hits the database. */
  databaseOnDataDisk?: boolean;
  /** Inject full-disk faults (default true; without a tmpfs the campaign then fails). */
  diskFull?: boolean;
}

export interface CampaignEnvironment {
  root: string;
  dataDir: string;
  databasePath: string;
  configPath: string;
  simulator: SimulatorHandle;
  nats: NatsTestServer;
  disk: DataDiskFiller;
  close(): Promise<void>;
}

export async function createEnvironment(options: EnvironmentOptions): Promise<CampaignEnvironment> {
  const root = await mkdtemp(join(tmpdir(), 'chorus-chaos-'));
  const dataDir = join(root, 'data');
  const dbDir = join(root, 'db');
  await mkdir(dataDir);
  await mkdir(dbDir);
  const closers: Array<() => Promise<void>> = [() => rm(root, { recursive: true, force: true })];
  const close = async (): Promise<void> => {
    for (const closer of closers.splice(0).reverse()) await closer().catch(() => undefined);
  };
  try {
    const disk = options.diskFull === false ? DataDiskFiller.skipped(dataDir) : await DataDiskFiller.mount(dataDir, options.tmpfsMb);
    closers.push(() => disk.unmount());
    const simulator = await startSimulator({ outputDir: join(root, 'comfy', 'output'), stepDelayMs: 5, nodeDelayMs: 1, previews: false });
    simulator.faults.executionDelayMs(options.executionDelayMs);
    closers.push(() => simulator.close());
    const nats = await NatsTestServer.start();
    closers.push(() => nats.cleanup());
    const databasePath = join(options.databaseOnDataDisk ? dataDir : dbDir, 'chorus-visual.db');
    const configPath = join(root, 'chorus-visual.yaml');
    await writeFile(configPath, stringify(serviceConfig({ ...options, dataDir, databasePath, simulator, nats })));
    return { root, dataDir, databasePath, configPath, simulator, nats, disk, close };
  } catch (error) {
    await close();
    throw error;
  }
}

function serviceConfig(
  o: EnvironmentOptions & { dataDir: string; databasePath: string; simulator: SimulatorHandle; nats: NatsTestServer },
): Record<string, unknown> {
  return {
    comfyui: {
      timeout_seconds: 60,
      queue_wait_timeout_seconds: 600,
      max_resubmits: 2,
      // Fallback polling a little tighter than the default so a campaign settles quickly;
      // the socket path is what normally reports completion.
      polling: { initial_interval_seconds: 0.5, max_interval_seconds: 2 },
      queue: { max_concurrent_jobs: 2, max_queue_size: 100_000 },
      file_management: { output_directory: o.simulator.outputDir, move_files: true, cleanup_comfy_outputs: true, mode: 'move' },
      backends: [
        {
          name: 'sim',
          url: o.simulator.url,
          max_concurrent: 2,
          output_directory: o.simulator.outputDir,
          request_timeout_ms: 5_000,
          // Short heartbeats: a silently dropped socket is noticed in about a second.
          heartbeat_interval_ms: 500,
          heartbeat_timeout_ms: 1_500,
        },
      ],
    },
    data_dir: o.dataDir,
    database: { url: `sqlite:${o.databasePath}` },
    nats: { servers: [o.nats.url], subject_prefix: o.prefix, stream: { name: o.streamName } },
    http: { host: '127.0.0.1', port: 0 },
    instance_id: 'chaos',
    log_level: 'info',
  };
}
