// Flag parsing shared by the commands: one message format for a bad value.

/** `raw` as an integer of at least `min`, or an error naming `--flag`. */
export function intFlag(flag: string, raw: string, min: number): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isInteger(v) || v < min) throw new Error(`--${flag} must be an integer >= ${min}, got '${raw}'`);
  return v;
}
