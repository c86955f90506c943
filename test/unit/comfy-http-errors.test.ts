import { describe, expect, it } from 'vitest';
import { promptRejectedError, promptRejectionSchema, unavailableError, describeNetworkFailure } from '../../src/comfy/index.js';
import { ErrorCode } from '../../src/errors/index.js';

const context = { backend: 'local', url: 'http://127.0.0.1:8188', path: '/prompt', status: 400 };

describe('promptRejectedError', () => {
  it('names each failing node and input readably, without repeating the input name', () => {
    const rejection = promptRejectionSchema.parse({
      error: { type: 'prompt_outputs_failed_validation', message: 'Prompt outputs failed validation', details: '', extra_info: {} },
      node_errors: {
        '4': {
          errors: [
            {
              type: 'value_not_in_list',
              message: 'Value not in list',
              details: "ckpt_name: 'sdxl.safetensors' not in []",
              extra_info: { input_name: 'ckpt_name', input_config: null, received_value: 'sdxl.safetensors' },
            },
          ],
          dependent_outputs: ['9'],
          class_type: 'CheckpointLoaderSimple',
        },
        '1': {
          errors: [{ type: 'required_input_missing', message: 'Required input is missing', details: 'width', extra_info: { input_name: 'width' } }],
          dependent_outputs: ['2'],
          class_type: 'EmptyImage',
        },
      },
    });
    const error = promptRejectedError(rejection, context);
    expect(error.code).toBe(ErrorCode.WORKFLOW_NODE_ERROR);
    expect(error.recoverable).toBe(false);
    expect(error.message).toContain("node 4 (CheckpointLoaderSimple): ckpt_name: Value not in list: 'sdxl.safetensors' not in []");
    expect(error.message).toContain('node 1 (EmptyImage): width: Required input is missing');
    expect(error.message).not.toContain('width: Required input is missing: width');
    expect(error.details).toMatchObject({
      error: { type: 'prompt_outputs_failed_validation', details: '', extra_info: {} },
      node_errors: { '4': { class_type: 'CheckpointLoaderSimple' } },
      // Integer-like keys come out in numeric order (JS object key order).
      nodes: [
        { node_id: '1', class_type: 'EmptyImage', errors: [{ type: 'required_input_missing', input_name: 'width', details: 'width' }] },
        { node_id: '4', class_type: 'CheckpointLoaderSimple', errors: [{ type: 'value_not_in_list', input_name: 'ckpt_name' }] },
      ],
    });
  });

  it('uses the prompt-level error when no node is to blame', () => {
    const rejection = promptRejectionSchema.parse({
      error: { type: 'invalid_prompt', message: 'Cannot execute because node NoSuchNode does not exist.', details: "Node ID '#1'", extra_info: {} },
      node_errors: {},
    });
    const error = promptRejectedError(rejection, context);
    expect(error.message).toBe("ComfyUI local rejected the prompt: Cannot execute because node NoSuchNode does not exist.: Node ID '#1'");
    expect(error.details).toMatchObject({ nodes: [], error: { type: 'invalid_prompt' } });
  });
});

describe('unavailableError', () => {
  it('is recoverable, keeps the cause and says where', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const error = unavailableError({ backend: 'b', url: 'http://127.0.0.1:1', path: '/queue' }, describeNetworkFailure(cause), cause);
    expect(error.code).toBe(ErrorCode.COMFY_UNAVAILABLE);
    expect(error.recoverable).toBe(true);
    expect(error.cause).toBe(cause);
    expect(error.message).toContain('connection refused');
    // Refused: no connection was made, so nothing was sent (a POST's retry need not look first).
    expect(error.details).toEqual({ backend: 'b', url: 'http://127.0.0.1:1', path: '/queue', sent: false });
  });

  it('describes undici timeouts and resets found in the cause chain', () => {
    expect(describeNetworkFailure({ code: 'UND_ERR_HEADERS_TIMEOUT' })).toBe('request timed out');
    expect(describeNetworkFailure(new Error('x', { cause: { code: 'ECONNRESET' } }))).toBe('connection reset');
    expect(describeNetworkFailure(Object.assign(new Error('t'), { name: 'TimeoutError' }))).toBe('request timed out');
  });
});
