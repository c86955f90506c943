/**
 * What the persisted snapshot leaves out, because every transition rewrites it: the composed
 * ComfyUI graph lives in its own column, written once (`comfy_graph`), and the composition's
 * debug facts are already merged into the `debug` column (job-row-patch.ts). These functions
 * take both out of a snapshot before it is stored and put the graph back (and an empty debug
 * record, the stored `debug` column keeping the facts) before an actor is restored from one.
 * Nothing is mutated: the live actor's context keeps everything.
 */
interface PersistedShape {
  context?: { composed?: { apiPrompt?: unknown; debug?: unknown } | null } | null;
}

/** The snapshot to store: the same, without `context.composed.apiPrompt` and `.debug`. */
export function snapshotWithoutGraph(snapshot: unknown): unknown {
  const composed = (snapshot as PersistedShape | null)?.context?.composed;
  if (!composed || (composed.apiPrompt === undefined && composed.debug === undefined)) return snapshot;
  const { apiPrompt: _storedApart, debug: _inTheDebugColumn, ...rest } = composed;
  const shape = snapshot as PersistedShape & { context: object };
  return { ...shape, context: { ...shape.context, composed: rest } };
}

/** The snapshot to restore from: the stored one with its graph back (a snapshot that kept its own graph keeps it). */
export function snapshotWithGraph(snapshot: unknown, graph: Record<string, unknown> | null | undefined): unknown {
  const composed = (snapshot as PersistedShape | null)?.context?.composed;
  if (!composed) return snapshot;
  const apiPrompt = composed.apiPrompt ?? graph;
  if (apiPrompt === undefined || apiPrompt === null) return snapshot;
  const shape = snapshot as PersistedShape & { context: object };
  return { ...shape, context: { ...shape.context, composed: { ...composed, apiPrompt, debug: composed.debug ?? {} } } };
}
