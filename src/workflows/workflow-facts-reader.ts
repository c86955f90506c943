/**
 * Reads the debug facts of a workflow (checkpoint, LoRAs, sampler, size) from its graph.
 * Values may still be placeholders; they are reported as they are in the file.
 */
import type { ApiPrompt } from '../comfy/backend-port.js';
import type { LoraFact, WorkflowFacts } from './workflow-definition.js';

const modelInputs = ['ckpt_name', 'unet_name', 'model_name'];
const samplerClasses = /^(KSampler|KSamplerAdvanced|SamplerCustom|SamplerCustomAdvanced)$/;
const sizeClasses = /^(EmptyLatentImage|EmptySD3LatentImage|EmptyHunyuanLatentVideo|EmptyImage|EmptyLTXVLatentVideo|EmptyMochiLatentVideo)$/;

export function readWorkflowFacts(graph: ApiPrompt): WorkflowFacts {
  const checkpoints: string[] = [];
  const loras: LoraFact[] = [];
  let sampler: WorkflowFacts['sampler'] = null;
  let size: WorkflowFacts['size'] = null;
  let guidance: unknown;

  for (const [nodeId, node] of Object.entries(graph)) {
    const inputs = node.inputs;
    for (const name of modelInputs) {
      const value = inputs[name];
      if (typeof value === 'string' && !checkpoints.includes(value)) checkpoints.push(value);
    }
    if (typeof inputs.lora_name === 'string') {
      const strength = inputs.strength_model ?? inputs.strength;
      loras.push({ name: inputs.lora_name, strength: typeof strength === 'number' ? strength : null, nodeId });
    }
    if (node.class_type === 'FluxGuidance') guidance = inputs.guidance;
    if (sampler === null && samplerClasses.test(node.class_type)) {
      sampler = { name: inputs.sampler_name, scheduler: inputs.scheduler, steps: inputs.steps, cfg: inputs.cfg };
    }
    if (size === null && sizeClasses.test(node.class_type)) size = { width: inputs.width, height: inputs.height };
  }
  if (sampler !== null && guidance !== undefined) sampler.guidance = guidance;
  return { checkpoints, loras, sampler, size };
}
