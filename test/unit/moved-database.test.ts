/**
 * A config file's relative database path read the old way (working folder) and the new way
 * (the file's folder): which differ, and when the difference would hide an existing database.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { databaseLeftBehind, movedDatabase, readServiceConfig } from '../../src/config/index.js';
import { ErrorCode } from '../../src/errors/index.js';

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

const none = () => false;

describe('movedDatabase', () => {
  it('reads data_dir (no database.url) and a relative sqlite: url both ways', () => {
    expect(movedDatabase({ data_dir: 'data' }, 'config/cv.yaml', none, '/p')).toEqual({
      configFile: 'config/cv.yaml',
      folder: '/p/config',
      key: 'data_dir',
      written: 'data',
      before: '/p/data/chorus-visual.db',
      now: '/p/config/data/chorus-visual.db',
    });
    for (const url of ['sqlite:db/jobs.db', 'sqlite://db/jobs.db']) {
      expect(movedDatabase({ data_dir: 'data', database: { url } }, 'config/cv.yaml', none, '/p')).toMatchObject({
        key: 'database.url',
        written: url,
        before: '/p/db/jobs.db',
        now: '/p/config/db/jobs.db',
      });
    }
  });

  it('is nothing where both readings agree or the file does not name the database by a relative path', () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ data_dir: 'data' }, 'cv.yaml'], // the config file is in the working folder
      [{ data_dir: '/srv/data' }, 'config/cv.yaml'],
      [{}, 'config/cv.yaml'], // the default data_dir is relative to the working folder both ways
      [{ data_dir: 'data', database: { url: 'sqlite::memory:' } }, 'config/cv.yaml'],
      [{ data_dir: 'data', database: { url: 'sqlite:/srv/jobs.db' } }, 'config/cv.yaml'],
      [{ data_dir: 'data', database: { url: 'postgres://u@h/db' } }, 'config/cv.yaml'],
    ];
    for (const [parsed, file] of cases) expect(movedDatabase(parsed, file, none, '/p'), JSON.stringify(parsed)).toBeUndefined();
  });

  it('is nothing when a variable or flag sets the database (its paths stay relative to the working folder)', () => {
    const sets = (key: string) => (path: readonly string[]) => path.join('.') === key;
    expect(movedDatabase({ data_dir: 'data' }, 'config/cv.yaml', sets('database.url'), '/p')).toBeUndefined();
    expect(movedDatabase({ data_dir: 'data' }, 'config/cv.yaml', sets('data_dir'), '/p')).toBeUndefined();
    // data_dir set by a variable does not move a database.url the file names.
    expect(movedDatabase({ database: { url: 'sqlite:jobs.db' } }, 'config/cv.yaml', sets('data_dir'), '/p')).toMatchObject({ key: 'database.url' });
  });

  it('comes from readServiceConfig, and not for a variable that sets the key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cv-moved-'));
    dirs.push(dir);
    const file = join(dir, 'cv.yaml');
    await writeFile(file, 'data_dir: cv-moved-state\n');
    expect((await readServiceConfig({ path: file, env: {} })).movedDatabase).toMatchObject({
      before: join(process.cwd(), 'cv-moved-state', 'chorus-visual.db'),
      now: join(dir, 'cv-moved-state', 'chorus-visual.db'),
    });
    expect((await readServiceConfig({ path: file, env: { CHORUS_VISUAL_DATA_DIR: 'x' } })).movedDatabase).toBeUndefined();
  });
});

describe('databaseLeftBehind', () => {
  async function places(): Promise<{ folder: string; before: string; now: string }> {
    const dir = await mkdtemp(join(tmpdir(), 'cv-moved-'));
    dirs.push(dir);
    await Promise.all([mkdir(join(dir, 'data')), mkdir(join(dir, 'config', 'data'), { recursive: true })]);
    return { folder: join(dir, 'config'), before: join(dir, 'data', 'chorus-visual.db'), now: join(dir, 'config', 'data', 'chorus-visual.db') };
  }
  const moved = (p: { folder: string; before: string; now: string }) => ({ configFile: 'config/cv.yaml', key: 'data_dir' as const, written: 'data', ...p });

  it('is CONFIG_INVALID, not recoverable, when only the old place holds a database', async () => {
    const p = await places();
    await writeFile(p.before, '');
    const error = databaseLeftBehind(moved(p));
    expect(error).toMatchObject({
      code: ErrorCode.CONFIG_INVALID,
      recoverable: false,
      details: { config_file: 'config/cv.yaml', key: 'data_dir', written: 'data', database_before: p.before, database_now: p.now },
    });
    expect(error!.message).toContain(`so the job database is ${p.now}, which does not exist`);
    expect(error!.suggestion).toContain('write `data_dir: ../data`');
  });

  it('is nothing when both places, only the new one, or neither hold a database', async () => {
    const p = await places();
    expect(databaseLeftBehind(moved(p))).toBeUndefined();
    await writeFile(p.now, '');
    expect(databaseLeftBehind(moved(p))).toBeUndefined();
    await writeFile(p.before, '');
    expect(databaseLeftBehind(moved(p))).toBeUndefined();
    expect(databaseLeftBehind(undefined)).toBeUndefined();
  });

  it('suggests a database.url relative to the config file', async () => {
    const p = await places();
    await writeFile(p.before, '');
    const error = databaseLeftBehind({ ...moved(p), key: 'database.url', written: 'sqlite:data/chorus-visual.db' });
    expect(error!.message).toContain('says database.url: "sqlite:data/chorus-visual.db"');
    expect(error!.suggestion).toContain('write `database.url: "sqlite:../data/chorus-visual.db"`');
  });
});
