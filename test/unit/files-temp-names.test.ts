import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isTempNameOf, tempNameFor } from '../../src/files/temp-file-writer.js';

describe('temp names', () => {
  it('recognises the names tempNameFor makes, for that destination only', () => {
    const temp = path.basename(tempNameFor('/data/conversations/c1/images/job.png'));
    expect(temp).toMatch(/^\.job\.png\.[0-9a-f]{8}\.partial$/);
    expect(isTempNameOf(temp, 'job.png')).toBe(true);
    expect(isTempNameOf(temp, 'job')).toBe(false);
    expect(isTempNameOf(temp, 'job.pn')).toBe(false);
  });

  it('leaves names that only look alike', () => {
    for (const entry of [
      'job.png',
      '.job.png.partial',
      '.job.png.1234567.partial',
      '.job.png.123456789.partial',
      '.job.png.ABCDEF12.partial',
      '.job.png.x.12345678.partial',
    ]) {
      expect(isTempNameOf(entry, 'job.png')).toBe(false);
    }
  });
});
