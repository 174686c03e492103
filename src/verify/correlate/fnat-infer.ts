/**
 * FullNAT service inference (no --config): a FullNAT director forwards the client's SYN from a
 * local address to the real server, so no SYN of the client's endpoint ever leaves toward a
 * RIP and the NAT/DR/TUN inference finds no real server. The two legs are recognised by what
 * FullNAT keeps (lvs-behavior.md §2.1, §2.4): the SYN's IPv4 ID (IPv6: flow label, synMark)
 * and window, and the RS's ISN (the SYN-ACK seq, identical on both legs).
 */
import type { RealServer } from '../service/model.js';
import type { LoadedPoint } from '../read/points.js';
import type { PacketRecord } from '../model/record.js';
import { isSyn, isSynAck } from '../../decode/proto/tcp.js';
import { synMark } from './fnat-tracker.js';

export interface InferredFullnat {
  realServers: RealServer[];
  /** LIPs seen as the source of forwarded SYNs. */
  localAddresses: string[];
}

/** Real servers and local addresses of a FullNAT service on VIP:vport, or null when the
 *  captures show no forwarded leg. */
export function inferFullnat(points: readonly LoadedPoint[], vip: string, vport: number): InferredFullnat | null {
  const clientSynIds = new Set<string>();
  const clientSynAckSeqs = new Set<number>();
  const clients = new Set<string>();
  for (const p of points) {
    for (const r of p.records) {
      if (r.outer) continue;
      if (isSyn(r) && r.ip.dst === vip && r.dport === vport) {
        clients.add(r.ip.src);
        const k = synKey(r);
        if (k !== null) clientSynIds.add(k);
      } else if (isSynAck(r) && r.ip.src === vip && r.sport === vport) {
        clientSynAckSeqs.add(r.seq);
      }
    }
  }
  if (clients.size === 0) return null;
  const rs = new Map<string, RealServer>();
  const lips: string[] = [];
  const note = (rip: string, rport: number, lip: string): void => {
    if (rip === vip || clients.has(lip)) return;
    if (!rs.has(rip)) rs.set(rip, { ip: rip, port: rport, weight: 1, method: 'fullnat' });
    if (!lips.includes(lip)) lips.push(lip);
  };
  for (const p of points) {
    if (p.kind === 'client') continue;
    for (const r of p.records) {
      if (r.outer) continue;
      if (isSyn(r) && r.ip.dst !== vip && clientSynIds.has(synKey(r) ?? '')) note(r.ip.dst, r.dport, r.ip.src);
      else if (isSynAck(r) && r.ip.src !== vip && clientSynAckSeqs.has(r.seq)) note(r.ip.src, r.sport, r.ip.dst);
    }
  }
  return rs.size > 0 ? { realServers: [...rs.values()], localAddresses: lips } : null;
}

/** A SYN's mark and window (IPv4: an ID of 0 too, with the window to tell SYNs apart); null for
 *  an IPv6 SYN without a flow label. */
function synKey(r: PacketRecord): string | null {
  if (r.ip.v === 4) return `${r.ip.id}|${r.window}`;
  const mark = synMark(r);
  return mark === 0 ? null : `${mark}|${r.window}`;
}
