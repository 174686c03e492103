/**
 * Flow correlation rules (rules.md "Flow correlation"): was every packet that reached the
 * director forwarded, did forwarded copies arrive, did anything reach a real server around the
 * director, and where do RSTs and SYN retransmissions come from.
 */
import type { Connection, Trace } from '../../model/connection.js';
import type { EngineContext } from '../../correlate/context.js';
import type { PacketRecord } from '../../model/record.js';
import { CAPTURE_END_SLACK_NS, type LoadedPoint } from '../../read/points.js';
import type { FindingSink } from '../sink.js';
import { copyAt, egressFrom, insideCapture, isRst, ruleModule, walk, type RuleModule, type RuleTable, type TraceView } from './common.js';
import { isSyn } from '../../../decode/proto/tcp.js';
import { exhaustionHint } from '../../correlate/lip-ports.js';

/**
 * A client packet the director correctly did not forward as it arrived (lvs-behavior.md):
 *  - a first IP fragment: the kernel reassembles before IPVS, so the forwarded copy is the whole
 *    datagram (same client address, IP ID and seq, payload = all fragments) — §1.6 gather_frags;
 *  - answered by the director with ICMP time-exceeded (TTL ≤ 1, §1.2 step 3, R1) or with
 *    fragmentation-needed / packet-too-big for a DF packet above the MTU (§1.2 step 5, R8);
 *  - a non-SYN packet of a connection IPVS never scheduled (no SYN seen, nothing of it forwarded):
 *    no conn entry → not scheduled, delivered to the director's own stack, which may answer RST
 *    (§1.7).
 */
function refusedAsSpecified(ctx: EngineContext, c: Connection, Di: PacketRecord, C: PacketRecord | undefined): boolean {
  const answers = ctx.answers;
  if (Di.ip.mf && answers) {
    const whole = answers.reassembledPayload(Di.ip.src, Di.ip.dst, Di.ip.id);
    for (const t of c.traces) {
      if (!t.c2s) continue;
      // Either forwarded copy: the director's egress capture may show the datagram cut by
      // segmentation offload, the real server's whole.
      for (const fwd of [copyAt(t, 'De'), copyAt(t, 'R')]) {
        // With the whole datagram's size known, seq + size identify the reassembled copy, so a
        // director that also rewrites the IP ID is judged by rewrite.ip-fields, not reported here.
        const same = whole < 0 ? fwd?.ip.id === Di.ip.id : fwd?.payloadLen === whole;
        if (fwd && same && fwd.seq === Di.seq && fwd.ip.src === Di.ip.src) return true;
      }
    }
    // The reassembled datagram forwarded in pieces (segmentation offload at the director's
    // egress capture): its bytes are there by sequence range, not in one copy.
    if (whole > 0 && (coveredAt(c, Di, whole, 'De') || coveredAt(c, Di, whole, 'R'))) return true;
  }
  const icmp = answers?.icmpFor(Di.ip.src, Di.sport, Di.ip.id, Di.seq);
  if (icmp) {
    const timeExceeded = icmp.family === 4 ? icmp.type === 11 : icmp.type === 3;
    if (timeExceeded && Di.ip.ttl <= 1) return true;
    const tooBig = icmp.family === 4 ? icmp.type === 3 && icmp.code === 4 && Di.ip.df : icmp.type === 2;
    // The packet as sent: the director ingress copy may be a piece of it where the capture
    // shows segmentation offload (the client's copy is then the whole).
    const size = Math.max(Di.ip.totalLen, C?.ip.totalLen ?? 0);
    if (tooBig && icmp.mtu > 0 && size > icmp.mtu) return true;
  }
  // Where the captures show the refused segment only in pieces (segmentation offload at the
  // client and at the director's ingress), the error quotes the segment as the director had it:
  // its byte range, not one packet, says which pieces it refused (capture-artifacts.md §2).
  if (Di.proto === 'tcp' && (Di.ip.df || Di.ip.v === 6) && answers?.tooBigCovering(Di.ip.src, Di.sport, Di.ip.id, Di.seq, Di.payloadLen, Di.ts, ctx.windowNs)) return true;
  if ((Di.flags & 0x02) === 0 && c.isn === null) {
    const forwarded = c.traces.some((t) => t.c2s && (copyAt(t, 'De') !== undefined || copyAt(t, 'R') !== undefined));
    if (!forwarded) return true;
  }
  return false;
}

/**
 * True when client copies in `role` from Di's source hold every byte of [Di.seq, Di.seq + len):
 * a packet forwarded as pieces (capture-artifacts.md §2), paired by its byte range.
 */
function coveredAt(c: Connection, Di: PacketRecord, len: number, role: 'De' | 'R'): boolean {
  const spans: [number, number][] = [];
  const add = (r: PacketRecord): void => {
    if (r.role !== role || r.proto !== 'tcp' || r.payloadLen === 0 || r.ip.src !== Di.ip.src) return;
    const from = (r.seq - Di.seq) >>> 0;
    if (from < len) spans.push([from, from + r.payloadLen]);
  };
  for (const t of c.traces) {
    if (!t.c2s) continue;
    for (const r of t.list) add(r);
    if (t.pieces) for (const r of t.pieces) add(r);
  }
  spans.sort((a, b) => a[0] - b[0]);
  let covered = 0;
  for (const [from, to] of spans) {
    if (from > covered) return false;
    if (to > covered) covered = to;
  }
  return covered >= len;
}

/** The flow walk's state: the SYN traces of the connection so far (flow.syn-retransmit). */
export class FlowState {
  readonly synTraces: Trace[] = [];
}

export type FlowView = TraceView<FlowState>;

/** flow.not-forwarded: a client packet reached the director and no forwarded copy left it. */
function notForwarded(v: FlowView, sink: FindingSink): void {
  const { ctx, c, t, C, Di, De, R } = v;
  const dir = ctx.points[ctx.directorIdx];
  if (!t.c2s || !dir || !Di) return;
  // A packet at the very end of the director capture may have left after tcpdump stopped.
  const atEnd = Di.ts >= dir.lastTs - CAPTURE_END_SLACK_NS && !De;
  if (atEnd || Di.ip.ttl <= 1) return;
  // FullNAT: a SYN that came while every LIP's ports toward a real server were held
  // (correlate/lip-ports.ts) had no port to leave with, whatever the egress capture shows.
  const exhausted = isSyn(Di) && !R ? ctx.lipPorts?.exhaustedAt(Di.t) : undefined;
  // The director captured per interface (several files, each with its own span): with no
  // egress copy of the connection from this packet on, the egress file may not have been
  // running (started later, stopped earlier): its absence proves nothing — unless every file
  // of the director has frames from before the packet and from after it left.
  if (dir.files.length > 1 && !De && !R && !egressFrom(c, Di.t) && !everyFileRunning(dir, Di.ts) && !exhausted?.length) return;
  const rsIdx = c.backend ? ctx.rsPointByIp.get(c.backend) : undefined;
  const rsSees = rsIdx !== undefined && insideCapture(ctx, rsIdx, Di.t);
  // FullNAT: packets got through (a real server has them, or answers reached the client) yet
  // the director's capture has shown none leaving toward a real server: it does not hold that
  // interface (`tcpdump -i eth0` of a two-armed director), so it cannot show this one leave.
  const seen = ctx.fnatSeen;
  if (seen !== undefined && !seen.egress && seen.delivered && !De && !R && !rsSees && !exhausted?.length) return;
  // FullNAT, director captured per interface: before the first packet seen leaving toward a
  // real server, that interface's capture may not have been running yet.
  if (seen !== undefined && dir.files.length > 1 && Di.t < seen.firstEgressT && !De && !R && !rsSees && !exhausted?.length) return;
  sink.check('flow.not-forwarded');
  if (De || R || refusedAsSpecified(ctx, c, Di, C)) return;
  // With no capture at the real server to agree, a packet that was forwarded as far as the flow
  // can tell (later ones were and it was never sent again, or the peer took its ACK) is one the
  // director's capture missed.
  if (!rsSees && (missedBy(c, t, 'De') || ackTaken(c, t))) return sink.captureNote('gap', Di, 0, ctx.directorIdx);
  // The director's capture says it dropped packets (pcapng statistics): with no real server's
  // capture to agree, a missing egress copy may be one of them.
  if (!rsSees && statesDrops(ctx, ctx.directorIdx)) return sink.captureNote('gap', Di, 0, ctx.directorIdx);
  // The server acknowledged it: it got through, whatever the director's capture shows (one
  // interface of it, or frames tcpdump dropped).
  if (ackedByServer(c, t, ctx.service.synproxy)) return sink.captureNote('gap', Di, 0, ctx.directorIdx);
  if (firstDatagramAnswered(c, t)) return sink.captureNote('gap', Di, 0, ctx.directorIdx);
  // No client packet of the connection is seen leaving the director, yet the server answered
  // it or got some of them: the director's capture does not show its interface toward the real
  // servers (one interface captured, or that file not given), so it cannot show this one leave
  // either, nor tell the director's drop from a loss on the way.
  if (!egressFrom(c, -Infinity) && (answeredByServer(c) || reachedRealServer(c) || clientAcknowledged(c, ctx.service.synproxy))) return sink.captureNote('gap', Di, 0, ctx.directorIdx);
  // A connection's last bare ACK: nothing follows it to show whether it got through, and
  // nothing the director could lose with it; without the real server's capture, no evidence.
  if (!rsSees && Di.proto === 'tcp' && Di.payloadLen === 0 && (Di.flags & 0x07) === 0 && !laterInDirection(c, t)) return;
  // Nothing proves it got through, nor that it did not: one of the director's files, written
  // alongside another, had not started when it came (one that stopped early shows no egress
  // copy from then on, which the test above takes), and no real server's capture says.
  if (!rsSees && parallelFileNotStarted(dir, Di.ts) && !exhausted?.length) return;
  const expect = c.backend ? ` to real server ${c.backend}` : '';
  sink.add(
    'flow.not-forwarded',
    c,
    `a client packet reached the director (frame ${Di.frame}) and no forwarded copy${expect} left it within ${ctx.windowNs / 1e6} ms`,
    exhausted?.length
      ? exhaustionHint(exhausted)
      : 'the director dropped it: check `ipvsadm -Lnc` for the connection, that the real server is present with weight > 0, conntrack/firewall FORWARD rules and rp_filter on the director',
    C ? [C, Di] : [Di],
  );
}

/** True when each file of point `p` has a frame at or before `ts` and one well after it (its
 *  forwarded copy would have been written while every file was being written). */
function everyFileRunning(p: LoadedPoint, ts: number): boolean {
  const spans = p.fileSpans;
  if (spans === undefined) return false;
  for (let j = 0; j < spans.length; j += 2) if (spans[j]! > ts || spans[j + 1]! < ts + CAPTURE_END_SLACK_NS) return false;
  return true;
}

/**
 * True when a file of point `p` had not started at `ts` while another file of the point was
 * being written from before `ts` until after that start: the files are written side by side
 * (one per interface), not one after the other (ring-buffer parts, each starting after the one
 * before it ended), so the file not yet started may be where the forwarded copy went.
 */
function parallelFileNotStarted(p: LoadedPoint, ts: number): boolean {
  const spans = p.fileSpans;
  if (spans === undefined) return false;
  for (let f = 0; f < spans.length; f += 2) {
    const first = spans[f]!;
    if (first <= ts || first === Infinity) continue;
    for (let g = 0; g < spans.length; g += 2) if (g !== f && spans[g]! <= ts && spans[g + 1]! >= first) return true;
  }
  return false;
}

/** True when the capture at point `idx` says it dropped packets (its pcapng statistics blocks):
 *  a packet it lacks is then no evidence (capture-artifacts.md §3). */
function statesDrops(ctx: EngineContext, idx: number): boolean {
  return (ctx.points[idx]?.statedDrops ?? 0) > 0;
}

/**
 * True when trace `t`'s packet reached the point of `role` although that capture does not show
 * it (capture-artifacts.md §3): a later packet of the same direction is there, and the sender
 * never sent this one again. A TCP packet lost on the way is retransmitted (the same sequence
 * number, or a SYN or FIN again); one the capture missed is not. UDP has no such proof.
 */
function missedBy(c: Connection, t: Trace, role: 'R' | 'C' | 'De'): boolean {
  const r = t.list[0]!;
  if (r.proto !== 'tcp') return false;
  let later = false;
  for (const x of c.traces) {
    if (x === t || x.c2s !== t.c2s || x.t0 < t.t0) continue;
    const y = x.list[0]!;
    const again = y.seq === r.seq && (r.payloadLen > 0 ? y.payloadLen > 0 : (r.flags & 0x03) !== 0 && (y.flags & 0x03) === (r.flags & 0x03));
    if (again) return false;
    if (copyAt(x, role) !== undefined) later = true;
  }
  return later;
}

/**
 * True when trace `t`'s client packet takes sequence space (payload, SYN, FIN) and a reply copy
 * on the client's side of the director (at the client, or as it leaves the director toward the
 * client: there the acknowledgement is in the client's sequence space whatever the director
 * shifts) acknowledges it, and no other send of the client covers its bytes. Not a SYN where the
 * service has a SYN proxy: the director answers that one itself.
 */
function ackedByServer(c: Connection, t: Trace, synproxy: boolean): boolean {
  const r = t.list[0]!;
  if (r.proto !== 'tcp' || (synproxy && (r.flags & 0x02) !== 0)) return false;
  const end = seqEnd(r);
  if (end === r.seq) return false;
  // Only if the client never sent those bytes again: a later send (a retransmission, smaller
  // segments after a frag-needed) may be what the server acknowledged.
  for (const x of c.traces) {
    if (x === t || !x.c2s) continue;
    const y = x.list[0]!;
    const yEnd = seqEnd(y);
    if (yEnd !== y.seq && ((y.seq - end) | 0) < 0 && ((r.seq - yEnd) | 0) < 0) return false;
  }
  for (const x of c.traces) {
    if (x.c2s) continue;
    for (const y of x.list) {
      if ((y.role !== 'C' && y.role !== 'De') || (y.flags & 0x10) === 0) continue;
      if (((y.ack - end) >>> 0) < 0x8000_0000) return true;
    }
  }
  return false;
}

/** True when the connection has a reply that is not a bare RST (the director's own stack may
 *  reset a packet it did not schedule, §1.7). */
function answeredByServer(c: Connection): boolean {
  for (const x of c.traces) if (!x.c2s && (x.list[0]!.proto !== 'tcp' || (x.list[0]!.flags & 0x04) === 0)) return true;
  return false;
}

/**
 * True when `t` is the first datagram of a UDP flow and the server sent on the flow before the
 * client's next datagram: a real server learns the client's address and port only from a
 * datagram the director forwarded, and this was the only one it could have been (the
 * director's egress copy may be missing because that interface's capture started later).
 */
function firstDatagramAnswered(c: Connection, t: Trace): boolean {
  if (t.list[0]!.proto !== 'udp') return false;
  let next = Infinity;
  for (const x of c.traces) {
    if (!x.c2s || x === t) continue;
    if (x.t0 < t.t0) return false;
    if (x.t0 < next) next = x.t0;
  }
  for (const x of c.traces) if (!x.c2s && x.t0 > t.t0 && x.t0 < next) return true;
  return false;
}

/**
 * True when the client acknowledged an answer to its SYN: it sends ACKs only once a SYN-ACK
 * reached it, and only a real server sends that (the director does itself only with a SYN
 * proxy). The answer itself may be in no capture given (the client's capture stopped, the
 * director's shows none of its own output: DPVS on af_packet).
 */
function clientAcknowledged(c: Connection, synproxy: boolean): boolean {
  if (synproxy || c.isn === null) return false;
  for (const x of c.traces) {
    const y = x.list[0]!;
    if (x.c2s && y.proto === 'tcp' && (y.flags & 0x16) === 0x10) return true;
  }
  return false;
}

/** True when a client packet of the connection is seen at a real server. */
function reachedRealServer(c: Connection): boolean {
  for (const x of c.traces) if (x.c2s && copyAt(x, 'R') !== undefined) return true;
  return false;
}

/** True when the connection has a packet of `t`'s direction after it. */
function laterInDirection(c: Connection, t: Trace): boolean {
  for (const x of c.traces) if (x !== t && x.c2s === t.c2s && x.t0 > t.t0) return true;
  return false;
}

/** Sequence space a TCP packet takes: its payload, and one for SYN and for FIN. */
const seqEnd = (r: PacketRecord): number => (r.seq + r.payloadLen + ((r.flags & 0x02) !== 0 ? 1 : 0) + ((r.flags & 0x01) !== 0 ? 1 : 0)) >>> 0;

/**
 * True when trace `t`'s packet acknowledges a packet of the other direction that was never sent
 * again: the peer got the acknowledgement (a lost one leaves the peer retransmitting). Only a
 * packet that carries nothing else to lose (no payload, SYN or FIN of its own) is proved so.
 */
function ackTaken(c: Connection, t: Trace): boolean {
  const r = t.list[0]!;
  if (r.proto !== 'tcp' || r.payloadLen > 0 || (r.flags & 0x13) !== 0x10) return false;
  let acked: PacketRecord | null = null;
  for (const x of c.traces) {
    if (x.c2s === t.c2s) continue;
    const y = x.list[0]!;
    // A segmented trace's copies start its byte range; the piece that ends it may be the one
    // acknowledged (a super-segment at one point, its segments at another).
    const end = x.pieces === null ? y : x.pieces.find((p) => seqEnd(p) === r.ack) ?? y;
    if (x.t0 < t.t0 && seqEnd(end) === r.ack && seqEnd(end) !== end.seq) acked = y;
    else if (acked !== null && x.t0 > t.t0 && y.seq === acked.seq) return false;
  }
  return acked !== null;
}

/** flow.lost-in-transit: a forwarded copy (or a reply) never reached the next capture point. */
function lostInTransit(v: FlowView, sink: FindingSink): void {
  const { ctx, c, t, C, De, R } = v;
  if (t.c2s) {
    if (!De) return;
    const rip = c.backend;
    const rsIdx = rip ? ctx.rsPointByIp.get(rip) : undefined;
    if (rsIdx === undefined || !insideCapture(ctx, rsIdx, De.t)) return;
    sink.check('flow.lost-in-transit');
    if (R) return;
    if (missedBy(c, t, 'R') || statesDrops(ctx, rsIdx)) return sink.captureNote('gap', De, 0, rsIdx);
    sink.add(
      'flow.lost-in-transit',
      c,
      `a copy forwarded to ${rip} (frame ${De.frame}) never reached the real-server capture`,
      'check the link/switch between director and real server, the RS firewall, and the RS capture filter',
      [De],
    );
    return;
  }
  // Replies: lost between director and client (NAT), or between RS and client (DR/TUN).
  const from = De ?? (ctx.methods.has('nat') ? undefined : R);
  if (!from || ctx.clientIdx < 0 || !insideCapture(ctx, ctx.clientIdx, from.t)) return;
  sink.check('flow.lost-in-transit');
  if (C) return;
  if (missedBy(c, t, 'C') || statesDrops(ctx, ctx.clientIdx)) return sink.captureNote('gap', from, 0, ctx.clientIdx);
  sink.add(
    'flow.lost-in-transit',
    c,
    `a reply (frame ${from.frame} at ${ctx.points[from.point]!.name}) never reached the client capture`,
    'check the path back to the client (routers, firewalls, asymmetric routing)',
    [from],
  );
}

/**
 * flow.bypassed-director: a packet to the VIP reached a real server and not the director. The
 * real server's copy says where it came from: sent by a director MAC, it passed the director
 * and the director's capture missed it (a gap, not a fault); sent by another MAC, it bypassed
 * the director whatever the director's capture covers; with no MAC (a cooked capture), only
 * the director's capture running at the time is evidence.
 */
function bypassedDirector(v: FlowView, sink: FindingSink): void {
  const { ctx, c, t, C, Di, De, R } = v;
  if (!t.c2s || !R || !ctx.points[ctx.directorIdx]) return;
  sink.check('flow.bypassed-director');
  if (Di || De || R.ip.dst !== ctx.service.vip || R.outer) return;
  const inside = insideCapture(ctx, ctx.directorIdx, R.t);
  if (R.srcMac !== null && ctx.directorMacs.has(R.srcMac)) {
    if (inside) sink.captureNote('gap', R, 0, ctx.directorIdx);
    return;
  }
  if (R.srcMac === null && !inside) return;
  if (R.srcMac === null && statesDrops(ctx, ctx.directorIdx)) return sink.captureNote('gap', R, 0, ctx.directorIdx);
  sink.add(
    'flow.bypassed-director',
    c,
    `a packet to the VIP reached ${ctx.points[R.point]!.name} without passing the director (src MAC ${R.srcMac ?? '?'})`,
    "the client (or its router) resolves the VIP to the real server's MAC: set arp_ignore=1 and arp_announce=2 on the real servers and flush the client's ARP cache",
    C ? [C, R] : [R],
  );
}

/** flow.unexpected-rst: an RST on one leg that the leg it claims to come from did not send. */
function unexpectedRst(v: FlowView, sink: FindingSink): void {
  const { ctx, c, t } = v;
  const any = t.list[0]!;
  if (!isRst(any)) return;
  const originRole = t.c2s ? 'C' : 'R';
  const originIdx = t.c2s ? ctx.clientIdx : c.backend ? ctx.rsPointByIp.get(c.backend) ?? -1 : -1;
  if (originIdx < 0 || !insideCapture(ctx, originIdx, any.t)) return;
  sink.check('flow.unexpected-rst');
  if (copyAt(t, originRole)) return;
  sink.add(
    'flow.unexpected-rst',
    c,
    `an RST on the ${t.c2s ? 'client → server' : 'server → client'} leg that the ${t.c2s ? 'client' : 'real server'} did not send`,
    'the director or a middlebox generated it: check conn_reuse_mode/expire_nodest_conn on the director and stateful firewalls on the path',
    t.list,
  );
}

/**
 * flow.syn-retransmit: the client sent its SYN again because the first one got no answer. Says
 * where it was lost: at the director (not forwarded) or after it (forwarded, no reply).
 */
const synRetransmit = {
  begin(v: FlowView): void {
    v.s.synTraces.length = 0;
  },
  trace(v: FlowView): void {
    const { t, C, Di, De, R } = v;
    if (t.c2s && isSyn(C ?? Di ?? De ?? R!)) v.s.synTraces.push(t);
  },
  end(v: FlowView, sink: FindingSink): void {
    const { c } = v;
    const { synTraces } = v.s;
    if (synTraces.length <= 1) return;
    sink.check('flow.syn-retransmit');
    const first = synTraces[0]!;
    const second = synTraces[1]!;
    const answeredBefore = c.traces.some((t) => !t.c2s && t.t0 < second.t0 && (t.list[0]!.flags & 0x12) === 0x12);
    const Di = copyAt(first, 'Di');
    const fwd = copyAt(first, 'De') ?? copyAt(first, 'R');
    if (answeredBefore || (!Di && !fwd)) return;
    const droppedAtDirector = Di !== undefined && fwd === undefined;
    sink.add(
      'flow.syn-retransmit',
      c,
      droppedAtDirector
        ? 'the client retransmitted its SYN because the director dropped the first one'
        : `the client retransmitted its SYN: the first was forwarded${c.backend ? ` to ${c.backend}` : ''} and never answered`,
      droppedAtDirector
        ? 'a SYN hitting an old connection entry is dropped when it uses conntrack (conn_reuse_mode, lvs-behavior.md §1.7); also check for no available real server'
        : `the real server dropped the SYN silently: VIP not configured on it (DR/TUN: ip addr add VIP/32 dev lo), a firewall, or rp_filter on ${c.backend ?? 'the real server'}`,
      synTraces.flatMap((x) => x.list).slice(0, 8),
    );
  },
};

/** The flow rules by id, in judging order. */
export const FLOW_RULES = {
  'flow.not-forwarded': { trace: notForwarded },
  'flow.lost-in-transit': { trace: lostInTransit },
  'flow.bypassed-director': { trace: bypassedDirector },
  'flow.unexpected-rst': { trace: unexpectedRst },
  'flow.syn-retransmit': synRetransmit,
} as const satisfies RuleTable<FlowState>;

export const flowRules: RuleModule = ruleModule('flow', [walk(FLOW_RULES, new FlowState())]);
