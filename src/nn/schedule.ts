// Learning-rate schedules: cosine decay after linear warmup (LLaVA's schedule: warmup
// ratio 0.03, cosine to zero), as pure functions of the step.

export interface CosineScheduleOptions {
  readonly baseLr: number;
  readonly totalSteps: number;
  /** Steps of linear warmup from 0 (default 3% of totalSteps, rounded up). */
  readonly warmupSteps?: number;
  /** Floor of the cosine (default 0). */
  readonly minLr?: number;
}

/** Learning rate at a 0-based step: linear warmup, then half a cosine down to minLr. */
export function cosineWithWarmup(opts: CosineScheduleOptions): (step: number) => number {
  const { baseLr, totalSteps } = opts;
  const warmup = opts.warmupSteps ?? Math.ceil(0.03 * totalSteps);
  const minLr = opts.minLr ?? 0;
  if (totalSteps <= 0) throw new Error(`cosine schedule: totalSteps must be positive, got ${totalSteps}`);
  return (step: number) => {
    if (step < warmup) return (baseLr * (step + 1)) / warmup;
    const progress = Math.min(1, (step - warmup) / Math.max(1, totalSteps - warmup));
    return minLr + (baseLr - minLr) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}
