/**
 * One OpenAI-compatible `POST {base_url}/chat/completions` (Ollama, LM Studio, llama.cpp
 * and KoboldCpp all serve it). The reply is checked with zod: servers differ in what else
 * they send, but `choices[0].message.content` is common to all.
 */
import { request } from 'undici';
import { z } from 'zod';
import type { ServiceConfig } from '../config/index.js';
import { ChorusError } from '../errors/index.js';

export type LlmConfig = ServiceConfig['llm'];

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

const completionSchema = z.looseObject({
  model: z.string().optional(),
  choices: z.array(z.looseObject({ message: z.looseObject({ content: z.string().nullable() }) })).min(1),
});

export interface ChatReply {
  content: string;
  model: string;
}

function failed(message: string, cause?: unknown): ChorusError {
  return new ChorusError('PROMPT_GENERATION_FAILED', message, cause === undefined ? {} : { cause });
}

export async function requestChatCompletion(llm: LlmConfig, messages: ChatMessage[], signal?: AbortSignal): Promise<ChatReply> {
  if (!llm.base_url) throw failed('No LLM is configured (llm.base_url is unset).');
  const url = `${llm.base_url.replace(/\/+$/, '')}/chat/completions`;
  const timeout = AbortSignal.timeout(llm.timeout_ms);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  let body: unknown;
  try {
    const response = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(llm.api_key ? { authorization: `Bearer ${llm.api_key}` } : {}) },
      body: JSON.stringify({ model: llm.model, messages, temperature: llm.temperature, max_tokens: llm.max_tokens, stream: false }),
      signal: combined,
      headersTimeout: llm.timeout_ms,
      bodyTimeout: llm.timeout_ms,
    });
    const text = await response.body.text();
    if (response.statusCode !== 200) throw failed(`LLM answered HTTP ${response.statusCode}: ${text.slice(0, 200)}`);
    try {
      body = JSON.parse(text);
    } catch {
      throw failed(`LLM reply is not JSON: ${text.slice(0, 120)}`);
    }
  } catch (error) {
    if (error instanceof ChorusError) throw error;
    const why = timeout.aborted ? `timed out after ${llm.timeout_ms} ms` : (error as Error).message;
    throw failed(`LLM request to ${url} failed: ${why}`, error);
  }
  const parsed = completionSchema.safeParse(body);
  if (!parsed.success) throw failed(`LLM reply has no choices[0].message.content: ${JSON.stringify(body).slice(0, 160)}`);
  return { content: parsed.data.choices[0]?.message.content ?? '', model: parsed.data.model ?? llm.model };
}
