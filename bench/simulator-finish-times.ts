/**
 * When the simulator ran each prompt: the `execution_start` and `execution_success`
 * timestamps it records in /history (Date.now(); success is stamped at the end of the last
 * node, just before the history entry is stored and `executing {node:null}` is sent). The
 * simulator runs in the benchmark's process, so the clock is the subscriber's clock.
 */
import { z } from 'zod';

const historySchema = z.record(
  z.string(),
  z.looseObject({ status: z.looseObject({ messages: z.array(z.tuple([z.string(), z.looseObject({ timestamp: z.number().optional() })])) }) }),
);

export interface PromptRunTimes {
  startedAt: number;
  finishedAt: number;
}

export async function runTimesOf(simulatorUrl: string): Promise<Map<string, PromptRunTimes>> {
  const response = await fetch(`${simulatorUrl}/history?max_items=100000`);
  const history = historySchema.parse(await response.json());
  const times = new Map<string, PromptRunTimes>();
  for (const [promptId, entry] of Object.entries(history)) {
    const stamp = (type: string) => entry.status.messages.find(([t]) => t === type)?.[1].timestamp;
    const startedAt = stamp('execution_start');
    const finishedAt = stamp('execution_success');
    if (startedAt !== undefined && finishedAt !== undefined) times.set(promptId, { startedAt, finishedAt });
  }
  return times;
}

export async function finishTimesOfAll(simulatorUrls: readonly string[]): Promise<Map<string, number>> {
  const all = new Map<string, number>();
  for (const url of simulatorUrls) for (const [id, run] of await runTimesOf(url)) all.set(id, run.finishedAt);
  return all;
}

/** Share of the window [from, to] during which a simulator was executing one of its prompts. */
export function busyShare(runs: Iterable<PromptRunTimes>, from: number, to: number): number {
  let busy = 0;
  for (const run of runs) busy += Math.max(0, Math.min(run.finishedAt, to) - Math.max(run.startedAt, from));
  return to > from ? busy / (to - from) : Number.NaN;
}
