export { VisualPromptComposer } from './visual-prompt-composer.js';
export type { PromptRequest, ComposedPrompt } from './prompt-request.js';
export { requestChatCompletion, type LlmConfig, type ChatMessage, type ChatReply } from './llm-chat-client.js';
export { cleanLlmReply, type CleanedReply } from './llm-reply-cleaner.js';
export { buildPromptMessages } from './prompt-messages-builder.js';
export { buildTemplatePrompt, type TemplatePrompt } from './template-prompt-builder.js';
export { shortenAtWordBoundary, type PromptTruncation } from './prompt-truncation.js';
export { createLlmUnloader, OllamaUnloader, HttpUnloader, ollamaUrlOf, type LlmUnloader, type LlmUnloadResult } from './llm-unloader.js';
