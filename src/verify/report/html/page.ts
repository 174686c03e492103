/**
 * `--format html`: one self-contained page from the same `VerifyResult` the JSON report writes.
 * Nothing outside the file is loaded (inline CSS, inline SVG, one small inline script allowed by
 * its hash; the Content-Security-Policy forbids every fetch), and everything reads without
 * JavaScript: findings open with <details>, ladders and charts are SVG in the page.
 */
import { createHash } from 'node:crypto';
import { VERSION } from '../../../version.js';
import type { ConnectionLadder, VerifyResult } from '../../model/result.js';
import { selectConnections } from '../ladder.js';
import { chartsSection } from './charts.js';
import { LADDER_DEFS, ladderSvg } from './ladder-svg.js';
import { anchor, html, trusted, type Markup } from './markup.js';
import { findingsSection, rulesSection } from './rules.js';
import { SCRIPT } from './script.js';
import { STYLE } from './style.js';
import { pointsSection, servicesSection, verdictSection } from './summary.js';

export interface HtmlOptions {
  /** The command the report is of ("verify", "arp"), in the title. */
  command: string;
  /** Services described one per line (the text report's lines). */
  serviceLines: readonly string[];
  /** `--show CONN`: these connections' ladders too, with or without findings. */
  show?: string;
  /** Extra sections a command adds after the findings (arp's MAC timeline table). */
  extra?: Markup;
}

/** Ladders drawn in one page: connections with findings first, in report order. */
export const MAX_LADDERS = 50;

function laddersSection(r: VerifyResult, chosen: readonly ConnectionLadder[], ids: ReadonlyMap<string, string>, total: number): Markup {
  if (chosen.length === 0) return html``;
  return html`<section id="ladders"><h2>Ladder diagrams</h2>
<p class="muted">One lane per capture point, one row per packet, one arrow per copy of it; Δ names the fields changed on that hop (hover an arrow for values). Red: a copy a finding cites as evidence.</p>
${chosen.map((c) => html`<div class="ladder-block" id="${ids.get(c.conn)!}" data-conn="${c.conn}"><h3>${c.conn}</h3>
<p>client ${c.client}, real server ${c.realServer ?? 'unknown'}, first packet ${c.start}${c.rules.length > 0 ? html` — findings: ${c.rules.map((x, i) => html`${i > 0 ? ', ' : ''}<code>${x}</code>`)}` : ''}</p>
${c.fullnat ? html`<p>FullNAT ${c.fullnat.lip}:${c.fullnat.lport} → ${c.fullnat.rip}:${c.fullnat.rport}, seq delta ${c.fullnat.seqDelta === null ? 'unknown' : String(c.fullnat.seqDelta)}, TOA on the handshake-completing ACK: ${c.fullnat.toaAtHandshake ?? 'none'}</p>` : ''}
${ladderSvg(c, r.findings)}</div>`)}
${total > chosen.length ? html`<p class="muted">${chosen.length} of ${total} connections drawn; <code>--format text --show CONN</code> prints any of them.</p>` : ''}
</section>`;
}

export function renderHtml(r: VerifyResult, o: HtmlOptions): string {
  const all = r.connections ?? [];
  const picked = new Set<ConnectionLadder>(all.filter((c) => c.rules.length > 0));
  if (o.show !== undefined) for (const c of selectConnections(all, o.show)) picked.add(c);
  const chosen = [...picked].slice(0, MAX_LADDERS);
  const ids = new Map(chosen.map((c) => [c.conn, anchor('conn', c.conn)]));
  const hash = createHash('sha256').update(SCRIPT).digest('base64');
  const csp = `default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'sha256-${hash}'`;
  const charts = chartsSection(r);
  const body = html`${verdictSection(r, o.command)}
<nav class="muted"><a href="#rules">rules</a> · <a href="#findings">findings</a>${chosen.length > 0 ? html` · <a href="#ladders">ladders</a>` : ''}${charts.text !== '' ? html` · <a href="#charts">charts</a>` : ''}${r.points.length > 0 ? html` · <a href="#points">capture points</a>` : ''}</nav>
${servicesSection(r, o.serviceLines)}
${pointsSection(r)}
${rulesSection(r)}
${findingsSection(r, ids)}
${o.extra ?? ''}
${LADDER_DEFS}
${laddersSection(r, chosen, ids, picked.size)}
${charts}
<footer>lvsaudit ${VERSION}. Frame numbers are those Wireshark shows for the capture file named.</footer>`;
  const page = html`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lvsaudit ${o.command}: ${r.verdict.toUpperCase()}</title>
<style>${trusted(STYLE)}</style>
</head><body>
${body}
<script>${trusted(SCRIPT)}</script>
</body></html>
`;
  return page.text;
}
