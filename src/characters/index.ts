export { CharacterRegistry, type CharacterProblem, type CharacterChange } from './character-registry.js';
export { characterSchema, visualIdentitySchema, loraSchema, type Character, type VisualIdentity, type CharacterLora } from './character-schema.js';
