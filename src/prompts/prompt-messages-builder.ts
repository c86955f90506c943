/**
 * The system and user messages sent to the chat model. The system message fixes the form
 * (one line of comma-separated visual phrases, or the JSON Chorus Engine asks for); the
 * user message carries the request, the character's look and what they are doing.
 */
import type { ChatMessage } from './llm-chat-client.js';
import type { PromptRequest } from './prompt-request.js';

const system = [
  'You write prompts for an image generator (Stable Diffusion / FLUX).',
  'Describe one picture: subject, appearance, clothing, pose, setting, lighting, camera and style,',
  'as comma-separated visual phrases in English, at most about 80 words. Describe only what is visible;',
  'no dialogue, no story, no names of real people.',
  'Keep the character consistent with the appearance given, and always include the trigger words given.',
  'Reply with JSON only: {"prompt": "...", "negative": "things to avoid, or empty", "reasoning": "one short sentence"}.',
].join(' ');

export function buildPromptMessages(req: PromptRequest): ChatMessage[] {
  const identity = req.character.visual_identity;
  const lines = [
    `Character: ${req.character.name}`,
    `Appearance: ${identity.prompt_context.trim()}`,
    identity.trigger_words.length ? `Trigger words (must appear): ${identity.trigger_words.join(', ')}` : null,
    req.activity ? `Current activity: ${req.activity.trim()}` : null,
    `Request: ${req.userRequest.trim()}`,
  ].filter((l): l is string => l !== null);
  return [
    { role: 'system', content: system },
    { role: 'user', content: lines.join('\n') },
  ];
}
