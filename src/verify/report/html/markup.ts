/**
 * Markup built so that nothing from a capture or a config can become markup: every value put
 * into an `html` template is escaped unless it is itself `Markup` made by this module. Capture
 * file names, addresses, messages and hints all come from input the user may not control (a
 * crafted capture, a shared config), so escaping is not left to each call site.
 */

/** A piece of HTML or SVG that is safe as it stands. */
export class Markup {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

export type Value = Markup | string | number | boolean | null | undefined | readonly Value[];

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text for an element's content or a quoted attribute (HTML and SVG alike). */
export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

function part(v: Value): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Markup) return v.text;
  if (Array.isArray(v)) return (v as readonly Value[]).map(part).join('');
  return esc(String(v));
}

/** Tagged template: literal parts as written, every interpolated value escaped. */
export function html(strings: TemplateStringsArray, ...values: Value[]): Markup {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += part(values[i]!) + strings[i + 1]!;
  return new Markup(out);
}

/** Markup this program made itself (an SVG string from the chart library, checked CSS). */
export function trusted(text: string): Markup {
  return new Markup(text);
}

/** A string safe as an id / fragment: anything but [A-Za-z0-9_-] becomes `_` and a hash keeps ids apart. */
export function anchor(prefix: string, s: string): string {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return `${prefix}-${s.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 60)}-${(h >>> 0).toString(36)}`;
}
