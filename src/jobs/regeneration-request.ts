/**
 * What a regenerate (or a retry) asks for: the earlier job's inputs as its caller gave them
 * — conversation, character, workflow, the request or the finished prompt, negative prompt,
 * parameters — with a new seed (or the one given). The inputs come from the job's persisted
 * machine input, which holds them exactly as admitted; the row's columns are the fallback
 * for a job without a snapshot (its prompt and negative may be the composed ones there).
 */
import type { JobRequest } from '../../machines/job-types.js';
import type { GenerateCommand, RegenerateCommand } from '../commands/command-schemas.js';
import type { JobRow } from '../contracts/job-store-port.js';

export function regenerationOf(row: JobRow, cmd: RegenerateCommand): GenerateCommand {
  const request = admittedRequestOf(row);
  const optional = <K extends string, V>(key: K, value: V | null | undefined): Partial<Record<K, V>> =>
    value === null || value === undefined ? {} : ({ [key]: value } as Record<K, V>);
  return {
    conversation_id: row.conversation_id,
    ...optional('thread_id', row.thread_id),
    ...optional('message_id', row.message_id),
    ...optional('character', request.character),
    // The workflow the earlier job ran, even if the character's default has changed since.
    workflow: request.workflow,
    ...optional('user_request', request.userRequest),
    ...optional('activity', request.activity),
    ...optional('prompt', request.prompt),
    ...optional('negative_prompt', request.negativePrompt),
    ...optional('seed', cmd.seed),
    ...optional('request_id', cmd.request_id),
    priority: request.priority,
    strict_llm: request.strictLlm,
    parameters: request.parameters,
  };
}

function admittedRequestOf(row: JobRow): JobRequest {
  const context = (row.snapshot as { context?: { request?: JobRequest } } | null)?.context;
  if (context?.request) return context.request;
  const asked = (row.debug['request'] as { user_request?: string | null; activity?: string | null; strict_llm?: boolean } | undefined) ?? {};
  const callerPrompt = row.prompt_source === 'caller' ? row.prompt : null;
  return {
    conversationId: row.conversation_id,
    workflow: row.workflow,
    character: row.character,
    userRequest: asked.user_request ?? (callerPrompt === null ? row.prompt : null),
    activity: asked.activity ?? null,
    prompt: callerPrompt,
    negativePrompt: callerPrompt === null ? null : row.negative_prompt,
    seed: row.seed,
    priority: row.priority,
    strictLlm: asked.strict_llm ?? false,
    parameters: row.parameters as JobRequest['parameters'],
  };
}
