/** The head of the report: verdict, services, capture points (file, span, clock offset, frames). */
import type { VerifyResult } from '../../model/result.js';
import { html, type Markup } from './markup.js';

const VERDICT_TEXT: Record<VerifyResult['verdict'], string> = { pass: 'PASS', fail: 'FAIL', 'no-data': 'NO DATA' };

export function verdictSection(r: VerifyResult, command: string): Markup {
  const count = (s: string): number => r.findings.filter((f) => f.severity === s).length;
  return html`<header class="verdict v-${r.verdict}" data-verdict="${r.verdict}">
<h1><span class="badge">${VERDICT_TEXT[r.verdict]}</span> lvsaudit ${command}</h1>
<p>profile ${r.profile} · ${count('error')} error(s), ${count('warning')} warning(s), ${count('info')} info, ${r.notEvaluated.length} rule(s) not evaluated</p>
${r.noDataReason !== undefined ? html`<p class="nodata">${r.noDataReason}</p>` : ''}
</header>`;
}

export function servicesSection(r: VerifyResult, serviceLines: readonly string[]): Markup {
  if (serviceLines.length === 0) return html``;
  const label = r.serviceInferred ? 'Service (inferred from traffic)' : 'Service';
  return html`<section id="services"><h2>${label}</h2><ul>${serviceLines.map((line, i) => {
    const t = r.traffic?.[i];
    return html`<li data-service="${line}">${line}${t ? html` <span class="muted">— ${t.connections} connection(s), ${t.matched} seen at two points</span>` : ''}</li>`;
  })}</ul>${(r.arp?.directors ?? []).map((d) => {
    const how = d.method === 'given' ? 'given' : d.method === 'none' ? 'not inferred' : `inferred (${d.method})`;
    return html`<p>Director of ${d.vip}: <code>${d.macs.length > 0 ? d.macs.join(', ') : '?'}</code> — ${how}: ${d.reason}</p>`;
  })}</section>`;
}

function offsetText(ms: number | null): string {
  return ms === null ? 'not estimable' : `${ms >= 0 ? '+' : ''}${ms.toFixed(3)} ms`;
}

export function pointsSection(r: VerifyResult): Markup {
  if (r.points.length === 0) return html``;
  const spans = r.points.filter((p) => p.first !== null && p.last !== null);
  let shared = '';
  if (spans.length > 0) {
    const from = spans.reduce((a, p) => (p.first! > a ? p.first! : a), spans[0]!.first!);
    const to = spans.reduce((a, p) => (p.last! < a ? p.last! : a), spans[0]!.last!);
    shared = from <= to ? `${from} – ${to}` : 'none (the captures do not overlap in time)';
  }
  return html`<section id="points"><h2>Capture points</h2>
<table><thead><tr><th>point</th><th>capture file(s)</th><th>first frame</th><th>last frame</th><th>clock offset</th><th>frames</th></tr></thead><tbody>
${r.points.map((p) => html`<tr data-point="${p.point}"><td>${p.point}</td><td>${p.captures.map((c) => html`<code>${c}</code> `)}</td><td>${p.first ?? '—'}</td><td>${p.last ?? '—'}</td><td class="num">${offsetText(p.clockOffsetMs)}</td><td class="num">${p.frames}${p.mirror === undefined ? '' : html` (${p.mirror.frames} read through ${p.mirror.transport})`}</td></tr>`)}
</tbody></table>
${shared !== '' ? html`<p class="muted">Span shared by every point: ${shared}. Times are in the reference clock (the client capture's), after clock correction.</p>` : ''}
</section>`;
}
