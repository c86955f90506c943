import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadServiceConfig } from '../../src/config/index.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function configIn(text: string): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'cv-config-paths-'));
  dirs.push(dir);
  await mkdir(join(dir, 'etc'));
  const file = join(dir, 'etc', 'cv.yaml');
  await writeFile(file, text);
  return { dir, file };
}

describe('relative paths in a config file', () => {
  it('are relative to its folder, for every path key', async () => {
    const { dir, file } = await configIn(
      [
        'data_dir: data',
        'workflows_dir: ../wf',
        'characters_dir: ./chars',
        'database:\n  url: "sqlite:db/jobs.db"',
        'comfyui:',
        '  file_management:\n    output_directory: ../comfy/out',
        '  backends:\n    - { name: a, url: "http://a:1", output_directory: a-out }\n    - { name: b, url: "http://b:1", output_directory: /srv/b }',
        'nats:\n  creds_file: nats.creds\n  nkey_file: nkey.seed\n  tls: { ca_file: tls/ca.pem, cert_file: tls/cert.pem, key_file: /keys/key.pem }',
        '',
      ].join('\n'),
    );
    const etc = join(dir, 'etc');
    const config = await loadServiceConfig({ path: file, env: {} });
    expect(config).toMatchObject({ data_dir: join(etc, 'data'), workflows_dir: join(dir, 'wf'), characters_dir: join(etc, 'chars') });
    expect(config.database.url).toBe(`sqlite:${join(etc, 'db', 'jobs.db')}`);
    expect(config.comfyui.file_management.output_directory).toBe(join(dir, 'comfy', 'out'));
    expect(config.resolvedBackends.map((b) => b.output_directory)).toEqual([join(etc, 'a-out'), '/srv/b']);
    expect(config.nats).toMatchObject({
      creds_file: join(etc, 'nats.creds'),
      nkey_file: join(etc, 'nkey.seed'),
      tls: { ca_file: join(etc, 'tls', 'ca.pem'), cert_file: join(etc, 'tls', 'cert.pem'), key_file: '/keys/key.pem' },
    });
  });

  it('the default database follows a relative data_dir; sqlite://, :memory: and postgres URLs', async () => {
    const { dir, file } = await configIn('data_dir: state\n');
    expect((await loadServiceConfig({ path: file, env: {} })).database.url).toBe(`sqlite:${join(dir, 'etc', 'state', 'chorus-visual.db')}`);
    for (const [url, expected] of [
      ['sqlite://rel.db', `sqlite:${join(dir, 'etc', 'rel.db')}`],
      ['sqlite::memory:', 'sqlite::memory:'],
      ['sqlite:/abs/x.db', 'sqlite:/abs/x.db'],
      ['postgres://u@h/db', 'postgres://u@h/db'],
    ]) {
      await writeFile(file, `database:\n  url: "${url}"\n`);
      expect((await loadServiceConfig({ path: file, env: {} })).database.url).toBe(expected);
    }
  });

  it('a variable or the defaults stay relative to the working directory', async () => {
    const { file } = await configIn('workflows_dir: wf\n');
    const config = await loadServiceConfig({ path: file, env: { CHORUS_VISUAL_DATA_DIR: 'env-data', CHORUS_VISUAL_WORKFLOWS_DIR: 'env-wf' } });
    expect(config).toMatchObject({ data_dir: 'env-data', workflows_dir: 'env-wf', characters_dir: 'config/characters' });
    expect(config.database.url).toBe('sqlite:env-data/chorus-visual.db');
  });

  it('the shipped config names the same places as before, from the project folder', async () => {
    const shipped = await loadServiceConfig({ path: 'config/chorus-visual.yaml', env: {} });
    expect(shipped).toMatchObject({
      data_dir: resolve('data'),
      workflows_dir: resolve('workflows'),
      characters_dir: resolve('config', 'characters'),
    });
    expect(shipped.database.url).toBe(`sqlite:${resolve('data', 'chorus-visual.db')}`);
    expect(shipped.comfyui.file_management.output_directory).toBe(resolve('ComfyUI', 'output'));
  });
});
