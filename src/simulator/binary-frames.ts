/**
 * Binary WebSocket frames (protocol.py / server.py): a big-endian uint32 event type, then the
 * event's own header. Event 1 = preview image (format word), 3 = progress text, 4 = preview with
 * a JSON metadata block.
 */
export const previewFormatPng = 2;

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

export function legacyPreviewFrame(image: Buffer, format = previewFormatPng): Buffer {
  return Buffer.concat([u32(1), u32(format), image]);
}

export function progressTextFrame(nodeId: string, text: string): Buffer {
  const id = Buffer.from(nodeId, 'utf8');
  return Buffer.concat([u32(3), u32(id.length), id, Buffer.from(text, 'utf8')]);
}

export function metadataPreviewFrame(image: Buffer, metadata: Record<string, unknown>): Buffer {
  const json = Buffer.from(JSON.stringify(metadata), 'utf8');
  return Buffer.concat([u32(4), u32(json.length), json, image]);
}
