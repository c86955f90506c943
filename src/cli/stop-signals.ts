/**
 * SIGTERM and SIGINT over the whole life of `serve`, its start included. The first asks to
 * stop: it aborts `signal` (a start under way undoes what it started) and settles `requested`.
 * Any later one while stopping is the operator insisting: it exits at once with the stop's exit
 * code. The database is consistent at every commit, so leaving then loses nothing that a
 * restart does not recover.
 */
import type { Logger } from '../logging/logger.js';

type StopSignal = 'SIGTERM' | 'SIGINT';

export interface StopSignalsOptions {
  logger: Logger;
  /** What a signal arrives on (tests pass an EventEmitter); default `process`. */
  source?: Pick<NodeJS.EventEmitter, 'on' | 'off'>;
  /** Default `process.exit`. */
  exit?: (code: number) => void;
}

export class StopSignals {
  readonly requested: Promise<StopSignal>;
  private readonly controller = new AbortController();
  private readonly logger: Logger;
  private readonly source: Pick<NodeJS.EventEmitter, 'on' | 'off'>;
  private readonly exit: (code: number) => void;
  private first: StopSignal | undefined;
  /** Set once this run is stopping: what a further signal exits with. */
  private exitCode: number | undefined;
  private started = false;
  private resolveRequested!: (signal: StopSignal) => void;
  private readonly onSignal = (received: StopSignal): void => this.receive(received);

  constructor(options: StopSignalsOptions) {
    this.logger = options.logger;
    this.source = options.source ?? process;
    this.exit = options.exit ?? ((code) => process.exit(code));
    this.requested = new Promise((resolve) => (this.resolveRequested = resolve));
    this.source.on('SIGTERM', this.onSignal);
    this.source.on('SIGINT', this.onSignal);
  }

  /** Aborted by the first signal. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The start is over: a first signal from now on is a plain stop. */
  markStarted(): void {
    this.started = true;
  }

  isStarted(): boolean {
    return this.started;
  }

  /** This run stops for a reason of its own (it lost its instance id): a signal now forces exit `code`. */
  stopping(code: number): void {
    this.exitCode = code;
  }

  dispose(): void {
    this.source.off('SIGTERM', this.onSignal);
    this.source.off('SIGINT', this.onSignal);
  }

  private receive(received: StopSignal): void {
    if (this.exitCode !== undefined) {
      // Stopping already: after a first signal, or for a reason of its own (stopping()).
      if (this.first === undefined) this.logger.warn({ signal: received }, 'signal while stopping (this run lost its instance id); exiting now');
      else this.logger.warn({ signal: received, first: this.first }, 'second signal while stopping; exiting now');
      this.exit(this.exitCode);
      return;
    }
    this.first = received;
    this.exitCode = 0;
    if (this.started) this.logger.info({ signal: received }, 'shutting down');
    else this.logger.warn({ signal: received }, 'startup interrupted; stopping what was started');
    this.controller.abort(new StartInterrupted(received));
    this.resolveRequested(received);
  }
}

/** The reason a start under way is given when a signal stops it: not a failure to report. */
export class StartInterrupted extends Error {
  constructor(readonly signal: StopSignal) {
    super(`startup interrupted by ${signal}`);
    this.name = 'AbortError';
  }
}
