/**
 * Finds the handler for a class. Classes without one still run: the generic handler passes an
 * input of the wanted type through, or hands out a token carrying the node's scalar inputs
 * (so BasicScheduler's `steps` reaches SamplerCustomAdvanced through SIGMAS).
 */
import { imageNodeHandlers } from './image-node-handlers.js';
import { mediaNodeHandlers } from './media-node-handlers.js';
import { modelNodeHandlers } from './model-node-handlers.js';
import type { NodeCatalog } from './node-catalog.js';
import type { NodeHandler } from './node-run-context.js';

const handlers: Record<string, NodeHandler> = { ...imageNodeHandlers, ...modelNodeHandlers, ...mediaNodeHandlers };

function typeOf(value: unknown): unknown {
  if (typeof value === 'number') return Number.isInteger(value) ? 'INT' : 'FLOAT';
  if (typeof value === 'string') return 'STRING';
  if (typeof value === 'boolean') return 'BOOLEAN';
  return (value as { type?: unknown } | null)?.type;
}

export function handlerFor(catalog: NodeCatalog, classType: string): NodeHandler {
  const known = handlers[classType];
  if (known) return known;
  const returnTypes = catalog.returnTypes(classType);
  return async (ctx) => {
    const values = Object.values(ctx.inputs);
    const params: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(ctx.inputs)) {
      if (typeof value !== 'object' || value === null) params[name] = value;
    }
    const outputs = returnTypes.map((type) => values.find((v) => typeOf(v) === type) ?? { type, params, fingerprint: ctx.signature });
    return { outputs, ui: null };
  };
}
