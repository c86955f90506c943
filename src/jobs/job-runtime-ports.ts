/**
 * The narrow views of other modules the job runtime depends on: what it calls, nothing
 * more, so unit tests can hand in small typed fakes and the real classes fit as they are.
 */
import type { BackendHealth, ComfyBackend } from '../comfy/backend-port.js';
import type { JobResult } from '../contracts/job-view.js';
import type { CollectRequest, WarmRequest } from '../files/index.js';
import type { Character } from '../characters/index.js';
import type { WorkflowDefinition } from '../workflows/index.js';

export interface BackendPoolPort {
  list(): ComfyBackend[];
  get(name: string): ComfyBackend | undefined;
  /** The healthy backend with the most free slots, given how many we use on each. */
  choose(inUse: (name: string) => number): ComfyBackend | undefined;
  onHealthChange?(listener: (health: BackendHealth) => void): () => void;
}

export interface WorkflowsPort {
  get(name: string): WorkflowDefinition;
  list(): WorkflowDefinition[];
  problems?(): Array<{ file: string; reason: string }>;
}

export interface CharactersPort {
  get(id: string): Character;
  list(): Character[];
}

/** What `src/prompts`' VisualPromptComposer returns (the fields the runtime reads). */
export interface ComposedVisualPrompt {
  prompt: string;
  negative: string | null;
  source: string;
  model?: string;
  messages?: unknown[];
  rawReply?: string;
  cleaning?: string[];
  fallbackReason?: string;
  /** Set when the written prompt was cut to the cap: the job's `prompt_truncated` debug fact. */
  truncation?: { max_chars: number; full_chars: number; cut: string[] };
  components: { user: string; character_triggers: string[]; activity: string | null };
}

export interface PromptComposerPort {
  compose(
    request: { userRequest: string; activity?: string | null; character: Character; prompt?: string | null; negative?: string | null; strict?: boolean },
    signal?: AbortSignal,
  ): Promise<ComposedVisualPrompt>;
}

export interface CollectorPort {
  collect(request: CollectRequest): Promise<JobResult>;
  /** Read ahead the files ComfyUI just named (WebSocket `executed`); optional, never throws. */
  warm?(request: WarmRequest): void;
}
