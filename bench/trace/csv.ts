/**
 * The trace files' CSV, read strictly: a header naming the columns, then rows of as many fields, the
 * numeric ones finite and not negative. Every error names the file and the 1-based line, so a bad row of
 * a trace someone swapped in is found at once.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

export class TraceFileError extends Error {
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, message: string) {
    super(`${basename(file)}:${line}: ${message}`);
    this.name = 'TraceFileError';
    this.file = file;
    this.line = line;
  }
}

export interface CsvRow {
  /** 1-based line in the file. */
  readonly line: number;
  text(column: string): string;
  /** The field as a finite number ≥ 0, or a TraceFileError naming the column and line. */
  number(column: string): number;
}

/** Rows of `file`; every column of `required` must be in its header. Blank lines are skipped. */
export function readCsv(file: string, required: readonly string[]): { header: string[]; rows: CsvRow[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new TraceFileError(file, 0, `cannot read the file: ${(err as Error).message}`);
  }
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const header = (lines[0] ?? '').split(',').map((h) => h.trim());
  if (header.length === 1 && header[0] === '') throw new TraceFileError(file, 1, 'the file is empty (no header)');
  for (const column of required) {
    if (!header.includes(column)) throw new TraceFileError(file, 1, `missing column '${column}' in the header`);
  }
  const index = new Map(header.map((h, i) => [h, i]));
  const rows: CsvRow[] = [];
  lines.slice(1).forEach((raw, i) => {
    const line = i + 2;
    if (raw.trim() === '') return;
    const fields = raw.split(',');
    if (fields.length !== header.length) {
      throw new TraceFileError(file, line, `${fields.length} fields where the header has ${header.length} (a missing column?)`);
    }
    const text = (column: string): string => {
      const at = index.get(column);
      if (at === undefined) throw new TraceFileError(file, line, `missing column '${column}'`);
      return fields[at]!.trim();
    };
    rows.push({
      line,
      text,
      number(column) {
        const s = text(column);
        const v = s === '' ? NaN : Number(s);
        if (!Number.isFinite(v)) throw new TraceFileError(file, line, `column '${column}' is not a number: '${s}'`);
        if (v < 0) throw new TraceFileError(file, line, `column '${column}' is negative: ${s}`);
        return v;
      },
    });
  });
  return { header, rows };
}
