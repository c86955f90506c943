/**
 * Reads a job actor's snapshot as the table sees it: top-level state (the `status`
 * column), dotted sub-state, and the transition event's type.
 */
import type { StateValue } from 'xstate';
import { transitionName } from '../contracts/event-names.js';
import type { JobState } from '../contracts/job-view.js';

export interface JobPosition {
  state: JobState;
  /** `queued.composing`, `processing.overdue`…; null for states without sub-states. */
  substate: string | null;
}

export function positionOf(value: StateValue): JobPosition {
  if (typeof value === 'string') return { state: value as JobState, substate: null };
  const [top, inner] = Object.entries(value)[0] as [string, StateValue | undefined];
  if (inner === undefined) return { state: top as JobState, substate: null };
  const rest = positionOf(inner);
  return { state: top as JobState, substate: rest.substate === null ? `${top}.${rest.state}` : `${top}.${rest.substate}` };
}

export function samePosition(a: JobPosition, b: JobPosition): boolean {
  return a.state === b.state && a.substate === b.substate;
}

/** The event type of a transition (src/contracts/event-names.ts). The first event of every job is `created`. */
export function transitionType(from: JobPosition, to: JobPosition): string {
  return transitionName(from.substate ?? from.state, to.substate ?? to.state);
}

const occupying = new Set(['queued.freeingLlm', 'queued.submitting', 'submitted', 'processing']);

/** Whether a job in this position holds a scheduler slot (from submission until it leaves ComfyUI). */
export function holdsSlot(position: JobPosition): boolean {
  return occupying.has(position.state) || (position.substate !== null && occupying.has(position.substate));
}

/** Whether the scheduler may have just granted a slot that the machine has not used yet. */
export function mayBeGranted(position: JobPosition): boolean {
  return position.substate === 'queued.waiting';
}
