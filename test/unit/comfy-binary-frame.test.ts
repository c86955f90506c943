import { describe, expect, it } from 'vitest';
import { decodeBinaryFrame } from '../../src/comfy/index.js';

const u32 = (value: number) => {
  const buffer = Buffer.alloc(4);
  buffer.writeUInt32BE(value);
  return buffer;
};
const jpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);

describe('decodeBinaryFrame', () => {
  it('decodes event 1 (legacy preview) with its image format word', () => {
    expect(decodeBinaryFrame(Buffer.concat([u32(1), u32(1), jpeg]))).toEqual({ kind: 'preview', mediaType: 'image/jpeg', bytes: jpeg });
    const png = decodeBinaryFrame(Buffer.concat([u32(1), u32(2), Buffer.from('png')]));
    expect(png).toMatchObject({ kind: 'preview', mediaType: 'image/png' });
  });

  it('decodes event 3 (progress text) into node id and text', () => {
    const text = 'width: 40, height: 30\n batch size: 2';
    const frame = Buffer.concat([u32(3), u32(1), Buffer.from('2'), Buffer.from(text)]);
    expect(decodeBinaryFrame(frame)).toEqual({ kind: 'text', nodeId: '2', text });
  });

  it('decodes event 4 (preview with metadata) like the recorded 166-byte header', () => {
    const metadata = {
      node_id: '2',
      prompt_id: 'd30d3f96-9679-4eed-9618-b4c5eef3c688',
      display_node_id: '2',
      parent_node_id: null,
      real_node_id: '2',
      image_type: 'image/jpeg',
    };
    const json = Buffer.from(JSON.stringify(metadata));
    const frame = Buffer.concat([u32(4), u32(json.length), json, jpeg]);
    expect(frame.subarray(0, 8).toString('hex').slice(0, 8)).toBe('00000004');
    const decoded = decodeBinaryFrame(frame);
    expect(decoded).toMatchObject({ kind: 'preview', mediaType: 'image/jpeg', metadata: { prompt_id: metadata.prompt_id, node_id: '2' } });
    expect(decoded.kind === 'preview' && decoded.bytes.equals(jpeg)).toBe(true);
  });

  it('reports truncated and inconsistent frames as malformed, unknown events as unknown', () => {
    expect(decodeBinaryFrame(Buffer.from([0, 0, 0, 1]))).toMatchObject({ kind: 'malformed' });
    expect(decodeBinaryFrame(Buffer.concat([u32(3), u32(50), Buffer.from('x')]))).toMatchObject({ kind: 'malformed' });
    expect(decodeBinaryFrame(Buffer.concat([u32(4), u32(3), Buffer.from('{x}')]))).toMatchObject({ kind: 'malformed' });
    expect(decodeBinaryFrame(Buffer.concat([u32(9), u32(0)]))).toMatchObject({ kind: 'unknown', eventType: 9 });
  });
});
