/**
 * The stop sequence the job runtime and the app stop their parts with: in the order given,
 * each after the one before has settled, every one even when an earlier one fails, and the
 * failures handed back (or thrown) rather than lost or put in place of the error that matters.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ChorusError, ErrorCode } from '../../src/errors/index.js';
import { runStopSequence, throwStopFailures, type StopStep } from '../../src/app/stop-sequence.js';

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
