import { describe, expect, it } from 'vitest';
import { ChorusError } from '../../src/errors/index.js';
import { assertComfyFileType, assertResolvedInside, assertSafeFilename, assertSafeId, assertSafeSubfolder } from '../../src/files/safe-path-guard.js';

function refusal(action: () => void): ChorusError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(ChorusError);
    return error as ChorusError;
  }
  throw new Error('expected a refusal');
}

describe('safe path guard', () => {
  it('accepts the names ComfyUI really produces', () => {
    for (const name of ['proto_s01_00001_.png', 'media_vid_00001_.mp4', 'upload (1).png', 'Bild_ä_00001_.webp', 'ComfyUI_temp_mddnu_00001_.png']) {
      expect(() => assertSafeFilename(name)).not.toThrow();
    }
    for (const folder of ['', 'video', 'audio/take 2']) expect(() => assertSafeSubfolder(folder)).not.toThrow();
    for (const id of ['job-1', '0f8c7a4e-3d43-4d1c-9a8a-2b5a3d9e1f00', 'conv_42']) expect(() => assertSafeId('job_id', id)).not.toThrow();
  });

  it.each([
    ['parent traversal', '..'],
    ['traversal inside', '../../etc/passwd'],
    ['absolute path', '/etc/passwd'],
    ['backslash', '..\\secret.png'],
    ['NUL byte', 'a\u0000.png'],
    ['hidden file', '.bashrc'],
    ['shell characters', 'x;rm -rf.png'],
    ['newline', 'a\nb.png'],
    ['empty', ''],
    ['trailing dot', 'image.'],
  ])('refuses a filename with %s', (_label, name) => {
    const error = refusal(() => assertSafeFilename(name));
    expect(error.code).toBe('FILE_MOVE_FAILED');
    expect(error.recoverable).toBe(false);
    expect(error.details).toMatchObject({ reason: 'unsafe_path', field: 'filename', value: name });
  });

  it.each(['..', '../output', 'a/../../b', '/abs', 'a//b', 'a\\b', 'a/./b', 'video/'])('refuses subfolder %j', (folder) => {
    expect(refusal(() => assertSafeSubfolder(folder)).details).toMatchObject({ reason: 'unsafe_path', field: 'subfolder' });
  });

  it.each(['..', '../x', 'a/b', '', '.hidden', 'a b', 'x'.repeat(129), 'a\u0000'])('refuses id %j', (id) => {
    expect(refusal(() => assertSafeId('conversation_id', id)).details).toMatchObject({ reason: 'unsafe_path', field: 'conversation_id' });
  });

  it('accepts only ComfyUI folder types', () => {
    expect(() => assertComfyFileType('output')).not.toThrow();
    expect(refusal(() => assertComfyFileType('../output')).details).toMatchObject({ field: 'type' });
  });

  it('refuses a resolved path outside (or equal to) its root', () => {
    expect(() => assertResolvedInside('f', '/data', '/data/conversations/c/images')).not.toThrow();
    expect(refusal(() => assertResolvedInside('f', '/data', '/etc')).code).toBe('FILE_MOVE_FAILED');
    expect(refusal(() => assertResolvedInside('f', '/data', '/data-other/x')).code).toBe('FILE_MOVE_FAILED');
    expect(refusal(() => assertResolvedInside('f', '/data', '/data')).code).toBe('FILE_MOVE_FAILED');
  });
});
