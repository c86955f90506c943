/**
 * How a job's moves are named, once for the row type the JobService writes and for the
 * NATS subject and CloudEvent type the relay publishes. Positions are dotted
 * (`queued.waiting`, `processing.overdue`); a move that enters a new top-level state (or
 * creates the job) is named by that state, so `…{job}.queued` … `…{job}.completed` is the
 * lifecycle a subscriber filters on; a move inside one state is named by its sub-state's
 * leaf in snake case (`waiting`, `overdue`, `timing_out`, `cancelling`).
 */

export function topLevelOf(position: string): string {
  const dot = position.indexOf('.');
  return dot === -1 ? position : position.slice(0, dot);
}

/** Whether the move from `from` (null: the job was just created) to `to` enters a new top-level state. */
export function entersNewState(from: string | null, to: string): boolean {
  return from === null || topLevelOf(from) !== topLevelOf(to);
}

export function transitionName(from: string | null, to: string): string {
  if (entersNewState(from, to)) return topLevelOf(to);
  const leaf = to.slice(to.lastIndexOf('.') + 1);
  return leaf.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}
