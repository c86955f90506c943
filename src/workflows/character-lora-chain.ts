/**
 * Inserts a character's LoRAs as a LoraLoader chain right after the workflow's model
 * loader, and rewires every MODEL/CLIP consumer of that loader to the end of the chain, so
 * the workflow's own LoRAs (and everything else) see the character's too.
 */
import type { ApiPrompt } from '../comfy/backend-port.js';
import { ChorusError } from '../errors/index.js';
import { isLink } from './workflow-definition.js';

export interface LoraSpec {
  name: string;
  strength: number;
}

type Slot = [string, number];

function findSources(graph: ApiPrompt): { model: Slot | null; clip: Slot | null } {
  let model: Slot | null = null;
  let clip: Slot | null = null;
  for (const [id, node] of Object.entries(graph)) {
    if (/^CheckpointLoader/.test(node.class_type)) {
      model ??= [id, 0];
      clip ??= [id, 1];
    } else if (node.class_type === 'UNETLoader' || node.class_type === 'UnetLoaderGGUF') {
      model ??= [id, 0];
    } else if (/^(DualCLIPLoader|CLIPLoader|TripleCLIPLoader|QuadrupleCLIPLoader)$/.test(node.class_type)) {
      clip ??= [id, 0];
    }
  }
  return { model, clip };
}

function sameSlot(value: unknown, slot: Slot | null): boolean {
  return slot !== null && isLink(value) && String(value[0]) === slot[0] && value[1] === slot[1];
}

/** Mutates `graph` (a copy owned by the injector). Returns the LoRAs actually inserted. */
export function insertCharacterLoras(graph: ApiPrompt, loras: LoraSpec[]): LoraSpec[] {
  if (loras.length === 0) return [];
  const { model, clip } = findSources(graph);
  if (!model) {
    throw new ChorusError('WORKFLOW_INVALID', 'The character has LoRAs but the workflow has no checkpoint or UNET loader to attach them to.', {
      details: { loras: loras.map((l) => l.name) },
    });
  }
  const inserted: LoraSpec[] = [];
  let modelOut: Slot = model;
  let clipOut: Slot | null = clip;
  const ours = new Set<string>();
  loras.forEach((lora, index) => {
    let id = `chorus_lora_${index + 1}`;
    while (id in graph) id = `${id}_`;
    ours.add(id);
    if (clipOut) {
      graph[id] = {
        class_type: 'LoraLoader',
        inputs: { model: modelOut, clip: clipOut, lora_name: lora.name, strength_model: lora.strength, strength_clip: lora.strength },
        _meta: { title: `Character LoRA ${lora.name}` },
      };
      clipOut = [id, 1];
    } else {
      graph[id] = {
        class_type: 'LoraLoaderModelOnly',
        inputs: { model: modelOut, lora_name: lora.name, strength_model: lora.strength },
        _meta: { title: `Character LoRA ${lora.name}` },
      };
    }
    modelOut = [id, 0];
    inserted.push(lora);
  });
  for (const [id, node] of Object.entries(graph)) {
    if (ours.has(id)) continue;
    for (const [name, value] of Object.entries(node.inputs)) {
      if (sameSlot(value, model)) node.inputs[name] = [...modelOut];
      else if (sameSlot(value, clip) && clipOut) node.inputs[name] = [...clipOut];
    }
  }
  return inserted;
}
