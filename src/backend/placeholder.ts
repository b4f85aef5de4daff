// Development scaffolding: a kernel family whose methods throw until the real one lands.
// Only used while a family is being written; nothing shipped may depend on it.
export function placeholderFamily<T>(family: string, methods: readonly (keyof T & string)[]): T {
  const out: Record<string, () => never> = {};
  for (const m of methods) {
    out[m] = () => {
      throw new Error(`kernel ${family}.${m} is not implemented yet`);
    };
  }
  return out as T;
}
