import { describe, expect, it } from 'vitest';
import { fetchObjectInfo } from '../../src/workflows/index.js';

describe('fetchObjectInfo', () => {
  it('a base URL that is not a URL is CONFIG_INVALID naming it, not a bare ERR_INVALID_URL', async () => {
    await expect(fetchObjectInfo('not-a-url', 1_000)).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: '"not-a-url" is not a URL of a ComfyUI server',
      details: { url: 'not-a-url' },
    });
  });
});
