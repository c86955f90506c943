import { z } from 'zod';

/**
 * zod schemas for the ComfyUI HTTP responses we read. Objects are loose (extra fields kept)
 * because newer servers add keys; fields older servers lack are optional. See
 * shared/comfyui-protocol.md §3 and §6 and the recordings in test/fixtures/comfyui-transcripts/.
 */

const looseRecord = z.record(z.string(), z.unknown());

/** 200 from POST /prompt. `number` is an int from the counter, or a float when supplied. */
export const promptResponseSchema = z.looseObject({
  prompt_id: z.union([z.string(), z.number()]).transform(String),
  number: z.number(),
  node_errors: looseRecord.nullish().transform((value) => value ?? {}),
});
export type PromptResponse = z.infer<typeof promptResponseSchema>;

export const validationErrorItemSchema = z.looseObject({
  type: z.string(),
  message: z.string(),
  details: z.unknown().optional(),
  extra_info: looseRecord.nullish(),
});
export type ValidationErrorItem = z.infer<typeof validationErrorItemSchema>;

export const nodeErrorSchema = z.looseObject({
  errors: z.array(validationErrorItemSchema).default([]),
  dependent_outputs: z.array(z.string()).optional(),
  class_type: z.string().nullish(),
});
export type NodeError = z.infer<typeof nodeErrorSchema>;

/** `node_errors` by node id: in a 400, and in a 200 whose invalid outputs were dropped (§3). */
export const nodeErrorsSchema = z.record(z.string(), nodeErrorSchema);

/** 400 from POST /prompt: prompt-level `error` plus the real reasons per node (§4). */
export const promptRejectionSchema = z.looseObject({
  error: z.union([
    z.looseObject({
      type: z.string(),
      message: z.string(),
      details: z.unknown().optional(),
      extra_info: looseRecord.nullish(),
    }),
    // Very old servers answered a bare string.
    z.string().transform((message) => ({ type: 'unknown', message, details: '', extra_info: {} })),
  ]),
  node_errors: nodeErrorsSchema.nullish().transform((value) => value ?? {}),
});
export type PromptRejection = z.infer<typeof promptRejectionSchema>;

/** `[number, prompt_id, prompt, extra_data, outputs_to_execute]` (§6.1). */
export const queueEntrySchema = z
  .tuple([
    z.number(),
    z.union([z.string(), z.number()]).transform(String),
    looseRecord,
    looseRecord.nullish().transform((value) => value ?? {}),
    z
      .array(z.string())
      .nullish()
      .transform((value) => value ?? []),
  ])
  .rest(z.unknown());
export type QueueEntry = z.infer<typeof queueEntrySchema>;

export const queueResponseSchema = z.looseObject({
  queue_running: z.array(queueEntrySchema).default([]),
  queue_pending: z.array(queueEntrySchema).default([]),
});

/** One UI output file: `{filename, subfolder, type}` under any key of a node's output. */
export const outputFileSchema = z.looseObject({
  filename: z.string(),
  subfolder: z
    .string()
    .nullish()
    .transform((value) => value ?? ''),
  type: z
    .string()
    .nullish()
    .transform((value) => value ?? 'output'),
});

export const historyStatusSchema = z.looseObject({
  status_str: z.string().nullish(),
  completed: z.boolean().nullish(),
  messages: z.array(z.tuple([z.string(), z.unknown()]).rest(z.unknown())).default([]),
});

/** History entry (§6.2). `status` and `meta` are missing on servers from before 2024. */
export const historyEntrySchema = z.looseObject({
  prompt: queueEntrySchema.optional(),
  outputs: z.record(z.string(), looseRecord.nullable()).default({}),
  status: historyStatusSchema.nullish(),
  meta: looseRecord.nullish(),
});
export type HistoryEntry = z.infer<typeof historyEntrySchema>;

export const historyResponseSchema = z.record(z.string(), historyEntrySchema);

export const systemStatsSchema = z.looseObject({
  system: z.looseObject({
    os: z.string().nullish(),
    comfyui_version: z.string().nullish(),
    python_version: z.string().nullish(),
    pytorch_version: z.string().nullish(),
    ram_total: z.number().nullish(),
    ram_free: z.number().nullish(),
  }),
  devices: z
    .array(
      z.looseObject({
        name: z.string().nullish(),
        type: z.string().nullish(),
        index: z.number().nullish(),
        vram_total: z.number().nullish(),
        vram_free: z.number().nullish(),
      }),
    )
    .default([]),
});
export type SystemStats = z.infer<typeof systemStatsSchema>;

export const uploadResponseSchema = z.looseObject({
  name: z.string(),
  subfolder: z
    .string()
    .nullish()
    .transform((value) => value ?? ''),
  type: z
    .string()
    .nullish()
    .transform((value) => value ?? 'input'),
});

/** /object_info is consumed by workflow validation; here we only insist on an object per class. */
export const objectInfoSchema = z.record(z.string(), z.unknown());
