/** A benchmark's result: the rows of its printed table and the data its JSON carries. */

export type Cell = string | number | boolean | null;

export interface BenchResult {
  name: string;
  /** What was run, for the record (job counts, backends, intervals…). */
  setup: Record<string, Cell>;
  rows: Array<Record<string, Cell>>;
  /** The target in words, and whether this run met it. */
  target: { description: string; met: boolean };
  notes: string[];
}

function format(cell: Cell): string {
  if (typeof cell === 'number') {
    if (!Number.isFinite(cell)) return String(cell);
    return Number.isInteger(cell) ? String(cell) : cell.toFixed(Math.abs(cell) >= 100 ? 0 : Math.abs(cell) >= 10 ? 1 : 2);
  }
  return cell === null ? '-' : String(cell);
}

/** A plain-text table with right-aligned numbers, as printed on the console. */
export function renderTable(rows: ReadonlyArray<Record<string, Cell>>): string {
  if (rows.length === 0) return '(no rows)\n';
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  const text = rows.map((row) => columns.map((column) => format(row[column] ?? null)));
  const widths = columns.map((column, i) => Math.max(column.length, ...text.map((cells) => cells[i]!.length)));
  const numeric = columns.map((column) => rows.every((row) => typeof row[column] === 'number' || row[column] == null));
  const line = (cells: string[]) => cells.map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ');
  return `${[line(columns), widths.map((w) => '-'.repeat(w)).join('  '), ...text.map(line)].join('\n')}\n`;
}

export function renderResult(result: BenchResult): string {
  const setup = Object.entries(result.setup)
    .map(([key, value]) => `${key}=${format(value)}`)
    .join(' ');
  const verdict = result.target.met ? 'MET' : 'MISSED';
  return [
    `## ${result.name}`,
    `setup: ${setup}`,
    renderTable(result.rows),
    `target: ${result.target.description} → ${verdict}`,
    ...result.notes.map((note) => `note: ${note}`),
    '',
  ].join('\n');
}
