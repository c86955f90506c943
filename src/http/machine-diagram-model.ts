/**
 * The job machine reduced to what the page draws: the seven top-level states and the
 * transitions between them. Built from the machine's own `toJSON()` when the service
 * passes it (so the drawing follows the code), from the architecture's table otherwise.
 */
import { finalStates, JobState } from '../contracts/job-view.js';

export interface DiagramEdge {
  from: JobState;
  to: JobState;
  /** Events leading along this edge, shortened (`done`, `error`, `after`, `always` for xstate's own). */
  events: string[];
}

export interface MachineDiagram {
  states: JobState[];
  finals: JobState[];
  edges: DiagramEdge[];
  source: 'machine' | 'architecture';
}

const topLevel: JobState[] = Object.values(JobState);

/** The lifecycle table of docs/ARCHITECTURE.md, used when no machine is given. */
const architectureEdges: [JobState, JobState, string][] = [
  ['queued', 'submitted', 'slot granted'],
  ['queued', 'failed', 'error'],
  ['queued', 'cancelled', 'job.cancel'],
  ['submitted', 'processing', 'execution started'],
  ['submitted', 'moving', 'all cached'],
  ['submitted', 'failed', 'rejected'],
  ['submitted', 'cancelled', 'job.cancel'],
  ['processing', 'moving', 'success'],
  ['processing', 'failed', 'error / timeout'],
  ['processing', 'cancelled', 'job.cancel'],
  ['moving', 'completed', 'files safe'],
  ['moving', 'failed', 'move failed'],
];

/** `#job.queued.waiting` (or a state node with that id) → `queued`; anything else → null. */
function topLevelOf(node: unknown): JobState | null {
  const ref = typeof node === 'object' && node !== null ? (node as { id?: unknown }).id : node;
  if (typeof ref !== 'string') return null;
  const parts = ref.replace(/^#/, '').split('.');
  // The first piece is the machine id; the next is the top-level state.
  for (const candidate of [parts[1], parts[0]]) {
    if (candidate && (topLevel as string[]).includes(candidate)) return candidate as JobState;
  }
  return null;
}

function shortEvent(eventType: unknown): string {
  if (typeof eventType !== 'string' || eventType === '') return 'always';
  if (eventType.startsWith('xstate.done.actor')) return 'done';
  if (eventType.startsWith('xstate.error.actor')) return 'error';
  if (eventType.startsWith('xstate.after')) return 'after';
  if (eventType.startsWith('xstate.done.state')) return 'done';
  return eventType;
}

function collectTransitions(node: unknown, into: { source: unknown; target: unknown; eventType: unknown }[], depth = 0): void {
  if (depth > 20 || typeof node !== 'object' || node === null) return;
  const record = node as Record<string, unknown>;
  if (Array.isArray(record['transitions'])) {
    for (const t of record['transitions'] as Record<string, unknown>[]) into.push({ source: t['source'], target: t['target'], eventType: t['eventType'] });
  }
  const always = record['always'];
  if (Array.isArray(always)) {
    for (const t of always as Record<string, unknown>[]) into.push({ source: t['source'], target: t['target'], eventType: '' });
  }
  const states = record['states'];
  if (typeof states === 'object' && states !== null) {
    for (const child of Object.values(states)) collectTransitions(child, into, depth + 1);
  }
}

/** Plain JSON, whether given `machine.toJSON()` (live state nodes inside) or its serialised text. */
function plainJson(value: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(value ?? null)) as unknown;
  } catch {
    return null;
  }
}

interface LiveStateNode {
  id: string;
  transitions?: Map<string, { source: unknown; target?: unknown; eventType: unknown }[]>;
  always?: { source: unknown; target?: unknown }[];
  states?: Record<string, LiveStateNode>;
}

/** The machine object itself: unlike toJSON(), it still has the eventless (`always`) transitions. */
function collectLiveTransitions(node: LiveStateNode, into: { source: unknown; target: unknown; eventType: unknown }[], depth = 0): void {
  if (depth > 20) return;
  for (const list of node.transitions?.values() ?? []) for (const t of list) into.push({ source: t.source, target: t.target, eventType: t.eventType });
  for (const t of node.always ?? []) into.push({ source: t.source, target: t.target, eventType: '' });
  for (const child of Object.values(node.states ?? {})) collectLiveTransitions(child, into, depth + 1);
}

/**
 * Accepts the machine (`jobMachine`, preferred: eventless transitions included), its
 * `toJSON()` or that serialised; anything unrecognisable gives the architecture table.
 */
export function diagramFromMachine(machine: unknown): MachineDiagram {
  const raw: { source: unknown; target: unknown; eventType: unknown }[] = [];
  const root = typeof machine === 'object' && machine !== null ? (machine as { root?: unknown }).root : undefined;
  if (typeof root === 'object' && root !== null && (root as LiveStateNode).transitions instanceof Map) {
    collectLiveTransitions(root as LiveStateNode, raw);
  } else {
    collectTransitions(plainJson(machine), raw);
  }
  const edges = new Map<string, DiagramEdge>();
  for (const t of raw) {
    const from = topLevelOf(t.source);
    const targets = Array.isArray(t.target) ? t.target : [t.target];
    for (const target of targets) {
      const to = topLevelOf(target);
      if (!from || !to || from === to) continue;
      const key = `${from}>${to}`;
      const edge = edges.get(key) ?? { from, to, events: [] };
      const event = shortEvent(t.eventType);
      if (!edge.events.includes(event)) edge.events.push(event);
      edges.set(key, edge);
    }
  }
  if (edges.size === 0) return architectureDiagram();
  return { states: topLevel, finals: [...finalStates], edges: [...edges.values()], source: 'machine' };
}

export function architectureDiagram(): MachineDiagram {
  const edges = new Map<string, DiagramEdge>();
  for (const [from, to, event] of architectureEdges) {
    const edge = edges.get(`${from}>${to}`) ?? { from, to, events: [] };
    edge.events.push(event);
    edges.set(`${from}>${to}`, edge);
  }
  return { states: topLevel, finals: [...finalStates], edges: [...edges.values()], source: 'architecture' };
}
