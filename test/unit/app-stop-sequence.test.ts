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

  /** What throwStopFailures threw, or undefined. */
  function thrownBy(failures: StopFailure[], what: string): unknown {
    try {
      throwStopFailures(failures, what);
    } catch (thrown) {
      return thrown;
    }
    return undefined;
  }

  it("throws several as one ChorusError with the first failure's code, each part named, and the originals as its cause", () => {
    const first = new ChorusError(ErrorCode.STORAGE_UNAVAILABLE, 'disk full', { suggestion: 'free some space' });
    const second = new Error('socket hung');
    const third = 'not even an Error';
    const caught = thrownBy(
      [
        { part: 'database store', error: first },
        { part: 'http', error: second },
        { part: 'driver lock', error: third },
      ],
      'stopping chorus-visual',
    );
    expect(caught).toBeInstanceOf(ChorusError);
    const error = caught as ChorusError;
    expect(error.code).toBe(ErrorCode.STORAGE_UNAVAILABLE);
    expect(error.suggestion).toBe('free some space');
    expect(error.message).toBe('stopping chorus-visual: 3 parts failed to stop (database store: disk full; http: socket hung; driver lock: not even an Error)');
    expect(error.details).toEqual({
      parts: [
        { part: 'database store', code: ErrorCode.STORAGE_UNAVAILABLE, message: 'disk full' },
        { part: 'http', message: 'socket hung' },
        { part: 'driver lock', message: 'not even an Error' },
      ],
    });
    // What crosses a log line or JSON keeps the parts.
    expect(error.toJSON().details).toEqual(error.details);
    expect(error.cause).toBeInstanceOf(AggregateError);
    const originals = (error.cause as AggregateError).errors;
    expect(originals).toHaveLength(3);
    expect(originals[0]).toBe(first);
    expect(originals[1]).toBe(second);
    expect(originals[2]).toBe(third);
  });

  it('is INTERNAL when the first failure is not a ChorusError, even when a later one is', () => {
    const caught = thrownBy(
      [
        { part: 'http', error: new Error('socket hung') },
        { part: 'database store', error: new ChorusError(ErrorCode.STORAGE_UNAVAILABLE, 'disk full') },
      ],
      'stopping chorus-visual',
    );
    expect(caught).toBeInstanceOf(ChorusError);
    expect((caught as ChorusError).code).toBe(ErrorCode.INTERNAL);
    expect((caught as ChorusError).details).toEqual({
      parts: [
        { part: 'http', message: 'socket hung' },
        { part: 'database store', code: ErrorCode.STORAGE_UNAVAILABLE, message: 'disk full' },
      ],
    });
  });

  it('counts the very same error from two parts once, so one cause alone is thrown as it is', () => {
    // The app stops the job service, then the runtime's stop of it returns that same failure.
    const error = new ChorusError(ErrorCode.STORAGE_UNAVAILABLE, 'disk full');
    const caught = thrownBy(
      [
        { part: 'job service', error },
        { part: 'job runtime', error },
      ],
      'stopping chorus-visual',
    );
    expect(caught).toBe(error);
  });

  it('keeps the first part of a repeated error and every distinct one beside it', () => {
    const repeated = new ChorusError(ErrorCode.STORAGE_UNAVAILABLE, 'disk full');
    const other = new Error('socket hung');
    const caught = thrownBy(
      [
        { part: 'job service', error: repeated },
        { part: 'outbox relay', error: other },
        { part: 'job runtime', error: repeated },
      ],
      'stopping chorus-visual',
    );
    expect(caught).toBeInstanceOf(ChorusError);
    const error = caught as ChorusError;
    expect(error.code).toBe(ErrorCode.STORAGE_UNAVAILABLE);
    expect(error.message).toBe('stopping chorus-visual: 2 parts failed to stop (job service: disk full; outbox relay: socket hung)');
    expect((error.cause as AggregateError).errors).toEqual([repeated, other]);
  });

  it('counts two equal strings as two failures: only the same object is one', () => {
    const caught = thrownBy(
      [
        { part: 'http', error: 'timed out' },
        { part: 'nats', error: 'timed out' },
      ],
      'stopping chorus-visual',
    );
    expect(caught).toBeInstanceOf(ChorusError);
    expect((caught as ChorusError).message).toBe('stopping chorus-visual: 2 parts failed to stop (http: timed out; nats: timed out)');
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
