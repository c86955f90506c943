/**
 * Model graphs without models: loaders hand out named tokens, samplers tick `steps` times and
 * VAEDecode paints a picture of the latent's size whose colour comes from the node's cache
 * signature — so the same seed and prompt give the same picture, a new seed a new one.
 */
import { solidBatch } from './sim-image.js';
import { num, str, type NodeHandler, type NodeRunContext } from './node-run-context.js';

interface LatentValue {
  type: 'LATENT';
  width: number;
  height: number;
  batch: number;
  fingerprint: string;
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function latentFrom(value: unknown): LatentValue {
  const v = value as Partial<LatentValue> | undefined;
  return { type: 'LATENT', width: num(v?.width, 512), height: num(v?.height, 512), batch: num(v?.batch, 1), fingerprint: str(v?.fingerprint, '') };
}

async function sample(ctx: NodeRunContext, steps: number, latentInput: unknown): Promise<LatentValue> {
  const total = Math.max(1, Math.floor(steps));
  for (let step = 1; step <= total; step++) await ctx.tick(step, total);
  return { ...latentFrom(latentInput), fingerprint: ctx.signature };
}

function emptyLatent(ctx: NodeRunContext): { outputs: unknown[]; ui: null } {
  const latent: LatentValue = {
    type: 'LATENT',
    width: num(ctx.inputs['width'], 512),
    height: num(ctx.inputs['height'], 512),
    batch: num(ctx.inputs['batch_size'], 1),
    fingerprint: '',
  };
  return { outputs: [latent], ui: null };
}

/** Steps carried by a SIGMAS value (from BasicScheduler & co., see the generic handler). */
function stepsOf(value: unknown, fallback: number): number {
  const steps = (value as { params?: Record<string, unknown> } | undefined)?.params?.['steps'];
  return typeof steps === 'number' ? steps : fallback;
}

export const modelNodeHandlers: Record<string, NodeHandler> = {
  async CheckpointLoaderSimple(ctx) {
    const name = str(ctx.inputs['ckpt_name'], '');
    return {
      outputs: [
        { type: 'MODEL', name },
        { type: 'CLIP', name },
        { type: 'VAE', name },
      ],
      ui: null,
    };
  },
  async CLIPTextEncode(ctx) {
    return { outputs: [{ type: 'CONDITIONING', text: str(ctx.inputs['text'], '') }], ui: null };
  },
  async EmptyLatentImage(ctx) {
    return emptyLatent(ctx);
  },
  async EmptySD3LatentImage(ctx) {
    return emptyLatent(ctx);
  },
  async KSampler(ctx) {
    return { outputs: [await sample(ctx, num(ctx.inputs['steps'], ctx.defaultSteps), ctx.inputs['latent_image'])], ui: null };
  },
  async KSamplerAdvanced(ctx) {
    return { outputs: [await sample(ctx, num(ctx.inputs['steps'], ctx.defaultSteps), ctx.inputs['latent_image'])], ui: null };
  },
  async SamplerCustomAdvanced(ctx) {
    const latent = await sample(ctx, stepsOf(ctx.inputs['sigmas'], ctx.defaultSteps), ctx.inputs['latent_image']);
    return { outputs: [latent, latent], ui: null };
  },
  async SamplerCustom(ctx) {
    const latent = await sample(ctx, stepsOf(ctx.inputs['sigmas'], ctx.defaultSteps), ctx.inputs['latent_image']);
    return { outputs: [latent, latent], ui: null };
  },
  async VAEDecode(ctx) {
    const latent = latentFrom(ctx.inputs['samples']);
    const color = fnv1a(ctx.signature) & 0xffffff;
    return { outputs: [solidBatch(latent.width, latent.height, latent.batch, color)], ui: null };
  },
};
