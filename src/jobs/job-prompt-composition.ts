/**
 * queued.composing: the visual prompt (the caller's, or the composer's from the user's
 * request and the character), injected into the workflow graph with the character's LoRAs.
 */
import type { ComposedJobPrompt, JobRequest } from '../../machines/job-types.js';
import type { ResolvedConfig } from '../config/index.js';
import { injectWorkflow, modelFilesOf, type WorkflowDefinition } from '../workflows/index.js';
import type { Character } from '../characters/index.js';
import type { CharactersPort, PromptComposerPort, WorkflowsPort } from './job-runtime-ports.js';

export interface CompositionDeps {
  workflows: WorkflowsPort;
  characters: CharactersPort;
  composer: PromptComposerPort;
  config: Pick<ResolvedConfig, 'comfyui'>;
}

export async function composeJobPrompt(deps: CompositionDeps, request: JobRequest, admitted?: WorkflowDefinition): Promise<ComposedJobPrompt> {
  const definition = admitted ?? deps.workflows.get(request.workflow);
  const character: Character | null = request.character === null ? null : deps.characters.get(request.character);
  const identity = character?.visual_identity;

  let prompt: string;
  let negative: string | null;
  let source: string;
  let components: Record<string, unknown>;
  let llm: Record<string, unknown> | undefined;
  let truncated: Record<string, unknown> | null = null;
  if (character === null) {
    // A bare workflow run: no character to write for, so the request is the prompt.
    prompt = request.prompt ?? request.userRequest ?? '';
    negative = request.negativePrompt;
    source = request.prompt !== null ? 'caller' : 'template';
    components = { user: request.userRequest ?? prompt, character_triggers: [], activity: request.activity };
  } else {
    const composed = await deps.composer.compose({
      userRequest: request.userRequest ?? request.prompt ?? '',
      activity: request.activity,
      character,
      prompt: request.prompt,
      negative: request.negativePrompt,
      strict: request.strictLlm,
    });
    prompt = composed.prompt;
    negative = composed.negative;
    source = composed.source;
    components = composed.components;
    truncated = composed.truncation ?? null;
    if (composed.source !== 'caller') {
      llm = {
        model: composed.model ?? null,
        messages: composed.messages ?? null,
        raw_reply: composed.rawReply ?? null,
        cleaning: composed.cleaning ?? null,
        fallback_reason: composed.fallbackReason ?? null,
      };
    }
  }

  const defaults = deps.config.comfyui.defaults;
  const injection = injectWorkflow(
    definition,
    {
      prompt,
      ...(negative === null ? {} : { negative }),
      ...(request.seed === null ? {} : { seed: request.seed }),
      // A text-to-speech workflow speaks the prompt: Chorus Engine's __CHORUS_TEXT__.
      ...(definition.type === 'audio' ? { text: prompt } : {}),
      ...request.parameters,
    },
    {
      characterLoras: identity?.loras ?? [],
      defaults,
      ...(identity?.negative_prompt ? { defaultNegative: identity.negative_prompt } : {}),
    },
  );
  return {
    prompt,
    negative,
    seed: injection.seed,
    source,
    apiPrompt: injection.prompt,
    models: modelFilesOf(injection.prompt),
    debug: {
      workflow_used: { name: definition.name, type: definition.type, facts: definition.facts },
      prompt_components: components,
      // Null unless the written prompt was cut to llm.max_prompt_chars: the cap, the uncut length, what was cut.
      prompt_truncated: truncated,
      parameters_injected: injection.injected,
      parameters_ignored: injection.ignored,
      loras_applied: injection.lorasApplied,
      ...(llm ? { llm } : {}),
    },
  };
}
