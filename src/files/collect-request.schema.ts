import type { Readable } from 'node:stream';
import { z } from 'zod';
import { ChorusError } from '../errors/index.js';
import type { OutputFileRef } from '../comfy/backend-port.js';

export type DownloadOutput = (file: Pick<OutputFileRef, 'filename' | 'subfolder' | 'type'>) => Promise<Readable>;

const outputFileRefSchema = z.object({
  nodeId: z.string(),
  key: z.string(),
  filename: z.string(),
  subfolder: z.string(),
  type: z.string(),
  animated: z.boolean().optional(),
});

/**
 * What the job actor hands the collector. Shapes are checked here; the safety of each
 * name is checked by safe-path-guard, which gives a clearer error than a regex in zod.
 */
export const collectRequestSchema = z.object({
  jobId: z.string(),
  conversationId: z.string(),
  files: z.array(outputFileRefSchema),
  /** auto: per file, local when ComfyUI's file is under comfyOutputDir here, else download. */
  mode: z.enum(['auto', 'move', 'copy', 'download']),
  /** What auto does with a file it finds on this machine. */
  localMode: z.enum(['move', 'copy']).default('move'),
  /** ComfyUI's output folder (move/copy/auto); temp/ and input/ are its siblings unless given. */
  comfyOutputDir: z.string().min(1).optional(),
  comfyTempDir: z.string().min(1).optional(),
  comfyInputDir: z.string().min(1).optional(),
  download: z.custom<DownloadOutput>((value) => typeof value === 'function').optional(),
  metadata: z.record(z.string(), z.unknown()).default({}),
  signal: z.custom<AbortSignal>((value) => value instanceof AbortSignal).optional(),
});

export type CollectRequest = z.input<typeof collectRequestSchema>;
export type ParsedCollectRequest = z.output<typeof collectRequestSchema>;

export function parseCollectRequest(input: CollectRequest): ParsedCollectRequest {
  const parsed = collectRequestSchema.safeParse(input);
  if (!parsed.success) {
    throw new ChorusError('INTERNAL', 'Malformed collect request', { details: { issues: parsed.error.issues } });
  }
  const request = parsed.data;
  if ((request.mode === 'move' || request.mode === 'copy') && request.comfyOutputDir === undefined) {
    throw new ChorusError('CONFIG_INVALID', `Collect mode "${request.mode}" needs ComfyUI's output folder`, {
      details: { key: 'comfyui.file_management.output_directory' },
      suggestion: 'Set comfyui.file_management.output_directory, or use mode "download" when ComfyUI runs elsewhere.',
    });
  }
  if (request.mode === 'download' && request.download === undefined) {
    throw new ChorusError('INTERNAL', 'Collect mode "download" needs a download function');
  }
  if (request.mode === 'auto' && request.download === undefined && request.comfyOutputDir === undefined) {
    throw new ChorusError('INTERNAL', 'Collect mode "auto" needs ComfyUI\'s output folder or a download function');
  }
  return request;
}
