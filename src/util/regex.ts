// Building regular expressions from literal text.

/** `s` with every regular-expression metacharacter escaped, so it matches itself. */
export function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
