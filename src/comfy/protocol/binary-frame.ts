import { z } from 'zod';

/**
 * Binary WebSocket frames (§5.6): a big-endian uint32 event type, then
 *  1 PREVIEW_IMAGE: uint32 format (1 = JPEG, 2 = PNG) + image bytes
 *  3 TEXT: uint32 node-id length + node id + UTF-8 text
 *  4 PREVIEW_IMAGE_WITH_METADATA: uint32 metadata length + JSON metadata + image bytes
 */
export const BinaryEventType = { PREVIEW_IMAGE: 1, TEXT: 3, PREVIEW_IMAGE_WITH_METADATA: 4 } as const;

export const previewMetadataSchema = z.looseObject({
  node_id: z.string().nullish(),
  prompt_id: z.string().nullish(),
  display_node_id: z.string().nullish(),
  parent_node_id: z.string().nullish(),
  real_node_id: z.string().nullish(),
  image_type: z.string().nullish(),
});
export type PreviewMetadata = z.infer<typeof previewMetadataSchema>;

export type BinaryFrame =
  | { kind: 'preview'; mediaType: string; bytes: Buffer; metadata?: PreviewMetadata }
  | { kind: 'text'; nodeId: string; text: string }
  | { kind: 'unknown'; eventType: number; bytes: Buffer }
  | { kind: 'malformed'; reason: string };

const imageFormats: Record<number, string> = { 1: 'image/jpeg', 2: 'image/png' };

export function decodeBinaryFrame(frame: Buffer): BinaryFrame {
  if (frame.length < 8) return { kind: 'malformed', reason: `frame of ${frame.length} bytes is shorter than its header` };
  const eventType = frame.readUInt32BE(0);
  const word = frame.readUInt32BE(4);
  switch (eventType) {
    case BinaryEventType.PREVIEW_IMAGE:
      return { kind: 'preview', mediaType: imageFormats[word] ?? 'application/octet-stream', bytes: frame.subarray(8) };
    case BinaryEventType.TEXT: {
      if (8 + word > frame.length) return { kind: 'malformed', reason: `node id length ${word} runs past the frame` };
      return {
        kind: 'text',
        nodeId: frame.subarray(8, 8 + word).toString('utf8'),
        text: frame.subarray(8 + word).toString('utf8'),
      };
    }
    case BinaryEventType.PREVIEW_IMAGE_WITH_METADATA:
      return decodePreviewWithMetadata(frame, word);
    default:
      return { kind: 'unknown', eventType, bytes: frame.subarray(4) };
  }
}

function decodePreviewWithMetadata(frame: Buffer, metadataLength: number): BinaryFrame {
  if (8 + metadataLength > frame.length) {
    return { kind: 'malformed', reason: `metadata length ${metadataLength} runs past the frame` };
  }
  let json: unknown;
  try {
    json = JSON.parse(frame.subarray(8, 8 + metadataLength).toString('utf8'));
  } catch {
    return { kind: 'malformed', reason: 'preview metadata is not JSON' };
  }
  const metadata = previewMetadataSchema.safeParse(json);
  if (!metadata.success) return { kind: 'malformed', reason: 'preview metadata has an unexpected shape' };
  return {
    kind: 'preview',
    mediaType: metadata.data.image_type ?? 'application/octet-stream',
    bytes: frame.subarray(8 + metadataLength),
    metadata: metadata.data,
  };
}
