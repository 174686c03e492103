/**
 * Reads back what the HTML report states through the data attributes its elements carry (a
 * deliberately small reader: the page's markup is ours, and every value in it is escaped).
 */

export interface PageFinding {
  rule: string;
  severity: string;
  conn: string | null;
  message: string;
  hint: string;
  evidence: Array<{ capture: string; frame: number; point: string }>;
}

export interface PageRule {
  rule: string;
  status: string;
}

const ENTITY: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" };

export function unescape(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ENTITY[e]!);
}

export function attrs(tag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of tag.matchAll(/([a-zA-Z-]+)="([^"]*)"/g)) out.set(m[1]!, unescape(m[2]!));
  return out;
}

/** The page without its stylesheet and script (their text is not markup). */
export function markupOnly(page: string): string {
  return page.replace(/<style>[\s\S]*?<\/style>/g, '').replace(/<script>[\s\S]*?<\/script>/g, '');
}

export function pageRules(page: string): PageRule[] {
  return [...markupOnly(page).matchAll(/<tr ([^>]*data-status="[^"]*"[^>]*)>/g)].map((m) => {
    const a = attrs(m[1]!);
    return { rule: a.get('data-rule')!, status: a.get('data-status')! };
  });
}

export function pageFindings(page: string): PageFinding[] {
  return [...markupOnly(page).matchAll(/<details class="finding"([^>]*)>([\s\S]*?)<\/details>/g)].map((m) => {
    const a = attrs(m[1]!);
    const body = m[2]!;
    return {
      rule: a.get('data-rule')!,
      severity: a.get('data-severity')!,
      conn: a.get('data-conn') ?? null,
      message: unescape(/<span class="msg">([\s\S]*?)<\/span>/.exec(body)?.[1] ?? ''),
      hint: unescape(/<span class="hint-text">([\s\S]*?)<\/span>/.exec(body)?.[1] ?? ''),
      evidence: [...body.matchAll(/<li class="ev"([^>]*)>/g)].map((e) => {
        const ea = attrs(e[1]!);
        return { capture: ea.get('data-capture')!, frame: Number(ea.get('data-frame')), point: ea.get('data-point')! };
      }),
    };
  });
}

/** The names of the elements of the page, in order (its structure without its text). */
export function tagSequence(page: string): string[] {
  return [...markupOnly(page).matchAll(/<\/?([a-zA-Z][a-zA-Z0-9]*)/g)].map((m) => m[0]!);
}
