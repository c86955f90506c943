/**
 * The service under test as a real `chorus-visual serve` process: started, SIGKILLed at any
 * instant and started again on the same config (so the same database), as a crash and a
 * supervisor (systemd, docker) would do it.
 */
import { z } from 'zod';
import { startServiceProcess, type ServiceProcess } from '../../test/support/service-process.js';

/** Spawn to exit of a refused rival; a loaded machine needs seconds just to load the code. */
const RIVAL_WITHIN_MS = 30_000;

export type RivalOutcome = { refused: true } | { refused: false; reason: string };

const listeningLineSchema = z.looseObject({ msg: z.literal('chorus-visual listening'), http: z.string() });

export class ServiceSupervisor {
  private current: ServiceProcess | undefined;
  private url: string | undefined;
  starts = 0;
  kills = 0;
  /** Milliseconds from spawn to "listening", per start. */
  readonly startMs: number[] = [];
  /** Error-level log lines (pino level ≥ 50) of every process that ended. */
  readonly errorLines: string[] = [];

  constructor(private readonly configPath: string) {}

  /** The HTTP base URL of the running process, or undefined while it is down. */
  get httpUrl(): string | undefined {
    return this.url;
  }

  get running(): boolean {
    return this.current !== undefined;
  }

  async start(): Promise<void> {
    if (this.current) return;
    const child = startServiceProcess(['serve', '--config', this.configPath], { LOG_LEVEL: 'info' });
    this.current = child;
    this.starts++;
    const spawnedAt = Date.now();
    try {
      const line = await child.waitForLine(/"msg":"chorus-visual listening"/, 30_000);
      this.url = listeningLineSchema.parse(JSON.parse(line)).http;
      this.startMs.push(Date.now() - spawnedAt);
    } catch (error) {
      this.current = undefined;
      await child.kill('SIGKILL');
      throw error;
    }
  }

  /** SIGKILL: no shutdown code runs, exactly like a power cut for this process. */
  async kill(): Promise<void> {
    const child = this.current;
    if (!child) return;
    this.current = undefined;
    this.url = undefined;
    this.kills++;
    await child.kill('SIGKILL');
    this.keepErrors(child);
  }

  /** SIGTERM and wait: the clean stop that drains the outbox. */
  async stop(): Promise<void> {
    const child = this.current;
    if (!child) return;
    this.current = undefined;
    this.url = undefined;
    const exited = child.kill('SIGTERM');
    const timer = setTimeout(() => child.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    this.keepErrors(child);
  }

  /**
   * Starts a second `serve` on the same config (so the same database) while this one runs:
   * it must exit non-zero at once with STORE_LOCKED naming the running process. Anything
   * else — it starts listening, exits another way, or hangs — is a second driver or a hang.
   */
  async startRival(): Promise<RivalOutcome> {
    const holderPid = this.current?.child.pid;
    const rival = startServiceProcess(['serve', '--config', this.configPath, '--instance-id', 'chaos-rival'], { LOG_LEVEL: 'info' });
    const outcome = await Promise.race([
      rival.exited.then((code) => ({ kind: 'exited' as const, code })),
      rival.waitForLine(/"msg":"chorus-visual listening"/, RIVAL_WITHIN_MS).then(
        () => ({ kind: 'listening' as const }),
        () => ({ kind: 'hung' as const }),
      ),
    ]);
    await rival.kill('SIGKILL');
    if (outcome.kind !== 'exited') return { refused: false, reason: outcome.kind };
    const line = rival.lines.find((l) => l.includes('"msg":"chorus-visual did not start"'));
    const error = line ? (JSON.parse(line) as { error?: { code?: string; details?: { holder?: { pid?: number } } } }).error : undefined;
    const refused = outcome.code === 1 && error?.code === 'STORE_LOCKED' && error.details?.holder?.pid === holderPid;
    return refused
      ? { refused: true }
      : {
          refused: false,
          reason: `exit ${outcome.code}, ${error?.code ?? 'no error line'}, holder pid ${error?.details?.holder?.pid} (running: ${holderPid})`,
        };
  }

  private keepErrors(child: ServiceProcess): void {
    for (const line of child.lines) if (/"level":(5|6)\d/.test(line)) this.errorLines.push(line);
  }
}
