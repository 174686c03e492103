/**
 * The rule table (pass / fail / warn / info / not evaluated with its reason) and the findings
 * per rule: a failing rule's group is open, each finding a <details> whose body is its evidence
 * (capture file and frame number, as Wireshark numbers frames) and hint.
 */
import type { Finding, Severity } from '../../model/findings.js';
import type { VerifyResult } from '../../model/result.js';
import { reportedRules } from '../rule-status.js';
import { anchor, html, type Markup } from './markup.js';

const SEVERITY_ORDER: Record<Severity, number> = { error: 0, warning: 1, info: 2 };

/** Findings of one rule written out in full; more would make a page no browser opens quickly. */
export const MAX_FINDINGS_PER_RULE = 1000;

export function ruleAnchor(rule: string): string {
  return anchor('rule', rule);
}

export function rulesSection(r: VerifyResult): Markup {
  const reasons = new Map(r.notEvaluated.map((n) => [n.rule, n.reason]));
  const withFindings = new Set(r.findings.map((f) => f.rule));
  return html`<section id="rules"><h2>Rules</h2>
<table class="rules"><thead><tr><th>rule</th><th>status</th><th>checked</th><th>failed</th><th>note</th></tr></thead><tbody>
${reportedRules(r).map((t) => html`<tr class="st-${t.status}" data-rule="${t.rule}" data-status="${t.status}"><td>${withFindings.has(t.rule) ? html`<a href="#${ruleAnchor(t.rule)}">${t.rule}</a>` : t.rule}</td><td><span class="status">${t.status}</span></td><td class="num">${t.checked}</td><td class="num">${t.failed}</td><td>${reasons.get(t.rule) ?? ''}</td></tr>`)}
</tbody></table></section>`;
}

function findingItem(f: Finding, ladders: ReadonlyMap<string, string>): Markup {
  const ladder = f.conn !== undefined ? ladders.get(f.conn) : undefined;
  return html`<li><details class="finding" data-rule="${f.rule}" data-severity="${f.severity}"${f.conn !== undefined ? html` data-conn="${f.conn}"` : ''}>
<summary><span class="msg">${f.message}</span>${f.conn !== undefined ? html` <span class="muted conn">— ${f.conn}</span>` : ''}</summary>
<div class="evidence"><h4>Evidence</h4><ul>${f.evidence.map(
    (e) => html`<li class="ev" data-capture="${e.capture}" data-frame="${e.frame}" data-point="${e.point}"><code>${e.frame > 0 ? `${e.capture}#${e.frame}` : e.capture}</code> <span class="pt">${e.point}</span>${e.note ? html` — ${e.note}` : ''}</li>`,
  )}</ul>
${f.conn !== undefined ? html`<p>Connection <code>${f.conn}</code>${ladder !== undefined ? html` — <a href="#${ladder}">ladder diagram</a>` : ''}</p>` : ''}
<p class="hint"><b>Hint:</b> <span class="hint-text">${f.hint}</span></p></div>
</details></li>`;
}

/** `ladders`: connection key → the id of its ladder diagram in the page. */
export function findingsSection(r: VerifyResult, ladders: ReadonlyMap<string, string>): Markup {
  const groups = new Map<string, Finding[]>();
  for (const f of r.findings) {
    const g = groups.get(f.rule);
    if (g) g.push(f);
    else groups.set(f.rule, [f]);
  }
  if (groups.size === 0) return html`<section id="findings"><h2>Findings</h2><p>None.</p></section>`;
  const worst = (list: readonly Finding[]): Severity => list.reduce<Severity>((w, f) => (SEVERITY_ORDER[f.severity] < SEVERITY_ORDER[w] ? f.severity : w), 'info');
  const ordered = [...groups.entries()].sort((a, b) => SEVERITY_ORDER[worst(a[1])] - SEVERITY_ORDER[worst(b[1])] || a[0].localeCompare(b[0]));
  return html`<section id="findings"><h2>Findings</h2>
<p class="filter-row" hidden><label>Filter findings: <input type="search" id="filter" placeholder="rule, address, frame…"></label></p>
${ordered.map(([rule, list]) => {
    const sev = worst(list);
    const shown = list.slice(0, MAX_FINDINGS_PER_RULE);
    return html`<details class="rule-group sev-${sev}" id="${ruleAnchor(rule)}" data-rule="${rule}"${sev === 'error' ? html` open` : ''}>
<summary><span class="sev">${sev}</span> ${rule} <span class="muted">(${list.length})</span></summary>
<ul class="findings">${shown.map((f) => findingItem(f, ladders))}</ul>
${shown.length < list.length ? html`<p class="muted">… ${list.length - shown.length} more: the JSON report (<code>--format json</code>) has every finding.</p>` : ''}
</details>`;
  })}
</section>`;
}
