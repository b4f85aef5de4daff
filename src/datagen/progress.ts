// Progress bar of a generation run on stderr (cli-progress): done/total, rate, ETA and
// tokens; drawn only on a terminal unless forced, so logs and pipes stay clean.
import cliProgress from 'cli-progress';
import type { ProgressSink } from './pipeline.js';
import type { Usage } from './types.js';

/** Redraw at most this often. */
const REDRAW_MS = 200;

/** A bar on stderr; `force` draws it even when stderr is not a TTY. */
export function progressBar(force = false): ProgressSink | undefined {
  if (!process.stderr.isTTY && !force) return undefined;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'generate {bar} {value}/{total} | {rate}/s | ETA {eta_formatted} | tokens in {tin} out {tout}',
      fps: 1000 / REDRAW_MS,
      noTTYOutput: force && !process.stderr.isTTY,
      notTTYSchedule: 2000,
      etaBuffer: 50,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let startedAt = 0;
  let startDone = 0;
  const payload = (done: number, usage: Usage) => {
    const seconds = (Date.now() - startedAt) / 1000;
    return { rate: seconds > 0 ? ((done - startDone) / seconds).toFixed(1) : '0.0', tin: usage.promptTokens, tout: usage.completionTokens };
  };
  return {
    start(total, alreadyDone) {
      startedAt = Date.now();
      startDone = alreadyDone;
      bar.start(total, alreadyDone, payload(alreadyDone, { promptTokens: 0, completionTokens: 0 }));
    },
    update(done, usage) {
      bar.update(done, payload(done, usage));
    },
    stop() {
      bar.stop();
    },
  };
}
