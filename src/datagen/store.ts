// Durable files of a generation run: append-only JSONL with group-commit fsync (one fsync per
// batch of records), reading back with a torn last line dropped, and atomic whole-file writes.
import { closeSync, existsSync, openSync, readFileSync, renameSync, fsyncSync, truncateSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** What reading a JSONL file found. */
export interface JsonlContents<T> {
  readonly records: T[];
  /** Bytes of an unfinished (torn) last line, 0 when the file ended cleanly. */
  readonly tornBytes: number;
  /** Byte length of the well-formed prefix. */
  readonly goodBytes: number;
}

/**
 * Reads a JSONL file written by {@link JsonlAppender}. A last line without its newline, or
 * one that is not JSON, is what a crash mid-write leaves: it is dropped and reported. A bad
 * line anywhere else is corruption and an error naming file and line.
 */
export function readJsonl<T>(file: string): JsonlContents<T> {
  if (!existsSync(file)) return { records: [], tornBytes: 0, goodBytes: 0 };
  const buf = readFileSync(file);
  const records: T[] = [];
  let start = 0;
  let line = 1;
  while (start < buf.length) {
    const nl = buf.indexOf(0x0a, start);
    const end = nl === -1 ? buf.length : nl;
    const text = buf.subarray(start, end).toString('utf8');
    const isLast = nl === -1 || nl === buf.length - 1;
    if (nl === -1) return { records, tornBytes: buf.length - start, goodBytes: start };
    if (text.trim() !== '') {
      try {
        records.push(JSON.parse(text) as T);
      } catch (err) {
        if (isLast) return { records, tornBytes: buf.length - start, goodBytes: start };
        throw new Error(`${file}:${line}: corrupt record in the middle of the file (${(err as Error).message})`);
      }
    }
    start = nl + 1;
    line++;
  }
  return { records, tornBytes: 0, goodBytes: buf.length };
}

/** Cuts a torn tail off so appends continue on a line boundary; returns the bytes removed. */
export function repairJsonl(file: string): number {
  const { tornBytes, goodBytes } = readJsonl(file);
  if (tornBytes > 0) {
    truncateSync(file, goodBytes);
    fsyncPath(file);
  }
  return tornBytes;
}

interface Pending {
  readonly line: string;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/**
 * Append-only JSONL writer. `append` resolves once the record is on disk (fsync'd); records
 * that arrive while a sync is running go out together in the next write + fsync, so many
 * concurrent writers cost one fsync per batch rather than one per record.
 */
export class JsonlAppender {
  private pending: Pending[] = [];
  /** The running write+fsync loop, if any. */
  private flushing: Promise<void> | undefined;
  private closed = false;

  private constructor(
    private readonly handle: FileHandle,
    /** The file this appender writes. */
    readonly file: string,
  ) {}

  /** Opens (creating if needed) `file` for appending. */
  static async open(file: string): Promise<JsonlAppender> {
    const handle = await open(file, 'a');
    fsyncPath(dirname(file));
    return new JsonlAppender(handle, file);
  }

  /** Queues one record; resolves when it is durable. */
  append(record: unknown): Promise<void> {
    if (this.closed) return Promise.reject(new Error(`${this.file}: append after close`));
    const line = JSON.stringify(record) + '\n';
    return new Promise((resolve, reject) => {
      this.pending.push({ line, resolve, reject });
      if (!this.flushing) this.flushing = this.flush();
    });
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.handle.appendFile(batch.map((p) => p.line).join(''), 'utf8');
        await this.handle.sync();
        for (const p of batch) p.resolve();
      } catch (err) {
        const e = new Error(`${this.file}: write failed (${(err as Error).message})`);
        for (const p of batch) p.reject(e);
      }
    }
    // Cleared in the same tick as the last emptiness check, so no append can slip between.
    this.flushing = undefined;
  }

  /** Waits for queued records, then closes the file. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flushing;
    await this.handle.close();
  }
}

/** Writes a whole file via a temp file + fsync + rename, so readers never see half of it. */
export function writeFileAtomic(file: string, data: string): void {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  fsyncPath(dirname(file));
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
