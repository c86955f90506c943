/**
 * ComfyUI's core image nodes, producing what they say: EmptyImage's size, colour and batch,
 * SaveImage/PreviewImage files with real names, LoadImage reading input/.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { decodePng, framePng, invertFrame, isImageBatch, scaleFrame, solidBatch, type SimImageBatch } from './sim-image.js';
import { NodeExecutionError, num, str, type NodeHandler, type NodeRunContext } from './node-run-context.js';
import { pyStr } from './python-format.js';

function imageInput(ctx: NodeRunContext, name: string): SimImageBatch {
  const value = ctx.inputs[name];
  if (isImageBatch(value)) return value;
  throw new NodeExecutionError('AttributeError', `'${typeof value}' object has no attribute 'shape'`);
}

async function saveFrames(ctx: NodeRunContext, batch: SimImageBatch, root: string, prefix: string, type: string) {
  const target = ctx.namer.target(root, prefix);
  const images = [];
  const writes: Promise<void>[] = [];
  for (const frame of batch.frames) {
    const filename = ctx.namer.nextName(target, 'png');
    writes.push(framePng(frame).then((png) => writeFile(join(target.folder, filename), png)));
    images.push({ filename, subfolder: target.subfolder, type });
  }
  await Promise.all(writes);
  return images;
}

export const imageNodeHandlers: Record<string, NodeHandler> = {
  async EmptyImage(ctx) {
    const { width, height, batch_size, color } = ctx.inputs;
    return { outputs: [solidBatch(num(width, 512), num(height, 512), num(batch_size, 1), num(color, 0))], ui: null };
  },
  async LoadImage(ctx) {
    const name = str(ctx.inputs['image'], '').replace(/ \[(input|output|temp)\]$/, '');
    const path = join(ctx.dirs.input, name);
    let bytes: Buffer;
    try {
      bytes = await readFile(path);
    } catch {
      throw new NodeExecutionError('FileNotFoundError', `[Errno 2] No such file or directory: '${path}'`);
    }
    try {
      const frame = decodePng(bytes);
      const mask = { type: 'MASK', width: frame.width, height: frame.height };
      return { outputs: [{ type: 'IMAGE', frames: [frame] }, mask], ui: null };
    } catch {
      throw new NodeExecutionError('PIL.UnidentifiedImageError', `cannot identify image file '${path}'\n`, [
        '  File "/opt/ComfyUI/nodes.py", line 1647, in load_image\n    img = node_helpers.pillow(Image.open, image_path)\n',
      ]);
    }
  },
  async ImageScale(ctx) {
    const batch = imageInput(ctx, 'image');
    const frames = batch.frames.map((frame) => {
      let width = num(ctx.inputs['width'], frame.width);
      let height = num(ctx.inputs['height'], frame.height);
      if (width === 0 && height === 0) return frame;
      if (width === 0) width = Math.max(1, Math.round((frame.width * height) / frame.height));
      if (height === 0) height = Math.max(1, Math.round((frame.height * width) / frame.width));
      return scaleFrame(frame, width, height);
    });
    return { outputs: [{ type: 'IMAGE', frames }], ui: null };
  },
  async ImageInvert(ctx) {
    return { outputs: [{ type: 'IMAGE', frames: imageInput(ctx, 'image').frames.map(invertFrame) }], ui: null };
  },
  async ImageBlur(ctx) {
    return { outputs: [imageInput(ctx, 'image')], ui: null };
  },
  async SaveImage(ctx) {
    const batch = imageInput(ctx, 'images');
    const images = await saveFrames(ctx, batch, ctx.dirs.output, str(ctx.inputs['filename_prefix'], 'ComfyUI'), 'output');
    return { outputs: [], ui: { images } };
  },
  async PreviewImage(ctx) {
    const batch = imageInput(ctx, 'images');
    const images = await saveFrames(ctx, batch, ctx.dirs.temp, `ComfyUI_temp_${ctx.tempSuffix}`, 'temp');
    return { outputs: [], ui: { images } };
  },
  /** The recording's probe: `steps` progress ticks, previews when asked (its own delay is ignored). */
  async ProtocolProbeProgress(ctx) {
    const steps = Math.max(1, num(ctx.inputs['steps'], 1));
    for (let step = 1; step <= steps; step++) await ctx.tick(step, steps, ctx.inputs['send_preview'] === true);
    return { outputs: [imageInput(ctx, 'image')], ui: null };
  },
  async GetImageSize(ctx) {
    const batch = imageInput(ctx, 'image');
    const first = batch.frames[0];
    const width = first?.width ?? 0,
      height = first?.height ?? 0,
      count = batch.frames.length;
    ctx.sendText(`width: ${width}, height: ${height}\n batch size: ${count}`);
    return { outputs: [width, height, count], ui: null };
  },
  async PreviewAny(ctx) {
    const value = ctx.inputs['source'];
    const text = typeof value === 'object' && value !== null ? JSON.stringify(value) : pyStr(value);
    return { outputs: [], ui: { text: [text] } };
  },
};

for (const primitive of ['PrimitiveString', 'PrimitiveStringMultiline', 'PrimitiveInt', 'PrimitiveFloat', 'PrimitiveBoolean']) {
  imageNodeHandlers[primitive] = async (ctx) => ({ outputs: [ctx.inputs['value']], ui: null });
}
