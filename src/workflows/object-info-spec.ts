/**
 * Reading ComfyUI's `/object_info`: which inputs a class has, of what type, which values a
 * combo allows, what it outputs. Both combo spellings are understood: classic
 * `[[options…], {config}]` and V3 `["COMBO", {options: […]}]`.
 */
import { z } from 'zod';

const inputSpecSchema = z.array(z.unknown());
export const nodeInfoSchema = z.looseObject({
  input: z
    .looseObject({
      required: z.record(z.string(), inputSpecSchema).optional(),
      optional: z.record(z.string(), inputSpecSchema).optional(),
    })
    .optional(),
  input_order: z.looseObject({ required: z.array(z.string()).optional(), optional: z.array(z.string()).optional() }).optional(),
  output: z.array(z.union([z.string(), z.array(z.unknown())])).optional(),
  output_node: z.boolean().optional(),
});
export const objectInfoSchema = z.record(z.string(), nodeInfoSchema);
export type NodeInfo = z.infer<typeof nodeInfoSchema>;
export type ObjectInfo = z.infer<typeof objectInfoSchema>;

export interface InputSpec {
  name: string;
  required: boolean;
  /** `INT`, `FLOAT`, `STRING`, `BOOLEAN`, `COMBO`, or a link type such as `MODEL` or `*`. */
  type: string;
  options: unknown[] | null;
  config: Record<string, unknown>;
}

const widgetTypes = new Set(['INT', 'FLOAT', 'STRING', 'BOOLEAN', 'COMBO']);

export function isWidget(spec: InputSpec): boolean {
  return widgetTypes.has(spec.type);
}

function toSpec(name: string, raw: unknown[], required: boolean): InputSpec {
  const head = raw[0];
  const config = (raw[1] && typeof raw[1] === 'object' ? raw[1] : {}) as Record<string, unknown>;
  if (Array.isArray(head)) return { name, required, type: 'COMBO', options: head, config };
  if (head === 'COMBO') return { name, required, type: 'COMBO', options: Array.isArray(config.options) ? config.options : [], config };
  return { name, required, type: typeof head === 'string' ? head : '*', options: null, config };
}

/** Inputs in ComfyUI's declared order (input_order when present): required, then optional. */
export function inputSpecs(info: NodeInfo): InputSpec[] {
  const specs: InputSpec[] = [];
  for (const required of [true, false]) {
    const group = required ? info.input?.required : info.input?.optional;
    if (!group) continue;
    const order = (required ? info.input_order?.required : info.input_order?.optional) ?? Object.keys(group);
    for (const name of order) {
      const raw = group[name];
      if (raw) specs.push(toSpec(name, raw, required));
    }
  }
  return specs;
}

export function outputTypes(info: NodeInfo): string[] {
  return (info.output ?? []).map((o) => (typeof o === 'string' ? o : 'COMBO'));
}

/** ComfyUI's own rule: `*` matches anything, and `A,B` lists accepted types. */
export function typesCompatible(received: string, expected: string): boolean {
  if (received === '*' || expected === '*') return true;
  const want = new Set(expected.split(','));
  return received.split(',').some((t) => want.has(t));
}
