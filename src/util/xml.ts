// Text for SVG overlays (the world's contact sheet, the demo's pictures): escaped for XML, with
// the characters XML 1.0 cannot hold at all replaced, since a model may emit anything.

/** Escapes text for XML, replacing characters XML 1.0 cannot hold (controls, lone surrogates) by "?". */
export function escapeXml(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '?')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}
