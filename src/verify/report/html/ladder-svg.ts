/**
 * A connection's ladder as SVG, from the same `ConnectionLadder` the text ladder (`--show`)
 * prints: one lane per capture point (the director's two sides apart), one row per packet, one
 * arrow per copy (from the previous copy on the packet's path, or in from the side the packet
 * came from), the fields changed on that hop on the arrow (their values in its tooltip), and the
 * copies a finding cites as evidence drawn red.
 */
import type { ConnectionLadder, LadderCopy } from '../../model/result.js';
import type { Finding } from '../../model/findings.js';
import { changedFields } from '../ladder.js';
import { html, type Markup } from './markup.js';

const ROLES: LadderCopy['role'][] = ['client', 'director-in', 'director-out', 'rs'];
const SHORT: Record<string, string> = { dstMac: 'dmac', srcMac: 'smac', ipId: 'id' };

const LEFT = 250;
const LANE = 180;
const TOP = 46;
const ROW = 40;
const STUB = 40;

/** Rows drawn per ladder: a long connection is cut (its text ladder with --show has every row). */
export const MAX_LADDER_ROWS = 400;

function laneLabel(role: LadderCopy['role'], point: string): string {
  return role === 'director-in' ? `${point} (in)` : role === 'director-out' ? `${point} (out)` : point;
}

/** capture#frame of every evidence item of the findings about this connection → their rules. */
function offending(c: ConnectionLadder, findings: readonly Finding[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of findings) {
    if (f.conn !== c.conn) continue;
    for (const e of f.evidence) {
      const k = `${e.capture}#${e.frame}`;
      const rules = out.get(k) ?? [];
      if (!rules.includes(f.rule)) rules.push(f.rule);
      out.set(k, rules);
    }
  }
  return out;
}

/** The arrow heads every ladder uses, defined once per page (ids must be unique). */
export const LADDER_DEFS: Markup = html`<svg class="defs" width="0" height="0" aria-hidden="true"><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#445"/></marker><marker id="arrow-bad" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#c0392b"/></marker></defs></svg>`;

export function ladderSvg(c: ConnectionLadder, findings: readonly Finding[]): Markup {
  // One lane per capture point and role (the director's two sides apart; every real server its own).
  const laneOf = (x: LadderCopy): string => `${x.role}\u0000${x.point}`;
  const found = new Map<string, LadderCopy>();
  for (const p of c.packets) for (const x of p.copies) if (!found.has(laneOf(x))) found.set(laneOf(x), x);
  const lanesInOrder = [...found.values()].sort((a, b) => ROLES.indexOf(a.role) - ROLES.indexOf(b.role) || (a.point < b.point ? -1 : a.point > b.point ? 1 : 0));
  const laneX = new Map(lanesInOrder.map((x, i) => [laneOf(x), LEFT + LANE / 2 + i * LANE]));
  const bad = offending(c, findings);
  const packets = c.packets.slice(0, MAX_LADDER_ROWS);
  const width = LEFT + lanesInOrder.length * LANE + 20;
  const height = TOP + packets.length * ROW + 20;
  const lanes = lanesInOrder.map((l) => {
    const x = laneX.get(laneOf(l))!;
    return html`<text class="lane" x="${x}" y="20" text-anchor="middle">${laneLabel(l.role, l.point)}</text><line class="lane" x1="${x}" y1="30" x2="${x}" y2="${height - 10}"/>`;
  });
  const rows = packets.map((p, i) => {
    const y = TOP + i * ROW + ROW / 2;
    const desc = `${p.direction === 'c2s' ? '→' : '←'} ${p.flags || '-'} seq ${p.seq}${p.ack ? ` ack ${p.ack}` : ''}${p.payloadLen ? ` len ${p.payloadLen}` : ''}`;
    // A copy's arrow starts at the last copy before it at another role: two real servers that
    // both saw a packet each got it from upstream, not from one another.
    const seen: LadderCopy[] = [];
    const copies = p.copies.map((copy) => {
      const x = laneX.get(laneOf(copy))!;
      const rules = bad.get(`${copy.capture}#${copy.frame}`);
      const cls = rules ? 'copy bad' : 'copy';
      const before = [...seen].reverse().find((b) => b.role !== copy.role);
      seen.push(copy);
      const from = before !== undefined ? laneX.get(laneOf(before))! : p.direction === 'c2s' ? x - STUB : x + STUB;
      const names = copy.changed.map((f) => SHORT[f] ?? f).join(' ');
      const detail = changedFields(copy);
      const tip = [
        `${copy.capture}#${copy.frame} at ${laneLabel(copy.role, copy.point)}, +${copy.tMs.toFixed(3)} ms`,
        `${copy.src}:${copy.sport} > ${copy.dst}:${copy.dport} ttl ${copy.ttl} id ${copy.ipId}`,
        ...(detail.length > 0 ? [`changed: ${detail.join(', ')}`] : []),
        ...(copy.toa ? [copy.toa] : []),
        ...(rules ? [`evidence for ${rules.join(', ')}`] : []),
      ].join('\n');
      const mid = (from + x) / 2;
      return html`<g class="${cls}" data-capture="${copy.capture}" data-frame="${copy.frame}"${rules ? html` data-rules="${rules.join(' ')}"` : ''}><title>${tip}</title>
<line x1="${from}" y1="${y}" x2="${x}" y2="${y}" marker-end="url(#arrow${rules ? '-bad' : ''})"/>
<circle cx="${x}" cy="${y}" r="4"/>
${names !== '' ? html`<text class="delta" x="${mid}" y="${y - 5}" text-anchor="middle">Δ ${names}</text>` : ''}
<text class="frame" x="${x + 6}" y="${y + 13}">#${copy.frame} +${copy.tMs.toFixed(3)}</text></g>`;
    });
    return html`<g class="packet ${p.direction}"><text class="desc" x="8" y="${y + 4}">${desc}</text>${copies}</g>`;
  });
  return html`<svg class="ladder" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img">

${lanes}${rows}</svg>${c.packets.length > packets.length ? html`<p class="muted">First ${packets.length} of ${c.packets.length} packets drawn.</p>` : ''}`;
}
