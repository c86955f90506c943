/**
 * Decides where a job's visual prompt comes from and records it: the caller's finished
 * prompt, else the LLM (with retries), else the deterministic template. With `strict`, an
 * LLM failure is PROMPT_GENERATION_FAILED instead of a quiet fallback.
 */
import { ChorusError, toChorusError } from '../errors/index.js';
import { requestChatCompletion, type ChatMessage, type LlmConfig } from './llm-chat-client.js';
import { cleanLlmReply } from './llm-reply-cleaner.js';
import { buildPromptMessages } from './prompt-messages-builder.js';
import type { ComposedPrompt, PromptRequest } from './prompt-request.js';
import { buildTemplatePrompt } from './template-prompt-builder.js';

const DEFAULT_MAX_CHARS = 1200;

export class VisualPromptComposer {
  private readonly llm: LlmConfig | undefined;
  /** The cap on a written prompt, LLM or template (`llm.max_prompt_chars`, read even with no base_url). */
  private readonly maxChars: number;

  constructor(llm: LlmConfig | undefined) {
    // A config with no base_url means "no LLM": the template is the designed path then.
    this.llm = llm?.base_url ? llm : undefined;
    this.maxChars = llm?.max_prompt_chars ?? DEFAULT_MAX_CHARS;
  }

  get usesLlm(): boolean {
    return this.llm !== undefined;
  }

  async compose(req: PromptRequest, signal?: AbortSignal): Promise<ComposedPrompt> {
    const identity = req.character.visual_identity;
    const components = { user: req.userRequest, character_triggers: [...identity.trigger_words], activity: req.activity ?? null };
    const characterNegative = identity.negative_prompt?.trim() || null;

    if (req.prompt?.trim()) {
      return { prompt: req.prompt, negative: req.negative ?? characterNegative, source: 'caller', components };
    }
    if (!this.llm) {
      if (req.strict) throw new ChorusError('PROMPT_GENERATION_FAILED', 'The LLM was asked for strictly, but none is configured (llm.base_url).');
      return this.fromTemplate(req, components, 'no LLM configured (llm.base_url is unset)');
    }

    const llm = this.llm;
    const messages = buildPromptMessages(req);
    const attempts = 1 + llm.retries;
    let lastError: ChorusError | null = null;
    let lastRaw: string | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (signal?.aborted) throw toChorusError(signal.reason, 'PROMPT_GENERATION_FAILED');
      try {
        const reply = await requestChatCompletion(llm, messages, signal);
        lastRaw = reply.content;
        const cleaned = cleanLlmReply(reply.content, { maxChars: this.maxChars, triggerWords: identity.trigger_words });
        if (!cleaned) throw new ChorusError('PROMPT_GENERATION_FAILED', `The LLM reply holds no usable prompt: ${JSON.stringify(reply.content.slice(0, 120))}`);
        const composed: ComposedPrompt = {
          prompt: cleaned.prompt,
          negative: req.negative ?? cleaned.negative ?? characterNegative,
          source: 'llm',
          model: reply.model,
          messages: copy(messages),
          rawReply: reply.content,
          cleaning: cleaned.cleaning,
          components,
          attempts: attempt,
        };
        if (cleaned.reasoning) composed.reasoning = cleaned.reasoning;
        if (cleaned.truncation) composed.truncation = cleaned.truncation;
        return composed;
      } catch (error) {
        lastError = toChorusError(error, 'PROMPT_GENERATION_FAILED');
        if (signal?.aborted) break;
      }
    }
    const reason = lastError?.message ?? 'unknown LLM failure';
    if (req.strict) {
      throw new ChorusError('PROMPT_GENERATION_FAILED', `The LLM failed after ${attempts} attempt(s): ${reason}`, {
        cause: lastError,
        details: { attempts, model: llm.model, ...(lastRaw !== undefined ? { rawReply: lastRaw } : {}) },
      });
    }
    const fallback = this.fromTemplate(req, components, reason);
    fallback.messages = copy(messages);
    fallback.attempts = attempts;
    if (lastRaw !== undefined) fallback.rawReply = lastRaw;
    return fallback;
  }

  private fromTemplate(req: PromptRequest, components: ComposedPrompt['components'], reason: string): ComposedPrompt {
    const built = buildTemplatePrompt(req, this.maxChars);
    const composed: ComposedPrompt = { prompt: built.prompt, negative: req.negative ?? built.negative, source: 'template', components, fallbackReason: reason };
    if (built.truncation) composed.truncation = built.truncation;
    return composed;
  }
}

function copy(messages: ChatMessage[]): ChatMessage[] {
  return messages.map((m) => ({ ...m }));
}
