/**
 * The node classes the simulator knows: the recorded /object_info of ComfyUI 0.3.64, with the
 * model combos filled from simulatedModels. Validation and execution both read it, so a prompt
 * that validates here names real input specs.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { modelListByInputName } from './simulated-models.js';

export type InputSpec = [unknown, Record<string, unknown>?];
export interface NodeClassInfo {
  input: { required?: Record<string, InputSpec>; optional?: Record<string, InputSpec>; hidden?: Record<string, unknown> };
  input_order?: Record<string, string[]>;
  output: unknown[];
  output_node: boolean;
  [key: string]: unknown;
}

const objectInfoPath = join(fileURLToPath(new URL('.', import.meta.url)), 'data', 'object_info-0.3.64.json');

function fillModelLists(catalog: Record<string, NodeClassInfo>): void {
  for (const info of Object.values(catalog)) {
    for (const section of [info.input.required, info.input.optional]) {
      if (!section) continue;
      for (const [name, spec] of Object.entries(section)) {
        const models = modelListByInputName[name];
        if (!models || !Array.isArray(spec[0])) continue;
        // VAELoader already offers "pixel_space"; real ComfyUI lists files before it.
        spec[0] = [...models, ...(spec[0] as unknown[])];
      }
    }
  }
}

/**
 * The recording server had one scratch node, ProtocolProbeProgress, that reports progress (and
 * optionally previews) through ComfyUI's standard hook; the published object_info dropped it.
 * It is added back so transcripts 07, 08, 09 and 17 replay, and tests get a model-free progress node.
 */
const protocolProbeProgress: NodeClassInfo = {
  input: {
    required: {
      image: ['IMAGE', {}],
      steps: ['INT', { default: 10, min: 1, max: 10000 }],
      delay: ['FLOAT', { default: 0.2, min: 0.0, max: 60.0, step: 0.01 }],
      send_preview: ['BOOLEAN', { default: false }],
    },
  },
  input_order: { required: ['image', 'steps', 'delay', 'send_preview'] },
  output: ['IMAGE'],
  output_is_list: [false],
  output_name: ['IMAGE'],
  name: 'ProtocolProbeProgress',
  display_name: 'ProtocolProbeProgress',
  description: '',
  python_module: 'custom_nodes.protocol_probe',
  category: 'testing',
  output_node: false,
};

export class NodeCatalog {
  readonly classes: Record<string, NodeClassInfo>;
  private readonly serialized: string;

  constructor(private readonly inputDir: string) {
    this.classes = JSON.parse(readFileSync(objectInfoPath, 'utf8')) as Record<string, NodeClassInfo>;
    fillModelLists(this.classes);
    this.classes['ProtocolProbeProgress'] = protocolProbeProgress;
    this.serialized = JSON.stringify(this.classes);
  }

  get(classType: string): NodeClassInfo | undefined {
    return Object.hasOwn(this.classes, classType) ? this.classes[classType] : undefined;
  }

  isOutputNode(classType: string): boolean {
    return this.get(classType)?.output_node === true;
  }

  returnTypes(classType: string): unknown[] {
    return this.get(classType)?.output ?? [];
  }

  /** LoadImage's combo lists the files in input/, as ComfyUI computes it per request. */
  private inputFiles(): string[] {
    try {
      return readdirSync(this.inputDir)
        .filter((name) => statSync(join(this.inputDir, name)).isFile())
        .sort();
    } catch {
      return [];
    }
  }

  /** Body of GET /object_info (parsed once; LoadImage patched with the current input files). */
  fullJson(): string {
    const files = JSON.stringify(this.inputFiles());
    return this.serialized.replace(/("LoadImage":\{"input":\{"required":\{"image":\[)\[[^\]]*\]/, (_m, head: string) => `${head}${files}`);
  }

  classJson(classType: string): string {
    const info = this.get(classType);
    if (!info) return '{}';
    if (classType === 'LoadImage') {
      const copy = structuredClone(info);
      const spec = copy.input.required?.['image'];
      if (spec) spec[0] = this.inputFiles();
      return JSON.stringify({ [classType]: copy });
    }
    return JSON.stringify({ [classType]: info });
  }
}
