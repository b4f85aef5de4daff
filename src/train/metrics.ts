// What a person watches during training: metrics.jsonl (one line per optimiser step, fsynced),
// and a loss-curve picture (SVG, no dependencies) redrawn at every save.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';

/** One optimiser step as logged. */
export interface StepMetrics {
  readonly step: number;
  readonly epoch: number;
  readonly loss: number;
  readonly lr: number;
  readonly grad_norm: number;
  /** Positions processed in this step (visual tokens included, padding excluded). */
  readonly tokens: number;
  /** Wall time of the step, and the part spent waiting for data. */
  readonly seconds: number;
  readonly data_seconds: number;
  /** Held-out loss, on steps where it was measured. */
  readonly eval_loss?: number;
}

/** Appends one JSON line per step; lines past `keepThroughStep` are dropped when reopening (resume). */
export class MetricsLog {
  private fd: number;

  constructor(
    readonly path: string,
    keepThroughStep: number,
  ) {
    const kept = existsSync(path) ? readMetrics(path).filter((m) => m.step <= keepThroughStep) : [];
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, kept.map((m) => JSON.stringify(m) + '\n').join(''));
    renameSync(tmp, path);
    this.fd = openSync(path, 'a');
  }

  append(m: StepMetrics): void {
    writeSync(this.fd, JSON.stringify(m) + '\n');
    fsyncSync(this.fd);
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** Reads metrics.jsonl, ignoring a torn last line (a crash mid-write). */
export function readMetrics(path: string): StepMetrics[] {
  const out: StepMetrics[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      out.push(JSON.parse(line) as StepMetrics);
    } catch {
      break;
    }
  }
  return out;
}

const WIDTH = 640;
const HEIGHT = 360;
const MARGIN = 48;

function polyline(points: readonly [number, number][], x: (s: number) => number, y: (l: number) => number, colour: string): string {
  if (points.length === 0) return '';
  const d = points.map(([s, l]) => `${x(s).toFixed(1)},${y(l).toFixed(1)}`).join(' ');
  return `<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${d}"/>`;
}

/** An SVG of training loss (and held-out loss when present) against the step. */
export function lossCurveSvg(metrics: readonly StepMetrics[], title: string): string {
  const train = metrics.filter((m) => Number.isFinite(m.loss)).map((m) => [m.step, m.loss] as [number, number]);
  const held = metrics.filter((m) => m.eval_loss !== undefined && Number.isFinite(m.eval_loss)).map((m) => [m.step, m.eval_loss!] as [number, number]);
  const all = [...train, ...held];
  const maxStep = Math.max(1, ...all.map(([s]) => s));
  const hi = Math.max(1e-6, ...all.map(([, l]) => l));
  const x = (s: number) => MARGIN + ((WIDTH - 2 * MARGIN) * s) / maxStep;
  const y = (l: number) => HEIGHT - MARGIN - ((HEIGHT - 2 * MARGIN) * l) / hi;
  const esc = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${MARGIN}" y="20">${esc(title)}</text>`,
    `<line x1="${MARGIN}" y1="${HEIGHT - MARGIN}" x2="${WIDTH - MARGIN}" y2="${HEIGHT - MARGIN}" stroke="black"/>`,
    `<line x1="${MARGIN}" y1="${MARGIN}" x2="${MARGIN}" y2="${HEIGHT - MARGIN}" stroke="black"/>`,
    `<text x="${WIDTH - MARGIN}" y="${HEIGHT - 16}" text-anchor="end">step ${maxStep}</text>`,
    `<text x="4" y="${MARGIN}">${hi.toFixed(3)}</text><text x="4" y="${HEIGHT - MARGIN}">0</text>`,
    polyline(train, x, y, '#1f77b4'),
    polyline(held, x, y, '#d62728'),
    `<text x="${WIDTH - MARGIN}" y="${MARGIN}" text-anchor="end" fill="#1f77b4">train loss</text>`,
    held.length ? `<text x="${WIDTH - MARGIN}" y="${MARGIN + 16}" text-anchor="end" fill="#d62728">held-out loss</text>` : '',
    '</svg>',
    '',
  ].join('\n');
}

/** Writes the picture atomically. */
export function writeLossCurve(path: string, metrics: readonly StepMetrics[], title: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, lossCurveSvg(metrics, title));
  renameSync(tmp, path);
}
