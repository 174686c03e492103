/**
 * DR rules (rules.md "DR"; lvs-behavior.md §1.4, R6): between director ingress and egress only
 * the MACs, the TTL and the IP checksum change; the egress frame goes to the scheduled real
 * server's MAC; real servers answer from VIP:vport, directly to the client's next hop, and do
 * answer (a RST/ICMP to a forwarded SYN means the VIP is not configured on the RS).
 */
import type { Connection } from '../../model/connection.js';
import { methodOf, type EngineContext } from '../../correlate/context.js';
import type { PacketRecord } from '../../model/record.js';
import type { FindingSink } from '../sink.js';
import { copyAt, hostPort, insideCapture, isRst, ruleModule, walk, type RuleModule, type RuleTable, type TraceView } from './common.js';
import { isSyn } from '../../../decode/proto/tcp.js';

/** The run-wide fact (FindingSink.note) that a real server (by RIP) answers some connection:
 *  a silent RS is then not a dead host. */
const ANSWERING = 'dr.answering';

/**
 * The Linux form of dr.vip-not-bound: an RS without the VIP (ip_forward=0) drops a packet for an
 * address it does not own silently — no RST, no ICMP (fixtures/lab/dr-vip-not-bound, real kernel).
 * Forwarded SYNs reached the RS capture (dst VIP, the RS's own MAC) and the RS sent nothing at all
 * for the connection, while either it answers other connections or the client's retransmitted
 * SYNs reached it and died the same way (so it is not one lost packet).
 */
function silentRs(ctx: EngineContext, c: Connection, sink: FindingSink): void {
  const rip = c.backend;
  const rsIdx = rip ? ctx.rsPointByIp.get(rip) : undefined;
  if (!rip || rsIdx === undefined) return;
  const own = ctx.points[rsIdx]!.ownMac;
  const syns: PacketRecord[] = [];
  for (const t of c.traces) {
    if (!t.c2s) {
      if (copyAt(t, 'R')) return;
      continue;
    }
    const R = copyAt(t, 'R');
    if (R && isSyn(R) && R.ip.dst === ctx.service.vip && (!own || R.dstMac === own)) syns.push(R);
  }
  if (syns.length === 0) return;
  const last = syns[syns.length - 1]!;
  // The RS capture must have been running when the last SYN came for "sent nothing" to be
  // evidence (a silent real server's capture ends with the SYNs it did not answer).
  if (!insideCapture(ctx, rsIdx, last.t)) return;
  // One SYN could be one lost packet, unless the RS answers other connections of the run (any
  // of them, judged before or after this one: decided when all are judged).
  sink.addIfFact(
    'dr.vip-not-bound',
    c,
    ANSWERING,
    rip,
    syns.length < 2,
    `real server ${rip} received ${syns.length} forwarded SYN(s) for ${hostPort(ctx.service.vip, ctx.service.vport)} and sent nothing for the connection`,
    ' while it answers other connections',
    `the VIP is not configured on ${rip}: Linux silently drops packets for an address it does not own. Add it: ip addr add ${ctx.service.vip}/32 dev lo, with net.ipv4.conf.all.arp_ignore=1 and arp_announce=2 (lvs-behavior.md §4)`,
    syns.slice(0, 4),
  );
}

/** The DR walk's state for dr.vip-not-bound: the first forwarded SYN, and whether a reply to
 *  it was judged. */
export class DrState {
  synForwarded: PacketRecord | undefined = undefined;
  answered = false;
}

export type DrView = TraceView<DrState>;

/** dr.l3-modified: between director ingress and egress only MACs, TTL and checksum change. */
function l3Modified(v: DrView, sink: FindingSink): void {
  const { c, t, Di, De } = v;
  if (!t.c2s || !Di || !De) return;
  sink.check('dr.l3-modified');
  const d: string[] = [];
  if (Di.ip.src !== De.ip.src) d.push(`IP src ${Di.ip.src} → ${De.ip.src}`);
  if (Di.ip.dst !== De.ip.dst) d.push(`IP dst ${Di.ip.dst} → ${De.ip.dst}`);
  if (Di.sport !== De.sport || Di.dport !== De.dport) d.push(`ports ${Di.sport}/${Di.dport} → ${De.sport}/${De.dport}`);
  if (Di.ip.totalLen !== De.ip.totalLen) d.push(`IP length ${Di.ip.totalLen} → ${De.ip.totalLen}`);
  if (De.outer) d.push('packet encapsulated');
  if (d.length === 0) return;
  sink.add(
    'dr.l3-modified',
    c,
    `DR changed more than MACs/TTL/checksum: ${d.join(', ')}`,
    'a DR director only rewrites the destination MAC (lvs-behavior.md §1.4): check the forwarding method of the real server (-g) and NAT rules on the director',
    [Di, De],
  );
}

/** dr.dst-mac: the egress frame goes to the MAC of the scheduled real server. */
function dstMac(v: DrView, sink: FindingSink): void {
  const { ctx, c, t, De, R } = v;
  if (!t.c2s || !De || !De.dstMac || ctx.rsIpByMac.size === 0) return;
  const rip = ctx.rsIpByMac.get(De.dstMac);
  const seenAt = R ? ctx.points[R.point]!.rsIp : null;
  // "Not any RS" needs every RS's MAC; an RS capture without a known RIP still owns a MAC.
  const rsPointMacs = new Set(ctx.points.filter((p) => p.kind === 'rs' && p.ownMac).map((p) => p.ownMac!));
  const allKnown = ctx.rsMacsByIp.size >= ctx.rsByIp.size;
  const unknownMac = !rip && !rsPointMacs.has(De.dstMac);
  if (rip || allKnown || seenAt) sink.check('dr.dst-mac');
  if (!((unknownMac && allKnown) || (rip && seenAt && rip !== seenAt))) return;
  sink.add(
    'dr.dst-mac',
    c,
    `egress destination MAC ${De.dstMac} is not the MAC of ${seenAt ? `real server ${seenAt}` : 'any real server'}`,
    "the director's neighbour entry for the RIP is wrong (ip neigh show on the director), or the RS is not on the director's L2 segment as DR requires",
    [De],
  );
}

/** dr.reply-src: the real server replies from VIP:vport. */
function replySrc(v: DrView, sink: FindingSink): void {
  const { ctx, c, t, C, R } = v;
  const reply = R ?? C;
  if (t.c2s || !reply) return;
  const { vip, vport } = ctx.service;
  sink.check('dr.reply-src');
  if (reply.ip.src === vip && reply.sport === vport) return;
  sink.add(
    'dr.reply-src',
    c,
    `the real server replied from ${hostPort(reply.ip.src, reply.sport)} instead of ${hostPort(vip, vport)}`,
    `configure the VIP on real server ${c.backend ?? reply.ip.src} (ip addr add ${vip}/32 dev lo) and have the service listen on it; in DR the reply must come from the VIP (lvs-behavior.md §1.4)`,
    C && R ? [R, C] : [reply],
  );
}

/** dr.reply-via-director: real-server replies go to the client's next hop, not the director. */
function replyViaDirector(v: DrView, sink: FindingSink): void {
  const { ctx, c, t, R } = v;
  if (t.c2s || !R || !R.dstMac || ctx.directorMacs.size === 0) return;
  sink.check('dr.reply-via-director');
  if (!ctx.directorMacs.has(R.dstMac)) return;
  sink.add(
    'dr.reply-via-director',
    c,
    `the real server sends replies to the director's MAC ${R.dstMac}`,
    "DR replies should go to the client's next hop directly; the RS default route points at the director",
    [R],
  );
}

/**
 * dr.vip-not-bound: a real server answers a forwarded SYN with RST, or (the Linux form,
 * silentRs) sends nothing at all for the connection.
 */
const vipNotBound = {
  begin(v: DrView, sink: FindingSink): void {
    const { c } = v;
    if (c.backend && c.traces.some((t) => !t.c2s && copyAt(t, 'R'))) sink.note(ANSWERING, c.backend);
    v.s.synForwarded = undefined;
    v.s.answered = false;
  },
  trace(v: DrView, sink: FindingSink): void {
    const { ctx, c, t, C, De, R } = v;
    if (t.c2s) {
      if (isSyn(t.list[0]!) && (De || R)) v.s.synForwarded ??= R ?? De;
      return;
    }
    const reply = R ?? C;
    if (!reply || !v.s.synForwarded || v.s.answered) return;
    v.s.answered = true;
    sink.check('dr.vip-not-bound');
    if (!isRst(reply)) return;
    const vip = ctx.service.vip;
    sink.add(
      'dr.vip-not-bound',
      c,
      `the real server answered the forwarded SYN with RST`,
      `the VIP ${vip} is not configured on real server ${c.backend ?? '?'} or nothing listens on it: ip addr add ${vip}/32 dev lo, with arp_ignore=1/arp_announce=2 (lvs-behavior.md §4)`,
      [v.s.synForwarded, reply],
    );
  },
  end(v: DrView, sink: FindingSink): void {
    if (v.s.answered || !v.s.synForwarded) return;
    sink.check('dr.vip-not-bound');
    silentRs(v.ctx, v.c, sink);
  },
};

/** The DR rules by id, in judging order. */
export const DR_RULES = {
  'dr.l3-modified': { trace: l3Modified },
  'dr.dst-mac': { trace: dstMac },
  'dr.reply-src': { trace: replySrc },
  'dr.reply-via-director': { trace: replyViaDirector },
  'dr.vip-not-bound': vipNotBound,
} as const satisfies RuleTable<DrState>;

export const drRules: RuleModule = ruleModule('dr', [walk(DR_RULES, new DrState(), { applies: (v) => methodOf(v.ctx, v.c.backend) === 'dr' })]);
