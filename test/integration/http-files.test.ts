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
  // Servable types outside conversations/: what a traversal aims at when the type filter
  // would otherwise refuse it, so each path check below is the only thing in the way.
  await mkdir(path.join(h.dataDir, 'other'), { recursive: true });
  await writeFile(path.join(h.dataDir, 'secret.png'), png);
  await writeFile(path.join(h.dataDir, 'secret.json'), '{"secret":true}');
  await writeFile(path.join(h.dataDir, 'other', 'x.png'), png);
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

  // Each case names the one check that must refuse it. The targets are servable types
  // (.png, .json) that exist, so with that check gone the request would be served or be
  // refused for another reason — either way this test fails.
  it.each([
    ['/files/conversations/../secret.png', 'dot_segment'],
    ['/files/conversations/c1/../../secret.json', 'dot_segment'],
    ['/files/conversations/%2e%2e/secret.png', 'dot_segment'],
    ['/files/conversations/./c1/images/job%201.png', 'dot_segment'],
    ['/files/conversations/c1/..%2f..%2fsecret.png', 'separator_in_segment'],
    ['/files/conversations/c1/..%5c..%5csecret.json', 'separator_in_segment'],
    ['/files/conversations/c1/images/x.png%00.png', 'separator_in_segment'],
    ['/files/conversations/c1/C:secret.png', 'separator_in_segment'],
    ['/files//etc/passwd.png', 'empty_segment'],
    ['/files/conversations//secret.png', 'empty_segment'],
    ['/files/other/x.png', 'outside_conversations'],
    ['/files/secret.json', 'outside_conversations'],
    ['/files/conversations/c1/%E0%A4%A.png', 'bad_percent_encoding'],
    ['/files/conversations/c1/notes.txt', 'file_type_not_served'],
    ['/files/conversations/c1/images/job%201.PNG.db', 'file_type_not_served'],
  ])('refuses %s because of %s, with a 400 envelope naming it', async (target, reason) => {
    const res = await get(target);
    expect(res.status).toBe(400);
    const body = res.json();
    expect(body.ok).toBe(false);
    expect(body.error.code).toBe('INVALID_COMMAND');
    expect(body.error.message).toMatch(/refused file path/);
    expect(body.error.details.reason).toBe(reason);
    expect(res.body.toString()).not.toMatch(/secret":true|PNG\r\n/);
  });

  it('refuses a symlink that leads out of conversations/ (resolves_outside), for a servable type', async () => {
    await symlink(path.join(h.dataDir, 'secret.png'), path.join(h.dataDir, 'conversations', 'c1', 'images', 'sneaky.png'));
    await symlink(path.join(h.dataDir, 'other'), path.join(h.dataDir, 'conversations', 'c1', 'linked'));
    for (const target of ['/files/conversations/c1/images/sneaky.png', '/files/conversations/c1/linked/x.png']) {
      const res = await get(target);
      expect(res.status, target).toBe(400);
      expect(res.json().error.details.reason, target).toBe('resolves_outside');
    }
  });

  it('serves a symlink that stays inside conversations/', async () => {
    await symlink(path.join(h.dataDir, 'conversations', 'c1', 'images', 'job 1.png'), path.join(h.dataDir, 'conversations', 'c1', 'images', 'alias.png'));
    const res = await get('/files/conversations/c1/images/alias.png');
    expect(res.status).toBe(200);
    expect(res.body.equals(png)).toBe(true);
  });

  it('refuses writes', async () => {
    const res = await rawRequest(h.server.port, 'PUT', '/files/conversations/c1/images/job%201.png', { body: 'x' });
    expect(res.status).toBe(405);
  });
});
