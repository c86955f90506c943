import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeDatabase, parseDatabaseUrl } from '../../src/db/index.js';

describe('parseDatabaseUrl', () => {
  it('resolves a relative SQLite path against the working directory', () => {
    expect(parseDatabaseUrl('sqlite:data/chorus-visual.db')).toEqual({
      dialect: 'sqlite',
      file: path.resolve('data/chorus-visual.db'),
    });
    expect(parseDatabaseUrl('sqlite:///var/lib/cv.db')).toEqual({ dialect: 'sqlite', file: '/var/lib/cv.db' });
  });

  it('recognises in-memory SQLite and PostgreSQL', () => {
    expect(parseDatabaseUrl('sqlite::memory:')).toEqual({ dialect: 'sqlite', file: ':memory:' });
    expect(parseDatabaseUrl('postgresql://u@h/db')).toEqual({ dialect: 'postgres', connectionString: 'postgresql://u@h/db' });
  });

  it('refuses other schemes and an empty path with CONFIG_INVALID', () => {
    expect(() => parseDatabaseUrl('mysql://h/db')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    expect(() => parseDatabaseUrl('sqlite:  ')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
  });
});

describe('describeDatabase', () => {
  it('hides a PostgreSQL password and keeps the rest', () => {
    const described = describeDatabase('postgres://app:s3cr%40t@db.internal:5432/chorus?sslmode=require');
    expect(described).not.toContain('s3cr');
    expect(described).toBe('postgres://app:***@db.internal:5432/chorus?sslmode=require');
    expect(describeDatabase('postgres://app@db/chorus')).toBe('postgres://app@db/chorus');
  });

  it('shows SQLite files as absolute paths and never throws', () => {
    expect(describeDatabase('sqlite:x.db')).toBe(`sqlite:${path.resolve('x.db')}`);
    expect(describeDatabase('nonsense')).toBe('(invalid database url)');
  });
});
