export type {
  WorkflowType,
  WorkflowDefinition,
  PlaceholderUse,
  WorkflowFacts,
  LoraFact,
  WorkflowMetadata,
  ValidationIssue,
  ValidationReport,
} from './workflow-definition.js';
export { placeholderTokens, type InjectionKey, type PlaceholderToken } from './placeholder-tokens.js';
export {
  WorkflowLibrary,
  workflowNameOf,
  type WorkflowLibraryOptions,
  type WorkflowProblem,
  type WorkflowLimitExceeded,
  type WorkflowChange,
} from './workflow-library.js';
export { parseWorkflowJson } from './workflow-file-parser.js';
export { validateStructure } from './structure-validator.js';
export { validateAgainstObjectInfo, suggestNames, type ObjectInfoValidationOptions } from './object-info-validator.js';
export {
  injectWorkflow,
  randomSeed,
  MAX_SEED,
  type InjectionValues,
  type InjectionOptions,
  type InjectionResult,
  type AppliedLora,
} from './workflow-injector.js';
export { isUiFormat, convertUiToApi } from './ui-format-converter.js';
export { objectInfoSchema, type ObjectInfo } from './object-info-spec.js';
export { fetchObjectInfo } from './object-info-fetcher.js';
export { ReferenceImageUploader } from './reference-image-uploader.js';
export type { LoraSpec } from './character-lora-chain.js';
export { scanPlaceholders } from './placeholder-scanner.js';
export { readWorkflowFacts } from './workflow-facts-reader.js';
export { modelFilesOf } from './model-files-reader.js';
export { inferWorkflowType } from './workflow-type-inference.js';
