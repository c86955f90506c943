import { z } from 'zod';

/**
 * zod schemas for the ComfyUI WebSocket text frames we act on (§5.4). Every field that an
 * older server omits (`timestamp`, `display_node`, even `prompt_id`) is optional; anything
 * we do not know is kept as an `other` message rather than rejected.
 */

const promptId = z.union([z.string(), z.number()]).transform(String);
const nodeId = z.union([z.string(), z.number()]).transform(String);
const timestamp = z.number().nullish();

export const statusDataSchema = z.looseObject({
  status: z.looseObject({ exec_info: z.looseObject({ queue_remaining: z.number().nullish() }).nullish() }).nullish(),
  sid: z.string().nullish(),
});

export const executionStartDataSchema = z.looseObject({ prompt_id: promptId.optional(), timestamp });

export const executionCachedDataSchema = z.looseObject({
  prompt_id: promptId.optional(),
  nodes: z
    .array(nodeId)
    .nullish()
    .transform((value) => value ?? []),
  timestamp,
});

/** `node: null` with a prompt_id is the universal end-of-prompt marker (§8.1). */
export const executingDataSchema = z.looseObject({
  node: nodeId.nullable(),
  display_node: nodeId.nullish(),
  prompt_id: promptId.optional(),
});

export const executedDataSchema = z.looseObject({
  node: nodeId,
  display_node: nodeId.nullish(),
  // Replayed from cache with `null` when the node has no UI output.
  output: z.record(z.string(), z.unknown()).nullable(),
  prompt_id: promptId.optional(),
});

export const progressDataSchema = z.looseObject({
  value: z.number(),
  max: z.number(),
  prompt_id: promptId.nullish(),
  node: nodeId.nullish(),
});

export const progressStateDataSchema = z.looseObject({
  prompt_id: promptId.optional(),
  nodes: z.record(z.string(), z.looseObject({ value: z.number(), max: z.number(), state: z.string() })),
});

export const executionSuccessDataSchema = z.looseObject({ prompt_id: promptId.optional(), timestamp });

export const executionErrorDataSchema = z.looseObject({
  prompt_id: promptId.optional(),
  node_id: nodeId.nullish(),
  node_type: z.string().nullish(),
  executed: z.array(nodeId).nullish(),
  exception_message: z.string().nullish(),
  exception_type: z.string().nullish(),
  traceback: z.array(z.string()).nullish(),
  current_inputs: z.unknown().optional(),
  current_outputs: z.unknown().optional(),
  timestamp,
});

export const executionInterruptedDataSchema = z.looseObject({
  prompt_id: promptId.optional(),
  node_id: nodeId.nullish(),
  node_type: z.string().nullish(),
  executed: z.array(nodeId).nullish(),
  timestamp,
});

export const featureFlagsDataSchema = z.record(z.string(), z.unknown());

/** The known messages, by `type`. */
export const wsMessageDataSchemas = {
  status: statusDataSchema,
  execution_start: executionStartDataSchema,
  execution_cached: executionCachedDataSchema,
  executing: executingDataSchema,
  executed: executedDataSchema,
  progress: progressDataSchema,
  progress_state: progressStateDataSchema,
  execution_success: executionSuccessDataSchema,
  execution_error: executionErrorDataSchema,
  execution_interrupted: executionInterruptedDataSchema,
  feature_flags: featureFlagsDataSchema,
} as const;

type KnownType = keyof typeof wsMessageDataSchemas;
export type KnownWsMessage = {
  [K in KnownType]: { type: K; data: z.infer<(typeof wsMessageDataSchemas)[K]> };
}[KnownType];

/** Unknown types (custom nodes' own messages) and known types whose data did not parse. */
export interface OtherWsMessage {
  type: 'other';
  messageType: string;
  data: unknown;
  /** Set when a known type failed its schema: worth logging, never fatal. */
  problem?: string;
}

export type ComfyWsMessage = KnownWsMessage | OtherWsMessage;

export type ExecutionErrorData = z.infer<typeof executionErrorDataSchema>;
export type ExecutionInterruptedData = z.infer<typeof executionInterruptedDataSchema>;
