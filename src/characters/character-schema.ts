/**
 * A character file (`config/characters/*.yaml`). Only `visual_identity` matters here; other
 * keys (Chorus Engine's personality, voice, …) are kept as they are.
 */
import { z } from 'zod';

export const loraSchema = z.strictObject({
  name: z.string().min(1),
  strength: z.number().min(-10).max(10).default(1),
});

export const visualIdentitySchema = z.looseObject({
  default_workflow: z.string().min(1),
  prompt_context: z.string().min(1),
  negative_prompt: z.string().optional(),
  trigger_words: z.array(z.string().min(1)).default([]),
  /** Path (relative to the character file) of an image uploaded for REFERENCE_IMAGE_PLACEHOLDER. */
  reference_image: z.string().optional(),
  loras: z.array(loraSchema).default([]),
});

export const characterSchema = z.looseObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,63}$/, 'lower-case letters, digits, "_" and "-"'),
  name: z.string().min(1),
  visual_identity: visualIdentitySchema,
});

export type CharacterLora = z.infer<typeof loraSchema>;
export type VisualIdentity = z.infer<typeof visualIdentitySchema>;
export type Character = z.infer<typeof characterSchema>;
