/**
 * The stop sequence the job runtime, the app and the demo stop their parts with: in the order
 * given, each after the one before has settled, every one even when an earlier one fails, and
 * the failures handed back (or thrown) rather than lost or put in place of the error that matters.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ChorusError, ErrorCode } from '../../src/errors/index.js';
import { runStopSequence, runThenStop, throwStopFailures, type StopFailure, type StopStep } from '../../src/app/stop-sequence.js';

describe('runStopSequence', () => {
  it('runs the steps in the order given, each once the one before has settled', async () => {
    const log: string[] = [];
    const steps: StopStep[] = [
      {
        part: 'http',
        stop: async () => {
          log.push('http begins');
          await nextTurn();
          log.push('http ends');
        },
      },
      { part: 'store', stop: () => log.push('store') },
    ];
    expect(await runStopSequence(steps)).toEqual([]);
    expect(log).toEqual(['http begins', 'http ends', 'store']);
  });

  it('runs every step when earlier ones throw or reject, and returns their failures in order', async () => {
    const ran: string[] = [];
    const rejected = new ChorusError(ErrorCode.STORAGE_UNAVAILABLE, 'the pool would not close');
    const thrown = new Error('the library threw');
    const failures = await runStopSequence([
      { part: 'collector', stop: () => ran.push('collector') },
      {
        part: 'pool',
        stop: async () => {
          ran.push('pool');
          await nextTurn();
          throw rejected;
        },
      },
      {
        part: 'library',
        stop: () => {
          ran.push('library');
          throw thrown;
        },
      },
      { part: 'database store', stop: async () => void ran.push('database store') },
    ]);
    expect(ran).toEqual(['collector', 'pool', 'library', 'database store']);
    expect(failures).toEqual([
      { part: 'pool', error: rejected },
      { part: 'library', error: thrown },
    ]);
    expect(failures[0]!.error).toBe(rejected);
  });
});

describe('throwStopFailures', () => {
  it('throws nothing when every part stopped', () => {
    expect(() => throwStopFailures([], 'stopping')).not.toThrow();
  });

  it('throws a single failure as it was thrown, its code intact', () => {
    const error = new ChorusError(ErrorCode.STORAGE_UNAVAILABLE, 'disk full');
    let caught: unknown;
    try {
      throwStopFailures([{ part: 'database store', error }], 'stopping the job runtime');
    } catch (thrown) {
      caught = thrown;
    }
    expect(caught).toBe(error);
  });

  it('throws several as one AggregateError that names each part and keeps the originals', () => {
    const first = new Error('socket hung');
    const second = 'not even an Error';
    let caught: unknown;
    try {
      throwStopFailures(
        [
          { part: 'http', error: first },
          { part: 'database store', error: second },
        ],
        'stopping chorus-visual',
      );
    } catch (thrown) {
      caught = thrown;
    }
    expect(caught).toBeInstanceOf(AggregateError);
    const aggregate = caught as AggregateError;
    expect(aggregate.errors).toEqual([first, second]);
    expect(aggregate.message).toBe('stopping chorus-visual: 2 parts failed to stop (http: socket hung; database store: not even an Error)');
  });
});

describe('runThenStop', () => {
  /** The demo's shape: an app then the simulator, the app's stop failing. */
  function demoParts(ran: string[], appStopError: unknown): StopStep[] {
    return [
      {
        part: 'the app',
        stop: async () => {
          ran.push('the app');
          throw appStopError;
        },
      },
      { part: 'the ComfyUI simulator', stop: async () => void ran.push('the ComfyUI simulator') },
    ];
  }

  it("keeps the work's failure when a stop fails after it, stops every part, and hands the stop failure over", async () => {
    const ran: string[] = [];
    const workFailure = new ChorusError(ErrorCode.CONFIG_INVALID, 'cannot listen on 127.0.0.1:8080: EADDRINUSE');
    const appStopError = new Error('the database would not close');
    const noted: StopFailure[] = [];
    const outcome = runThenStop(
      async () => {
        ran.push('work');
        throw workFailure;
      },
      demoParts(ran, appStopError),
      'stopping the demo',
      (failure) => noted.push(failure),
    );
    await expect(outcome).rejects.toBe(workFailure);
    expect(ran).toEqual(['work', 'the app', 'the ComfyUI simulator']);
    expect(noted).toEqual([{ part: 'the app', error: appStopError }]);
  });

  it('returns what the work returned once every part stopped', async () => {
    const ran: string[] = [];
    const parts: StopStep[] = [{ part: 'the ComfyUI simulator', stop: () => void ran.push('the ComfyUI simulator') }];
    await expect(
      runThenStop(
        async () => 0,
        parts,
        'stopping the demo',
        () => undefined,
      ),
    ).resolves.toBe(0);
    expect(ran).toEqual(['the ComfyUI simulator']);
  });

  it('throws a stop failure when the work succeeded, after stopping the parts after it', async () => {
    const ran: string[] = [];
    const appStopError = new Error('the database would not close');
    const noted: StopFailure[] = [];
    await expect(
      runThenStop(
        async () => 0,
        demoParts(ran, appStopError),
        'stopping the demo',
        (failure) => noted.push(failure),
      ),
    ).rejects.toBe(appStopError);
    expect(ran).toEqual(['the app', 'the ComfyUI simulator']);
    expect(noted).toEqual([]);
  });
});
