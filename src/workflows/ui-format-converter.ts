/**
 * ComfyUI's "Save" writes the UI format (`nodes` + `links` arrays, widget values by
 * position); the server only runs the API format. Converting needs `/object_info` to know
 * which widget value belongs to which input, so without a backend the file is refused.
 */
import type { ApiPrompt } from '../comfy/backend-port.js';
import { ChorusError } from '../errors/index.js';
import { inputSpecs, isWidget, type ObjectInfo } from './object-info-spec.js';

interface UiNode {
  id: number | string;
  type: string;
  mode?: number;
  title?: string;
  inputs?: { name: string; type?: string; link: number | null; widget?: { name: string } }[];
  widgets_values?: unknown[] | Record<string, unknown>;
}
type UiLink = [number, number | string, number, number | string, number, string];

export const exportApiFormatHint =
  'In ComfyUI, enable "Dev mode" in the settings (older UI) or use Workflow → Export (API) (new UI), then save that file in workflows/.';

export function isUiFormat(json: unknown): boolean {
  return typeof json === 'object' && json !== null && Array.isArray((json as { nodes?: unknown }).nodes) && Array.isArray((json as { links?: unknown }).links);
}

/** Frontend-only nodes: they never reach the server. */
const virtualClasses = new Set(['Note', 'MarkdownNote', 'PrimitiveNode', 'Reroute']);
const MODE_MUTED = 2;
const MODE_BYPASSED = 4;

export function convertUiToApi(ui: unknown, objectInfo: ObjectInfo): ApiPrompt {
  if (!isUiFormat(ui)) throw new ChorusError('WORKFLOW_INVALID', 'Not a ComfyUI UI-format workflow (no nodes/links arrays).');
  const { nodes, links } = ui as { nodes: UiNode[]; links: UiLink[] };
  const byId = new Map(nodes.map((n) => [String(n.id), n]));
  const linkById = new Map(links.map((l) => [l[0], l]));

  /** Follows Reroutes and bypassed nodes back to the node that really produces the value. */
  const resolveSource = (linkId: number, seen = new Set<number>()): [string, number] | null => {
    const link = linkById.get(linkId);
    if (!link || seen.has(linkId)) return null;
    seen.add(linkId);
    const source = byId.get(String(link[1]));
    if (!source) return null;
    if (source.type === 'Reroute' || source.mode === MODE_BYPASSED) {
      // A bypassed node passes through its first input of the same type.
      const through = source.inputs?.find((i) => i.link !== null && (source.type === 'Reroute' || i.type === link[5]));
      return through?.link != null ? resolveSource(through.link, seen) : null;
    }
    if (source.mode === MODE_MUTED) return null;
    return [String(source.id), link[2]];
  };

  const prompt: ApiPrompt = {};
  for (const node of nodes) {
    if (virtualClasses.has(node.type) || node.mode === MODE_MUTED || node.mode === MODE_BYPASSED) continue;
    const info = objectInfo[node.type];
    if (!info) {
      throw new ChorusError('WORKFLOW_INVALID', `Node ${node.id} uses class "${node.type}", which this ComfyUI does not have.`, {
        details: { nodeId: String(node.id), classType: node.type },
        suggestion: 'Install the custom node on the backend, or export the workflow in API format.',
      });
    }
    const linked = new Map((node.inputs ?? []).filter((i) => i.link !== null).map((i) => [i.widget?.name ?? i.name, i.link as number]));
    const values = node.widgets_values ?? [];
    const inputs: Record<string, unknown> = {};
    let position = 0;
    for (const spec of inputSpecs(info)) {
      if (isWidget(spec) && !spec.config.forceInput) {
        const value = Array.isArray(values) ? values[position++] : values[spec.name];
        // The UI stores "fixed/randomize…" right after a seed widget; it is not an input.
        if (spec.config.control_after_generate && Array.isArray(values)) position++;
        if (value !== undefined) inputs[spec.name] = value;
      }
      const linkId = linked.get(spec.name);
      if (linkId !== undefined) {
        const source = resolveSource(linkId);
        if (source) inputs[spec.name] = source;
      }
    }
    const title = node.title;
    prompt[String(node.id)] = { class_type: node.type, inputs, ...(title ? { _meta: { title } } : {}) };
  }
  return prompt;
}
