/**
 * A workflow's type (image, video, audio) is declared in its metadata or inferred from the
 * nodes that save its outputs: the collector files outputs by type, so this must be right.
 */
import type { ApiPrompt } from '../comfy/backend-port.js';
import type { WorkflowType } from './workflow-definition.js';

const audioOutputs = /^(SaveAudio|SaveAudioMP3|SaveAudioOpus|PreviewAudio)$/;
const videoOutputs = /^(SaveAnimatedWEBP|SaveAnimatedPNG|SaveWEBM|SaveVideo|VHS_VideoCombine)$/;
/** Known output classes, for the structural check when no /object_info is at hand. */
const knownOutputs = /^(SaveImage|PreviewImage|PreviewAny|SaveLatent|SaveImageWebsocket|Image Save)$/;

export function isLikelyOutputNode(classType: string): boolean {
  return audioOutputs.test(classType) || videoOutputs.test(classType) || knownOutputs.test(classType) || /^(Save|Preview)/.test(classType);
}

export function inferWorkflowType(graph: ApiPrompt): WorkflowType {
  const classes = Object.values(graph).map((n) => n.class_type);
  if (classes.some((c) => videoOutputs.test(c))) return 'video';
  if (classes.some((c) => audioOutputs.test(c))) return 'audio';
  return 'image';
}
