/**
 * `verify --show CONN`: a text ladder of one connection — every copy of every packet at every
 * capture point, one row per packet, one column per point role, with the fields that changed
 * on the way (so a NAT dst rewrite, a TTL decrement or a FullNAT seq shift is visible at once).
 */
import { basename } from 'node:path';
import Table from 'cli-table3';
import type { ConnectionLadder, LadderCopy } from '../model/result.js';

const ROLES: LadderCopy['role'][] = ['client', 'director-in', 'director-out', 'rs'];

/** Picks the connections a --show argument names: an index (1-based, in report order), or any
 *  substring of the connection label / client address:port. */
export function selectConnections(all: readonly ConnectionLadder[], which: string): ConnectionLadder[] {
  if (/^\d+$/.test(which)) {
    const c = all[Number(which) - 1];
    return c ? [c] : [];
  }
  return all.filter((c) => c.conn.includes(which) || c.client.includes(which));
}

/** The fields of a copy that changed against the previous copy on the path, as "dst 10.0.0.11". */
export function changedFields(c: LadderCopy): string[] {
  const detail: string[] = [];
  for (const f of c.changed) {
    if (f === 'dst') detail.push(`dst ${c.dst}`);
    else if (f === 'src') detail.push(`src ${c.src}`);
    else if (f === 'sport') detail.push(`sport ${c.sport}`);
    else if (f === 'dport') detail.push(`dport ${c.dport}`);
    else if (f === 'ttl') detail.push(`ttl ${c.ttl}`);
    else if (f === 'ipId') detail.push(`id ${c.ipId}`);
    else if (f === 'dstMac') detail.push(`dmac ${c.dstMac ?? '-'}`);
    else if (f === 'srcMac') detail.push(`smac ${c.srcMac ?? '-'}`);
    else if (f === 'outer' && c.outer) detail.push(`outer ${c.outer.src} > ${c.outer.dst} ttl ${c.outer.ttl}`);
    else if (f === 'seq' && c.seq !== undefined) detail.push(`seq ${c.seq}`);
    else if (f === 'ack' && c.ack !== undefined) detail.push(`ack ${c.ack}`);
    else if (f === 'toa') detail.push(c.toa ? 'toa added' : 'toa removed');
    else detail.push(f);
  }
  return detail;
}

/**
 * Where a copy is, as the evidence lines name it: `#frame` when its point is one capture file,
 * `file#frame` when the point has several (a director captured per interface): frame numbers
 * are per file, and `#3` alone would not say which file to open in Wireshark.
 */
function frameRef(c: LadderCopy, multiFile: ReadonlySet<string>): string {
  return multiFile.has(c.point) ? `${basename(c.capture)}#${c.frame}` : `#${c.frame}`;
}

function cell(c: LadderCopy, showAddrs: boolean, multiFile: ReadonlySet<string>): string {
  const lines = [`${frameRef(c, multiFile)} +${c.tMs.toFixed(3)}ms`];
  if (showAddrs) lines.push(`${c.src}:${c.sport} > ${c.dst}:${c.dport}`);
  const detail = changedFields(c);
  if (detail.length > 0) lines.push(`Δ ${detail.join(', ')}`);
  if (c.toa) lines.push(c.toa);
  return lines.join('\n');
}

export function renderLadder(c: ConnectionLadder): string {
  const roles = ROLES.filter((r) => c.packets.some((p) => p.copies.some((x) => x.role === r)));
  const head = ['', 'packet', ...roles.map((r) => {
    const pt = c.packets.flatMap((p) => p.copies).find((x) => x.role === r)?.point ?? r;
    return r === 'director-in' || r === 'director-out' ? `${pt} (${r === 'director-in' ? 'in' : 'out'})` : pt;
  })];
  const filesOf = new Map<string, Set<string>>();
  for (const p of c.packets) for (const x of p.copies) (filesOf.get(x.point) ?? filesOf.set(x.point, new Set()).get(x.point)!).add(x.capture);
  const multiFile = new Set([...filesOf].filter(([, files]) => files.size > 1).map(([point]) => point));
  const table = new Table({ head, style: { head: [], border: [] } });
  for (const p of c.packets) {
    const arrow = p.direction === 'c2s' ? '→' : '←';
    const desc = `${p.flags || '-'} seq ${p.seq}${p.ack ? ` ack ${p.ack}` : ''}${p.payloadLen ? ` len ${p.payloadLen}` : ''}`;
    const first = p.copies[0];
    const row = [arrow, desc];
    for (const r of roles) {
      const copy = p.copies.find((x) => x.role === r);
      row.push(copy ? cell(copy, copy === first, multiFile) : '·');
    }
    table.push(row);
  }
  const out = [
    `connection ${c.conn}`,
    `  client ${c.client}, real server ${c.realServer ?? 'unknown'}, first packet ${c.start}`,
    ...(c.fullnat
      ? [
          `  FullNAT ${c.fullnat.lip}:${c.fullnat.lport} → ${c.fullnat.rip}:${c.fullnat.rport}, seq delta ${c.fullnat.seqDelta === null ? 'unknown' : `${c.fullnat.seqDelta >= 0 ? '+' : ''}${c.fullnat.seqDelta}`}, TOA on the handshake-completing ACK: ${c.fullnat.toaAtHandshake ?? 'none'}`,
        ]
      : []),
    c.rules.length ? `  findings: ${c.rules.join(', ')}` : '  findings: none',
    table.toString(),
    '  (→ client to server, ← server to client; #frame (file#frame where a point has several files)',
    '   and time since the first packet, clock-corrected; Δ fields changed against the previous copy',
    '   on the path; · no copy at that point)',
  ];
  return `${out.join('\n')}\n`;
}
