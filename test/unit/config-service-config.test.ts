import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { applyEnvOverrides, loadServiceConfig, parseServiceConfig } from '../../src/config/index.js';
import { ChorusError } from '../../src/errors/index.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function writeConfig(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cv-config-'));
  dirs.push(dir);
  const path = join(dir, 'chorus-visual.yaml');
  await writeFile(path, text);
  return path;
}

function expectConfigError(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ChorusError);
    expect((error as ChorusError).code).toBe('CONFIG_INVALID');
    expect((error as ChorusError).message).toMatch(pattern);
    return;
  }
  throw new Error('expected a CONFIG_INVALID error');
}

describe('service config', () => {
  it('loads the original design keys and derives one backend from comfyui.url', () => {
    const config = parseServiceConfig({
      comfyui: {
        url: 'http://gpu-box:8188',
        timeout_seconds: 120,
        connection_retry_attempts: 5,
        connection_retry_backoff: 1.5,
        polling: { initial_interval_seconds: 1, max_interval_seconds: 4 },
        queue: { max_concurrent_jobs: 3, max_queue_size: 25 },
        file_management: { output_directory: '/srv/comfy/output', move_files: false, cleanup_comfy_outputs: false },
        defaults: { steps: 20, cfg: 7, width: 768, height: 768 },
      },
    });
    expect(config.resolvedBackends).toEqual([
      expect.objectContaining({ name: 'default', url: 'http://gpu-box:8188', max_concurrent: 3, output_directory: '/srv/comfy/output' }),
    ]);
    // The original flag still decides what happens to a file found on this machine.
    expect(config).toMatchObject({ collectMode: 'auto', localCollectMode: 'copy' });
    expect(config.comfyui.queue.max_queue_size).toBe(25);
    expect(config.comfyui.defaults.steps).toBe(20);
  });

  it('fills every default from an empty file', () => {
    const config = parseServiceConfig({});
    expect(config.comfyui.timeout_seconds).toBe(300);
    expect(config.comfyui.polling.initial_interval_seconds).toBe(2);
    expect(config.database.url).toBe('sqlite:data/chorus-visual.db');
    expect(config).toMatchObject({ collectMode: 'auto', localCollectMode: 'move' });
    expect(config.resolvedBackends).toHaveLength(1);
  });

  it('names the bad key in its message', () => {
    expectConfigError(() => parseServiceConfig({ comfyui: { queue: { max_queue_size: -1 } } }), /comfyui\.queue\.max_queue_size/);
    expectConfigError(() => parseServiceConfig({ comfyui: { timeout_secnds: 3 } }), /timeout_secnds/);
    expectConfigError(() => parseServiceConfig({ comfyui: { backends: [{ name: 'a', url: 'ftp://x' }] } }), /comfyui\.backends\.0\.url/);
  });

  it('refuses two backends with one name', () => {
    expectConfigError(
      () =>
        parseServiceConfig({
          comfyui: {
            backends: [
              { name: 'a', url: 'http://a:1' },
              { name: 'a', url: 'http://b:1' },
            ],
          },
        }),
      /used twice/,
    );
  });

  it('applies CHORUS_VISUAL_* overrides with their types', () => {
    const raw = applyEnvOverrides(
      { comfyui: { queue: { max_queue_size: 10 } } },
      {
        CHORUS_VISUAL_DATABASE_URL: 'sqlite:/tmp/x.db',
        CHORUS_VISUAL_COMFYUI_QUEUE_MAX_QUEUE_SIZE: '40',
        CHORUS_VISUAL_NATS_SERVERS: '["nats://a:4222", "nats://b:4222"]',
        CHORUS_VISUAL_HTTP_ENABLED: 'false',
        UNRELATED: 'x',
      },
    );
    const config = parseServiceConfig(raw);
    expect(config.database.url).toBe('sqlite:/tmp/x.db');
    expect(config.comfyui.queue.max_queue_size).toBe(40);
    expect(config.nats.servers).toEqual(['nats://a:4222', 'nats://b:4222']);
    expect(config.http.enabled).toBe(false);
  });

  it('rejects an environment variable that names no key', () => {
    expectConfigError(() => applyEnvOverrides({}, { CHORUS_VISUAL_DATABSE_URL: 'x' }), /CHORUS_VISUAL_DATABSE_URL/);
  });

  it('reads the YAML file, and the shipped config is valid', async () => {
    const path = await writeConfig('comfyui:\n  url: "http://127.0.0.1:9999"\n  queue:\n    max_queue_size: 7\n');
    const config = await loadServiceConfig({ path, env: {} });
    expect(config.resolvedBackends[0]!.url).toBe('http://127.0.0.1:9999');
    expect(config.comfyui.queue.max_queue_size).toBe(7);
    const shipped = await loadServiceConfig({ path: 'config/chorus-visual.yaml', env: {} });
    expect(shipped.comfyui.queue.max_concurrent_jobs).toBe(2);
  });

  it('reports a missing explicit file and a non-mapping file', async () => {
    await expect(loadServiceConfig({ path: '/nonexistent/cv.yaml', env: {} })).rejects.toThrow(/does not exist/);
    const path = await writeConfig('- a\n- b\n');
    await expect(loadServiceConfig({ path, env: {} })).rejects.toThrow(/mapping/);
  });
});
