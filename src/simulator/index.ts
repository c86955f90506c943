/** The ComfyUI 0.3.64 simulator: public surface. */
export { startSimulator } from './simulator-server.js';
export type { SimulatorOptions, SimulatorStats, SimulatorFaults, SimulatorHandle } from './simulator-types.js';
export { simulatedModels } from './simulated-models.js';
export { legacyPreviewFrame, metadataPreviewFrame, progressTextFrame } from './binary-frames.js';
