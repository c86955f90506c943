/**
 * serve's signals (StopSignals) without a process: the first SIGTERM/SIGINT during the start
 * aborts it and says so; after the start it is the plain stop; any further signal while
 * stopping exits at once with the stop's code (0, or 1 for a run that lost its instance id).
 */
import { EventEmitter } from 'node:events';
import { expect, it } from 'vitest';
import { createLogger } from '../../src/logging/logger.js';
import { StartInterrupted, StopSignals } from '../../src/cli/stop-signals.js';

function harness() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => lines.push(JSON.parse(line)) } });
  const source = new EventEmitter();
  const exits: number[] = [];
  const signals = new StopSignals({ logger, source, exit: (code) => exits.push(code) });
  return { lines, source, exits, signals, msgs: () => lines.map((l) => l['msg']) };
}

it('a signal during the start aborts it, says so, and a second one exits 0 at once', async () => {
  const { source, exits, signals, msgs, lines } = harness();
  expect(signals.signal.aborted).toBe(false);
  source.emit('SIGTERM', 'SIGTERM');
  expect(signals.signal.aborted).toBe(true);
  expect(signals.signal.reason).toBeInstanceOf(StartInterrupted);
  expect(await signals.requested).toBe('SIGTERM');
  expect(msgs()).toEqual(['startup interrupted; stopping what was started']);
  expect(exits).toEqual([]);
  source.emit('SIGINT', 'SIGINT');
  expect(exits).toEqual([0]);
  expect(lines[1]).toMatchObject({ msg: 'second signal while stopping; exiting now', signal: 'SIGINT', first: 'SIGTERM' });
  signals.dispose();
});

it('after the start the first signal is the plain stop; a run that lost its id exits 1 on a signal', async () => {
  const started = harness();
  started.signals.markStarted();
  started.source.emit('SIGINT', 'SIGINT');
  expect(await started.signals.requested).toBe('SIGINT');
  expect(started.msgs()).toEqual(['shutting down']);
  started.signals.dispose();
  started.source.emit('SIGINT', 'SIGINT');
  expect(started.exits).toEqual([]);

  const lost = harness();
  lost.signals.markStarted();
  lost.signals.stopping(1);
  lost.source.emit('SIGTERM', 'SIGTERM');
  expect(lost.exits).toEqual([1]);
  expect(lost.lines[0]).toMatchObject({ msg: 'signal while stopping (this run lost its instance id); exiting now', signal: 'SIGTERM' });
  expect(lost.lines[0]).not.toHaveProperty('first');
  expect(lost.signals.signal.aborted).toBe(false);
  lost.signals.dispose();
});
