/**
 * The command schemas, in one place: NATS request/reply, the HTTP API and the CLI all
 * validate with these, so a command means the same thing whichever door it came through.
 */
import { z } from 'zod';
import { JobState } from '../contracts/job-view.js';
import { SAFE_NAME_MAX_LENGTH, SAFE_NAME_PATTERN } from '../contracts/safe-name.js';
import { WORKFLOW_NAME_RULE, workflowNameProblem } from '../contracts/workflow-name.js';

/** Ids become path pieces (data/conversations/{id}/…): nothing that could climb out (contracts/safe-name.ts). */
export const safeId = z
  .string()
  .min(1)
  .max(SAFE_NAME_MAX_LENGTH)
  .regex(SAFE_NAME_PATTERN, 'letters, digits, "_", "-" and "." only, starting with a letter or digit')
  .refine((v) => !v.includes('..'), 'must not contain ".."');

/** A workflow's name: the rule the workflow library holds its files' names to (contracts/workflow-name.ts). */
const workflowName = z.string().superRefine((name, ctx) => {
  const problem = workflowNameProblem(name);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `not a workflow name: ${problem} (a workflow name is ${WORKFLOW_NAME_RULE})` });
});

/**
 * Free text must be well-formed Unicode: a lone surrogate (`"\ud800"` in JSON) has no UTF-8
 * form, so the database and NATS would each store a U+FFFD in its place, not what was sent.
 */
const text = (max: number) =>
  z
    .string()
    .max(max)
    .refine((value) => value.isWellFormed(), 'must be well-formed Unicode: a lone surrogate (\\ud800-\\udfff not in a pair) is not text');
/** A request or prompt: something to draw, not only spaces (which would reach ComfyUI as an empty prompt). */
const nonBlankText = (max: number) =>
  text(max)
    .min(1)
    .refine((value) => value.trim() !== '', 'must not be blank');

export const generateCommandSchema = z
  .strictObject({
    /** Idempotency key, unique per conversation: the same request twice makes one job; another request under it is REQUEST_ID_CONFLICT. */
    request_id: safeId.optional(),
    conversation_id: safeId,
    thread_id: safeId.optional(),
    message_id: safeId.optional(),
    character: safeId.optional(),
    workflow: workflowName.optional(),
    /** What the user asked for; the service writes the visual prompt from it. */
    user_request: nonBlankText(4000).optional(),
    activity: text(2000).optional(),
    /** A finished visual prompt: used as is (no LLM). With user_request too, this is used and the request is kept in the job's debug facts. */
    prompt: nonBlankText(8000).optional(),
    negative_prompt: text(4000).optional(),
    seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    priority: z.number().int().min(-100).max(100).default(0),
    /** Fail with PROMPT_GENERATION_FAILED instead of falling back to the template. */
    strict_llm: z.boolean().default(false),
    parameters: z
      .strictObject({
        steps: z.number().int().min(1).max(500).optional(),
        cfg: z.number().min(0).max(100).optional(),
        width: z.number().int().min(16).max(16384).optional(),
        height: z.number().int().min(16).max(16384).optional(),
      })
      .default({}),
  })
  .refine((c) => c.character !== undefined || c.workflow !== undefined, {
    message: 'give a character or a workflow',
    path: ['character'],
  })
  .refine((c) => c.user_request !== undefined || c.prompt !== undefined, {
    message: 'give user_request (the service writes the prompt) or prompt (a finished prompt)',
    path: ['user_request'],
  });
export type GenerateCommand = z.infer<typeof generateCommandSchema>;
export type GenerateCommandInput = z.input<typeof generateCommandSchema>;

export const jobIdCommandSchema = z.strictObject({ job_id: safeId });
export type JobIdCommand = z.infer<typeof jobIdCommandSchema>;

/**
 * A new job from an earlier one's inputs (conversation, character, workflow, request or
 * finished prompt, negative prompt, parameters), linked to it. No seed: a new random one;
 * the earlier job's seed: a retry of the same generation.
 */
export const regenerateCommandSchema = z.strictObject({
  job_id: safeId,
  seed: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  /** Idempotency key, as for generate. */
  request_id: safeId.optional(),
});
export type RegenerateCommand = z.infer<typeof regenerateCommandSchema>;

export const getCommandSchema = z.strictObject({ job_id: safeId, debug: z.boolean().default(false) });
export type GetCommand = z.infer<typeof getCommandSchema>;

export const jobStateSchema = z.enum(JobState);

export const listCommandSchema = z.strictObject({
  state: z
    .union([jobStateSchema, z.array(jobStateSchema).min(1).max(7)], {
      error: `a state (${Object.values(JobState).join(', ')}) or a list of one to seven of them`,
    })
    .optional(),
  conversation_id: safeId.optional(),
  character: safeId.optional(),
  /** Jobs whose id starts with this (the first characters of an id, as people paste them). */
  id_prefix: z
    .string()
    .min(1)
    .max(128)
    .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "-" and "." only')
    .optional(),
  limit: z.number().int().min(1).max(500).default(50),
  offset: z.number().int().min(0).max(1_000_000).default(0),
});
export type ListCommand = z.infer<typeof listCommandSchema>;

export const workflowsCommandSchema = z.strictObject({});

export const validateCommandSchema = z.strictObject({
  workflow: workflowName,
  /** Backend name from the config; validates against its /object_info when reachable. */
  backend: safeId.optional(),
});
export type ValidateCommand = z.infer<typeof validateCommandSchema>;
