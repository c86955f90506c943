/**
 * Listeners (HTTP, NATS commands) are up before the unfinished jobs are restored, so a start
 * that fails on a listener has touched no job. Commands that would move a job — generate,
 * regenerate, cancel — wait at this gate until restore is done: a cancel for a job not yet restored would
 * find no actor, and a generate racing the restore could be adopted twice. Reads pass.
 */
import { ChorusError, ErrorCode } from '../errors/index.js';
import type { JobCommandHandler } from '../commands/index.js';

export class DrivingGate {
  private open!: () => void;
  private fail!: (error: Error) => void;
  private readonly ready: Promise<void>;

  constructor() {
    this.ready = new Promise<void>((resolve, reject) => {
      this.open = resolve;
      this.fail = reject;
    });
    // Nobody may be waiting when a start fails; that must not be an unhandled rejection.
    this.ready.catch(() => undefined);
  }

  /** Jobs are restored: let generate and cancel through. */
  opened(): void {
    this.open();
  }

  /** The start failed or the service stops before driving: waiting commands get this error. */
  closed(): void {
    this.fail(new ChorusError(ErrorCode.COMFY_UNAVAILABLE, 'chorus-visual did not finish starting; send the command again', { recoverable: true }));
  }

  guard(handler: JobCommandHandler): JobCommandHandler {
    return {
      generate: async (cmd) => {
        await this.ready;
        return handler.generate(cmd);
      },
      regenerate: async (cmd) => {
        await this.ready;
        return handler.regenerate(cmd);
      },
      cancel: async (jobId) => {
        await this.ready;
        return handler.cancel(jobId);
      },
      get: (jobId, opts) => handler.get(jobId, opts),
      list: (cmd) => handler.list(cmd),
      workflows: () => handler.workflows(),
      validate: (cmd) => handler.validate(cmd),
    };
  }
}
