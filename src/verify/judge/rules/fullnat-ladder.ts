/**
 * FullNAT additions to a connection's ladder (verify --show): each copy's own seq/ack (the two
 * legs differ by the connection's seq delta), the TOA a copy carries, and a summary of the
 * translation (LIP:lport → RIP:rport, delta, TOA of the handshake-completing ACK).
 */
import type { Connection } from '../../model/connection.js';
import type { EngineContext } from '../../correlate/context.js';
import { findToa, profileToaKinds, toaText } from '../fnat-options.js';
import { fnatInfo, legOf } from '../../correlate/fnat-tracker.js';
import type { PacketRecord } from '../../model/record.js';
import type { ConnectionLadder } from '../../model/result.js';
import { legCopies, seqDeltaOf } from './fullnat.js';

const signed = (x: number): number => (x >= 0x80000000 ? x - 0x100000000 : x);

export function decorateFullnatLadder(ctx: EngineContext, c: Connection, l: ConnectionLadder, toaKinds?: readonly number[]): ConnectionLadder {
  const info = fnatInfo(c);
  if (!info) return l;
  const kinds = profileToaKinds(ctx.profile === 'alibaba' ? 'alibaba' : 'dpvs', info.clientFamily, toaKinds);
  const byFrame = new Map<string, PacketRecord>();
  for (const r of c.records) byFrame.set(`${r.capture}#${r.frame}`, r);
  // The client copy of each trace: what the director inserted is judged against it.
  const clientOf = new Map<PacketRecord, PacketRecord | undefined>();
  let handshakeToa: string | null = null;
  let handshakeSeen = false;
  const traces = [...c.traces].sort((a, b) => a.t0 - b.t0);
  for (const t of traces) {
    const { client, rs } = legCopies(t);
    for (const r of t.list) clientOf.set(r, client);
    const leg = info.leg;
    if (!handshakeSeen && t.c2s && rs && leg?.rsIsn != null && (rs.flags & 0x16) === 0x10 && rs.ack === ((leg.rsIsn + 1) >>> 0)) {
      handshakeSeen = true;
      const toa = findToa(rs, client ? client.tcpOpts : undefined, kinds);
      handshakeToa = toa ? toaText(toa) : null;
    }
  }
  for (const p of l.packets) {
    let prev: { seq: number; ack: number; toa: string | undefined } | null = null;
    for (const copy of p.copies) {
      const r = byFrame.get(`${copy.capture}#${copy.frame}`);
      if (!r) continue;
      copy.seq = r.seq;
      copy.ack = r.ack;
      const cl = clientOf.get(r);
      // On the RS leg the inserted option is found against the client copy; elsewhere by kind.
      const toa = r.tcpOpts ? findToa(r, legOf(r) === 'rs' && cl ? cl.tcpOpts : undefined, kinds) : null;
      if (toa) copy.toa = toaText(toa);
      if (prev) {
        if (prev.seq !== r.seq) copy.changed.push('seq');
        if (prev.ack !== r.ack) copy.changed.push('ack');
        if (prev.toa !== copy.toa) copy.changed.push('toa');
      }
      prev = { seq: r.seq, ack: r.ack, toa: copy.toa };
    }
  }
  if (info.leg) {
    const d = seqDeltaOf(traces);
    l.fullnat = {
      lip: info.leg.lip,
      lport: info.leg.lport,
      rip: info.leg.rip,
      rport: info.leg.rport,
      seqDelta: d === null ? null : signed(d),
      toaAtHandshake: handshakeToa,
    };
  }
  return l;
}
