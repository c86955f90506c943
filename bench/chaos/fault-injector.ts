/**
 * Injects the campaign's faults at random moments, one at a time, until told to stop:
 * SIGKILL of the service (restarted on the same database), a second `serve` started on the
 * same database (it must be refused at once), a simulator restart (its queue
 * and history lost), silent socket drops, a NATS server restart (down for a moment, same
 * port and JetStream store) and a full data disk (held for a while, then freed).
 */
import type { SimulatorHandle } from '../../src/simulator/index.js';
import type { NatsTestServer } from '../../test/support/nats-server.js';
import type { DataDiskFiller } from './disk-filler.js';
import { between, sleep } from './seeded-random.js';
import type { ServiceSupervisor } from './service-supervisor.js';

export const faultKinds = ['serviceKill', 'secondServe', 'simulatorRestart', 'socketDrop', 'natsRestart', 'diskFull'] as const;
export type FaultKind = (typeof faultKinds)[number];

export interface FaultTargets {
  service: ServiceSupervisor;
  simulator: SimulatorHandle;
  nats: NatsTestServer;
  disk: DataDiskFiller;
  /** Called just before the simulator restarts: the execution counters cut into epochs. */
  beforeSimulatorRestart(): void;
}

export interface FaultTiming {
  /** Pause between two faults, drawn uniformly. */
  gapMs: [number, number];
  /** How long a killed service stays down before its restart. */
  serviceDownMs: [number, number];
  natsDownMs: [number, number];
  diskFullMs: [number, number];
  /** A kill is drawn only when the service has been up this long (it takes seconds to boot,
   *  and a service that is always booting accepts no jobs to lose). */
  minServiceUpMs: number;
}

export class FaultInjector {
  readonly counts: Record<FaultKind, number> = { serviceKill: 0, secondServe: 0, simulatorRestart: 0, socketDrop: 0, natsRestart: 0, diskFull: 0 };
  readonly errors: string[] = [];
  /** Second `serve` processes that were not refused with STORE_LOCKED (a second driver, or a hang). */
  readonly rivalsNotRefused: string[] = [];
  /** How many of the NATS restarts were SIGKILL (the rest SIGTERM). */
  natsKills = 0;
  private stopped = false;
  private diskHeld: Promise<void> = Promise.resolve();
  /** The killed service's restart, running while other faults continue. */
  private serviceBack: Promise<void> = Promise.resolve();
  private serviceUpSince = Date.now();
  /** The second `serve` under way, if any: one at a time, and no service kill meanwhile. */
  private rival: Promise<unknown> = Promise.resolve();
  private rivalRunning = false;

  constructor(
    private readonly targets: FaultTargets,
    private readonly random: () => number,
    private readonly timing: FaultTiming,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  private bag: FaultKind[] = [];

  /**
   * Draws from a shuffled bag of every kind (refilled when empty), so even a short run
   * injects each kind; a kind not possible right now (a kill while the service boots)
   * stays in the bag for a later draw.
   */
  private draw(): FaultKind {
    if (this.bag.length === 0) this.bag = faultKinds.filter((k) => k !== 'diskFull' || this.targets.disk.available);
    const serviceSettled = this.targets.service.running && Date.now() - this.serviceUpSince >= this.timing.minServiceUpMs;
    // A rival only against a service that holds the lock (it listens), one at a time; no kill
    // while a rival boots, or the rival could become the driver of a dead service's database.
    const serviceListening = this.targets.service.httpUrl !== undefined;
    const allowed = (k: FaultKind) =>
      k === 'serviceKill' ? serviceSettled && !this.rivalRunning : k === 'secondServe' ? serviceListening && !this.rivalRunning : true;
    const possible = this.bag.filter(allowed);
    const pool = possible.length > 0 ? possible : this.bag.filter((k) => k !== 'serviceKill' && k !== 'secondServe');
    const kind = pool.length > 0 ? pool[Math.floor(this.random() * pool.length)]! : 'socketDrop';
    const at = this.bag.indexOf(kind);
    if (at >= 0) this.bag.splice(at, 1);
    return kind;
  }

  /** Runs until `stop()`; each fault fully recovers (or is scheduled to) before the next. */
  async run(): Promise<void> {
    while (!this.stopped) {
      await sleep(between(this.random, ...this.timing.gapMs));
      if (this.stopped) break;
      const kind = this.draw();
      try {
        this.log(`inject ${kind}`);
        await this.inject(kind);
        this.counts[kind]++;
      } catch (error) {
        this.errors.push(`${kind}: ${(error as Error).message.split('\n')[0]}`);
        await this.recover();
      }
    }
    await this.diskHeld;
    await this.serviceBack;
    await this.rival;
  }

  stop(): void {
    this.stopped = true;
  }

  private async inject(kind: FaultKind): Promise<void> {
    const { service, simulator, nats, disk } = this.targets;
    switch (kind) {
      case 'serviceKill': {
        await service.kill();
        this.serviceUpSince = Number.POSITIVE_INFINITY; // no second kill until it is back
        const downMs = between(this.random, ...this.timing.serviceDownMs);
        this.serviceBack = sleep(downMs)
          .then(() => service.start())
          .then(() => {
            this.serviceUpSince = Date.now();
            this.log('service back');
          })
          .catch((error: Error) => {
            this.errors.push(`service restart: ${error.message.split('\n')[0]}`);
          });
        return;
      }
      case 'secondServe': {
        // In the background: loading the code takes seconds, and other faults keep coming.
        this.rivalRunning = true;
        this.rival = service
          .startRival()
          .then((outcome) => {
            if (!outcome.refused) this.rivalsNotRefused.push(outcome.reason);
            this.log(outcome.refused ? 'second serve refused (STORE_LOCKED)' : `second serve NOT refused: ${outcome.reason}`);
          })
          .catch((error: Error) => this.errors.push(`second serve: ${error.message.split('\n')[0]}`))
          .finally(() => (this.rivalRunning = false));
        return;
      }
      case 'simulatorRestart':
        this.targets.beforeSimulatorRestart();
        await simulator.restart();
        return;
      case 'socketDrop':
        simulator.faults.dropSocketsSilently();
        return;
      case 'natsRestart':
        // Half of the time a crash (SIGKILL), half a clean stop.
        if (this.random() < 0.5) {
          this.natsKills++;
          await nats.stop('SIGKILL');
        } else {
          await nats.stop('SIGTERM');
        }
        await sleep(between(this.random, ...this.timing.natsDownMs));
        await nats.restart();
        return;
      case 'diskFull': {
        await this.diskHeld; // one ballast at a time
        await disk.fill();
        const holdMs = between(this.random, ...this.timing.diskFullMs);
        // Held in the background: other faults keep coming while the disk is full.
        this.diskHeld = sleep(holdMs).then(() => disk.release());
        return;
      }
    }
  }

  /** After a fault failed half-way: bring every part back up so the campaign can go on. */
  async recover(): Promise<void> {
    const { service, nats, disk } = this.targets;
    await this.diskHeld;
    await this.serviceBack;
    await this.rival;
    await disk.release().catch(() => undefined);
    if (!nats.running) await nats.restart().catch((e: Error) => this.errors.push(`recover nats: ${e.message.split('\n')[0]}`));
    if (!service.running) await service.start().catch((e: Error) => this.errors.push(`recover service: ${e.message.split('\n')[0]}`));
  }
}
