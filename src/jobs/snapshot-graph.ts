/**
 * What the persisted snapshot leaves out, because every transition rewrites it: the composed
 * ComfyUI graph lives in its own column, written once (`comfy_graph`), and the composition's
 * debug facts are already merged into the `debug` column (job-row-patch.ts). These functions
 * take both out of a snapshot before it is stored — from the context and from the input of a
 * running `submitPrompt` (which carries the graph to POST) — and put the graph back (and an
 * empty debug record, the stored `debug` column keeping the facts) before an actor is restored
 * from one. Nothing is mutated: the live actor's context keeps everything.
 */
interface Composed {
  apiPrompt?: unknown;
  debug?: unknown;
}
interface PersistedChild {
  src?: unknown;
  snapshot?: { input?: { prompt?: unknown } | null } | null;
}
interface PersistedShape {
  context?: { composed?: Composed | null } | null;
  children?: Record<string, PersistedChild> | null;
}

/** The child that POSTs the graph: its input holds the same graph as the context. */
const SUBMIT = 'submitPrompt';

function hasGraph(composed: Composed | null | undefined): composed is Composed {
  return !!composed && (composed.apiPrompt !== undefined || composed.debug !== undefined);
}

function withoutGraph<T extends Composed>(composed: T): Omit<T, 'apiPrompt' | 'debug'> {
  const { apiPrompt: _storedApart, debug: _inTheDebugColumn, ...rest } = composed;
  return rest;
}

/** The snapshot to store: the same, without `context.composed.apiPrompt` and `.debug`, nor a running submit's copy of the graph. */
export function snapshotWithoutGraph(snapshot: unknown): unknown {
  const composed = (snapshot as PersistedShape | null)?.context?.composed;
  if (!hasGraph(composed)) return snapshot;
  const shape = snapshot as PersistedShape & { context: object };
  return withoutChildGraph({ ...shape, context: { ...shape.context, composed: withoutGraph(composed) } }, composed.apiPrompt);
}

/**
 * The snapshot to store for a live machine snapshot, persisted by `persist` (xstate's
 * `getPersistedSnapshot`) from a copy whose context has no graph: xstate walks the whole
 * context looking for actor references on every transition, and the graph is the largest
 * part of it. Equal to `snapshotWithoutGraph(persist(snapshot))`.
 */
export function persistWithoutGraph<S extends { context: { composed?: Composed | null } }>(snapshot: S, persist: (snapshot: S) => unknown): unknown {
  const composed = snapshot.context.composed;
  if (!hasGraph(composed)) return persist(snapshot);
  const persisted = persist({ ...snapshot, context: { ...snapshot.context, composed: withoutGraph(composed) } });
  return withoutChildGraph(persisted as PersistedShape, composed.apiPrompt);
}

function withoutChildGraph(persisted: PersistedShape, graph: unknown): PersistedShape {
  const children = persisted.children;
  if (!children || graph === undefined) return persisted;
  let copy: Record<string, PersistedChild> | undefined;
  for (const id in children) {
    const child = children[id] as PersistedChild;
    const input = child.snapshot?.input;
    if (child.src !== SUBMIT || !input || input.prompt !== graph) continue;
    const { prompt: _storedApart, ...rest } = input;
    copy ??= { ...children };
    copy[id] = { ...child, snapshot: { ...child.snapshot, input: rest } };
  }
  return copy ? { ...persisted, children: copy } : persisted;
}

/** The snapshot to restore from: the stored one with its graph back (a snapshot that kept its own graph keeps it). */
export function snapshotWithGraph(snapshot: unknown, graph: Record<string, unknown> | null | undefined): unknown {
  const composed = (snapshot as PersistedShape | null)?.context?.composed;
  if (!composed) return snapshot;
  const apiPrompt = composed.apiPrompt ?? graph;
  if (apiPrompt === undefined || apiPrompt === null) return snapshot;
  const shape = snapshot as PersistedShape & { context: object };
  const restored: PersistedShape = { ...shape, context: { ...shape.context, composed: { ...composed, apiPrompt, debug: composed.debug ?? {} } } };
  const children = shape.children;
  if (!children) return restored;
  let copy: Record<string, PersistedChild> | undefined;
  for (const id in children) {
    const child = children[id] as PersistedChild;
    const input = child.snapshot?.input;
    if (child.src !== SUBMIT || !input || input.prompt !== undefined) continue;
    copy ??= { ...children };
    copy[id] = { ...child, snapshot: { ...child.snapshot, input: { ...input, prompt: apiPrompt } } };
  }
  return copy ? { ...restored, children: copy } : restored;
}
