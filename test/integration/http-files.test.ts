import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { gradientPng } from '../support/fake-http-ports.js';
import { rawRequest, startHttpHarness, type HttpHarness } from '../support/http-test-harness.js';

let h: HttpHarness;
const png = gradientPng(8, 8);
const get = (target: string) => rawRequest(h.server.port, 'GET', target);

beforeEach(async () => {
  h = await startHttpHarness();
  await mkdir(path.join(h.dataDir, 'conversations', 'c1', 'images'), { recursive: true });
  await mkdir(path.join(h.dataDir, 'conversations', 'c1', 'videos'), { recursive: true });
  await writeFile(path.join(h.dataDir, 'conversations', 'c1', 'images', 'job 1.png'), png);
  await writeFile(path.join(h.dataDir, 'conversations', 'c1', 'videos', 'clip.webm'), Buffer.from('webm-bytes'));
  await writeFile(path.join(h.dataDir, 'conversations', 'c1', 'notes.txt'), 'not media');
  await writeFile(path.join(h.dataDir, 'chorus-visual.db'), 'SQLite format 3');
});
afterEach(async () => {
  await h.close();
});

describe('GET /files/<path>', () => {
  it('serves an output file with its Content-Type and exact bytes (encoded names too)', async () => {
    const res = await get('/files/conversations/c1/images/job%201.png');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/png');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(Number(res.headers['content-length'])).toBe(png.length);
    expect(res.body.equals(png)).toBe(true);
    const video = await get('/files/conversations/c1/videos/clip.webm');
    expect(video.headers['content-type']).toBe('video/webm');
  });

  it('answers HEAD with headers and no body', async () => {
    const res = await rawRequest(h.server.port, 'HEAD', '/files/conversations/c1/images/job%201.png');
    expect(res.status).toBe(200);
    expect(Number(res.headers['content-length'])).toBe(png.length);
    expect(res.body.length).toBe(0);
  });

  it('404s a missing file with OUTPUT_FILE_NOT_FOUND', async () => {
    const res = await get('/files/conversations/c1/images/nope.png');
    expect(res.status).toBe(404);
    expect(res.json().error.code).toBe('OUTPUT_FILE_NOT_FOUND');
  });

  it.each([
    ['/files/../chorus-visual.db', 'dot-dot'],
    ['/files/conversations/../chorus-visual.db', 'dot-dot inside'],
    ['/files/conversations/%2e%2e/chorus-visual.db', 'encoded dot-dot'],
    ['/files/conversations/c1%2f..%2f..%2fchorus-visual.db', 'encoded slashes'],
    ['/files/conversations/c1/..%5c..%5cchorus-visual.db', 'encoded backslashes'],
    ['/files/%2fetc%2fpasswd', 'encoded absolute path'],
    ['/files//etc/passwd.png', 'double slash absolute'],
    ['/files/conversations/c1/images/x.png%00.txt', 'NUL byte'],
    ['/files/conversations/c1/%E0%A4%A', 'broken percent-encoding'],
    ['/files/chorus-visual.db', 'outside conversations/'],
    ['/files/conversations/c1/notes.txt', 'not a media type'],
    ['/files/conversations/./c1/images/job%201.png', 'dot segment'],
  ])('refuses %s (%s) with a 400 envelope', async (target) => {
    const res = await get(target);
    expect(res.status).toBe(400);
    const body = res.json();
    expect(body.ok).toBe(false);
    expect(body.error.code).toBe('INVALID_COMMAND');
    expect(body.error.message).toMatch(/refused file path/);
  });

  it('refuses a symlink that leads out of the data folder', async () => {
    await symlink(path.join(h.dataDir, 'chorus-visual.db'), path.join(h.dataDir, 'conversations', 'c1', 'images', 'sneaky.png'));
    const res = await get('/files/conversations/c1/images/sneaky.png');
    expect(res.status).toBe(400);
    expect(res.body.toString()).not.toContain('SQLite');
  });

  it('refuses writes', async () => {
    const res = await rawRequest(h.server.port, 'PUT', '/files/conversations/c1/images/job%201.png', { body: 'x' });
    expect(res.status).toBe(405);
  });
});
