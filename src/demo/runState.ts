// The demo's record of a run in its directory (DIR/demo.json): which profile and seed it is,
// and which steps have finished, so a rerun resumes from the first unfinished step.
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Name of the state file inside the run directory. */
export const STATE_FILE = 'demo.json';
const STATE_VERSION = 1;

/** A finished step and how long it took. */
export interface FinishedStep {
  readonly name: string;
  readonly seconds: number;
}

/** What DIR/demo.json holds. */
export interface DemoState {
  readonly version: number;
  readonly profile: string;
  readonly seed: number;
  /** Kernel threads of the run that started it (results are reproducible per thread count). */
  readonly threads: number;
  /**
   * The f32 GEMM engine of the run that started it ("built-in", "OpenBLAS SkylakeX"): engines round
   * differently, so results are reproducible per engine too. Absent in state files older than it.
   */
  readonly gemm?: string;
  readonly ablations: boolean;
  readonly finished: readonly FinishedStep[];
}

/** Thrown when the directory cannot hold this run; the message says why and what to do. */
export class DemoDirError extends Error {
  override readonly name = 'DemoDirError';
}

function writable(dir: string): void {
  let probe = dir;
  while (!existsSync(probe)) probe = dirname(probe);
  if (!statSync(probe).isDirectory()) throw new DemoDirError(`--out ${dir}: ${probe} is a file, not a directory`);
  try {
    accessSync(probe, constants.W_OK);
  } catch {
    throw new DemoDirError(`--out ${dir}: cannot write to ${probe} (permission denied); choose a directory you can write to`);
  }
}

function readState(path: string): DemoState {
  try {
    const s = JSON.parse(readFileSync(path, 'utf8')) as DemoState;
    if (s.version !== STATE_VERSION || typeof s.profile !== 'string' || !Array.isArray(s.finished)) throw new Error('unexpected contents');
    return s;
  } catch (e) {
    throw new DemoDirError(`${path} is not a demo state file (${(e as Error).message}); remove the directory or choose another --out`);
  }
}

/**
 * Opens the run in `dir`: a fresh directory starts a new state; one holding the same profile and
 * seed resumes it; one holding another run, or other files, is refused.
 */
export function openRun(dir: string, wanted: Omit<DemoState, 'version' | 'finished'>): DemoState {
  writable(dir);
  const path = join(dir, STATE_FILE);
  if (existsSync(path)) {
    const s = readState(path);
    if (s.profile !== wanted.profile || s.seed !== wanted.seed) {
      throw new DemoDirError(`--out ${dir} holds another demo run (profile ${s.profile}, seed ${s.seed}); rerun with --profile ${s.profile} --seed ${s.seed} to resume it, or choose another --out`);
    }
    return { ...s, ablations: s.ablations || wanted.ablations };
  }
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new DemoDirError(`--out ${dir} is a file, not a directory`);
    const held = readdirSync(dir);
    if (held.length > 0) throw new DemoDirError(`--out ${dir} is not empty and holds no demo run (${held.slice(0, 3).join(', ')}${held.length > 3 ? ', ...' : ''}); choose an empty or new directory`);
  }
  const s: DemoState = { version: STATE_VERSION, ...wanted, finished: [] };
  try {
    mkdirSync(dir, { recursive: true });
    saveState(dir, s);
  } catch (e) {
    throw new DemoDirError(`--out ${dir}: cannot write there (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); choose a directory you can write to`);
  }
  return s;
}

/** Writes the state atomically. */
export function saveState(dir: string, s: DemoState): void {
  const path = join(dir, STATE_FILE);
  writeFileSync(`${path}.tmp`, JSON.stringify(s, null, 2) + '\n');
  renameSync(`${path}.tmp`, path);
}

/** Whether a step has finished in this run. */
export function isFinished(s: DemoState, name: string): boolean {
  return s.finished.some((f) => f.name === name);
}

/** A fresh temp path for a step's output `target` (what a killed run left there is removed first). */
export function freshTemp(target: string): string {
  const tmp = `${target}.partial`;
  rmSync(tmp, { recursive: true, force: true });
  return tmp;
}

/** Moves a finished step's temp output into place, replacing anything a killed run left. */
export function commitTemp(tmp: string, target: string): void {
  rmSync(target, { recursive: true, force: true });
  renameSync(tmp, target);
}

/** Reads the state of the run in `dir`. */
export function loadState(dir: string): DemoState {
  return readState(join(dir, STATE_FILE));
}
