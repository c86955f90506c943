/**
 * The composed ComfyUI graph lives in its own column, written once (`comfy_graph`), not in
 * the persisted snapshot that every transition rewrites: these two functions take it out of
 * a snapshot before it is stored and put it back before an actor is restored from one.
 * Nothing is mutated: the live actor's context keeps its graph.
 */
interface PersistedShape {
  context?: { composed?: { apiPrompt?: unknown } | null } | null;
}

/** The snapshot to store: the same, with `context.composed.apiPrompt` left out. */
export function snapshotWithoutGraph(snapshot: unknown): unknown {
  const composed = (snapshot as PersistedShape | null)?.context?.composed;
  if (!composed || composed.apiPrompt === undefined) return snapshot;
  const { apiPrompt: _storedApart, ...rest } = composed;
  const shape = snapshot as PersistedShape & { context: object };
  return { ...shape, context: { ...shape.context, composed: rest } };
}

/** The snapshot to restore from: the stored one with its graph back (a snapshot that kept its own graph is left as it is). */
export function snapshotWithGraph(snapshot: unknown, graph: Record<string, unknown> | null | undefined): unknown {
  const composed = (snapshot as PersistedShape | null)?.context?.composed;
  if (!composed || graph === null || graph === undefined || composed.apiPrompt !== undefined) return snapshot;
  const shape = snapshot as PersistedShape & { context: object };
  return { ...shape, context: { ...shape.context, composed: { ...composed, apiPrompt: graph } } };
}
