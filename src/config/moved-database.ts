/**
 * A config file's relative paths used to be read against the working folder; now they are
 * read against the file's folder (config-file-paths.ts). For someone who always ran
 * `serve --config config/mine.yaml` from the project folder with `data_dir: data`, the job
 * database moves from `./data` to `./config/data`: the first start would make a new, empty
 * one there and their jobs and images would seem gone. So when the database a config file
 * names (its sqlite: `database.url`, or the default one under its `data_dir`) reads to
 * another file than the old way, and only the old one exists, the commands that open the
 * job store refuse to start and say which line to write. Two existsSync, at load.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { ChorusError, ErrorCode } from '../errors/index.js';
import { relativeSqliteFile } from './config-file-paths.js';

/** The job database a config file names, read the old way (working folder) and the new way (its folder), when the two differ. */
export interface MovedDatabase {
  /** As the command was given it, and its folder (absolute), which relative paths in it are now relative to. */
  configFile: string;
  folder: string;
  /** The key that names the database: `database.url`, or `data_dir` for the default file in it. */
  key: 'database.url' | 'data_dir';
  /** The value as written in the file. */
  written: string;
  /** Absolute SQLite file: relative to the working folder (before) and to the config file's folder (now). */
  before: string;
  now: string;
}

const defaultDatabaseName = 'chorus-visual.db';

/**
 * `parsed`: the file's keys as written (before config-file-paths resolved them).
 * `overridden`: whether a variable or flag sets a key (then the file's value is not what is used).
 */
export function movedDatabase(
  parsed: Record<string, unknown>,
  configFile: string,
  overridden: (key: readonly string[]) => boolean,
  cwd: string = process.cwd(),
): MovedDatabase | undefined {
  if (overridden(['database', 'url'])) return undefined;
  const base = path.dirname(path.resolve(cwd, configFile));
  const url = (parsed['database'] as { url?: unknown } | undefined)?.url;
  const moved = url === undefined ? fromDataDir(parsed['data_dir'], configFile, base, overridden, cwd) : fromUrl(url, configFile, base, cwd);
  return moved === undefined || moved.before === moved.now ? undefined : moved;
}

function fromUrl(url: unknown, configFile: string, base: string, cwd: string): MovedDatabase | undefined {
  const file = typeof url === 'string' ? relativeSqliteFile(url) : undefined;
  if (typeof url !== 'string' || file === undefined) return undefined;
  return { configFile, folder: base, key: 'database.url', written: url, before: path.resolve(cwd, file), now: path.resolve(base, file) };
}

/** No database.url in the file: the database is the default file in data_dir. */
function fromDataDir(
  dataDir: unknown,
  configFile: string,
  base: string,
  overridden: (key: readonly string[]) => boolean,
  cwd: string,
): MovedDatabase | undefined {
  if (overridden(['data_dir']) || typeof dataDir !== 'string' || dataDir === '' || path.isAbsolute(dataDir)) return undefined;
  return {
    configFile,
    folder: base,
    key: 'data_dir',
    written: dataDir,
    before: path.resolve(cwd, dataDir, defaultDatabaseName),
    now: path.resolve(base, dataDir, defaultDatabaseName),
  };
}

/**
 * CONFIG_INVALID when the database the config file used to name holds the jobs and the one
 * it names now does not exist; undefined otherwise (same place, both there, only the new
 * one, or neither). Nothing is created either way.
 */
export function databaseLeftBehind(moved: MovedDatabase | undefined): ChorusError | undefined {
  if (moved === undefined || existsSync(moved.now) || !existsSync(moved.before)) return undefined;
  const { folder } = moved;
  const keepAt = moved.key === 'data_dir' ? path.dirname(moved.before) : moved.before;
  const startAt = moved.key === 'data_dir' ? path.dirname(moved.now) : moved.now;
  const line = (value: string) => (moved.key === 'data_dir' ? `data_dir: ${value}` : `database.url: "sqlite:${value}"`);
  const relative = path.relative(folder, keepAt);
  const written = moved.key === 'data_dir' ? `data_dir: ${moved.written}` : `database.url: "${moved.written}"`;
  return new ChorusError(
    ErrorCode.CONFIG_INVALID,
    `${moved.configFile} says ${written}: relative paths in a config file now resolve against the file's folder (${folder}), so the job database is ${moved.now}, which does not exist; read against the working folder, as before, it was ${moved.before}, where the existing job database is. Refusing to start a new, empty database (nothing was created).`,
    {
      recoverable: false,
      details: {
        config_file: moved.configFile,
        key: moved.key,
        written: moved.written,
        database_before: moved.before,
        database_now: moved.now,
      },
      suggestion: `To keep the existing jobs, write \`${line(relative)}\` (relative to ${folder}) or \`${line(keepAt)}\` in ${moved.configFile}; to start a new database at ${moved.now} instead, write \`${line(startAt)}\`.`,
    },
  );
}
