/**
 * A real nats-server for integration tests: started on a free port (the server picks it
 * with `-p -1`, so two test files never race for one), stopped and restarted on the SAME
 * port with the same JetStream store (that is how we simulate a NATS outage), and its
 * temp dir removed at the end. Waits on the server's own "ready" log line, never sleeps.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NatsServerOptions {
  /** JetStream on (default true). Off = a plain core-NATS server, for the fallback path. */
  jetstream?: boolean;
  /** Extra command-line arguments (auth, etc.). */
  args?: string[];
}

const READY_TIMEOUT_MS = 10_000;

export class NatsTestServer {
  private child: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    readonly storeDir: string,
    private readonly options: NatsServerOptions,
  ) {}

  static async start(options: NatsServerOptions = {}): Promise<NatsTestServer> {
    const storeDir = await mkdtemp(join(tmpdir(), 'chorus-nats-'));
    const probe = new NatsTestServer(-1, storeDir, options);
    const port = await probe.spawnServer(-1);
    const server = new NatsTestServer(port, storeDir, options);
    server.child = probe.child;
    return server;
  }

  get url(): string {
    return `nats://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Stops the server (SIGTERM, or SIGKILL for a crash) and waits for it to exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGCONT'); // a frozen server cannot act on SIGTERM
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }

  /** SIGSTOP / SIGCONT: a server that keeps its sockets open and answers nothing. */
  freeze(frozen: boolean): void {
    this.child?.kill(frozen ? 'SIGSTOP' : 'SIGCONT');
  }

  /** Starts again on the same port with the same JetStream store. */
  async restart(): Promise<void> {
    await this.stop();
    await this.spawnServer(this.port);
  }

  /** Stops the server and removes its store dir. */
  async cleanup(): Promise<void> {
    await this.stop();
    await rm(this.storeDir, { recursive: true, force: true });
  }

  private spawnServer(port: number): Promise<number> {
    const args = ['-a', '127.0.0.1', '-p', String(port)];
    if (this.options.jetstream !== false) args.push('-js', '-sd', this.storeDir);
    args.push(...(this.options.args ?? []));
    const child = spawn('nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    return new Promise<number>((resolve, reject) => {
      let log = '';
      let listenPort: number | undefined;
      const fail = (error: Error): void => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(error);
      };
      const timer = setTimeout(() => fail(new Error(`nats-server not ready after ${READY_TIMEOUT_MS} ms:\n${log}`)), READY_TIMEOUT_MS);
      child.once('error', fail);
      child.once('exit', (code) => fail(new Error(`nats-server exited (${code}) before ready:\n${log}`)));
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (chunk: string) => {
        if (log.length < 20_000) log += chunk;
        const listen = /Listening for client connections on [^\s]+:(\d+)/.exec(log);
        if (listen?.[1]) listenPort = Number(listen[1]);
        if (log.includes('Server is ready') && listenPort !== undefined) {
          clearTimeout(timer);
          child.removeAllListeners('exit');
          child.removeListener('error', fail);
          // Keep draining stderr so the pipe never fills and blocks the server.
          child.stderr?.removeAllListeners('data');
          child.stderr?.resume();
          resolve(listenPort);
        }
      });
    });
  }
}
