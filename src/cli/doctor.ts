// `llava doctor`: which backend and BLAS are active, threads and CPU features,
// so a user can see at a glance why training is fast or slow on this machine.
import type { Command } from 'commander';
import { defaultBackend, getBackend } from '../backend/index.js';
import { addonAvailable } from '../backend/native/addon.js';

export function register(program: Command): void {
  program
    .command('doctor')
    .description('show the active compute backend, BLAS library, threads and CPU features')
    .option('--json', 'print one JSON object')
    .action((opts: { json?: boolean }) => {
      const report: Record<string, unknown> = {
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        defaultBackend: defaultBackend().name,
        nativeAddon: addonAvailable() ? 'built' : 'missing (run npm install)',
      };
      if (addonAvailable()) report.native = getBackend('native').describe();
      if (opts.json) {
        process.stdout.write(JSON.stringify(report) + '\n');
        return;
      }
      for (const [k, v] of Object.entries(report)) {
        process.stdout.write(`${k.padEnd(16)} ${typeof v === 'object' ? JSON.stringify(v, null, 2) : String(v)}\n`);
      }
    });
}
