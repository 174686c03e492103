/**
 * Flow correlation rules (rules.md "Flow correlation"): was every packet that reached the
 * director forwarded, did forwarded copies arrive, did anything reach a real server around the
 * director, and where do RSTs and SYN retransmissions come from.
 */
import type { Connection, Trace } from '../../model/connection.js';
import type { EngineContext } from '../../correlate/context.js';
import type { PacketRecord } from '../../model/record.js';
import { CAPTURE_END_SLACK_NS } from '../../read/points.js';
import type { FindingSink } from '../sink.js';
import { copyAt, insideCapture, isRst, ruleModule, walk, type RuleModule, type RuleTable, type TraceView } from './common.js';
import { isSyn } from '../../../decode/proto/tcp.js';

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
function refusedAsSpecified(ctx: EngineContext, c: Connection, Di: PacketRecord): boolean {
  const answers = ctx.answers;
  if (Di.ip.mf && answers) {
    const whole = answers.reassembledPayload(Di.ip.src, Di.ip.dst, Di.ip.id);
    for (const t of c.traces) {
      if (!t.c2s) continue;
      const fwd = copyAt(t, 'De') ?? copyAt(t, 'R');
      // With the whole datagram's size known, seq + size identify the reassembled copy, so a
      // director that also rewrites the IP ID is judged by rewrite.ip-fields, not reported here.
      const same = whole < 0 ? fwd?.ip.id === Di.ip.id : fwd?.payloadLen === whole;
      if (fwd && same && fwd.seq === Di.seq && fwd.ip.src === Di.ip.src) return true;
    }
  }
  const icmp = answers?.icmpFor(Di.ip.src, Di.sport, Di.ip.id, Di.seq);
  if (icmp) {
    const timeExceeded = icmp.family === 4 ? icmp.type === 11 : icmp.type === 3;
    if (timeExceeded && Di.ip.ttl <= 1) return true;
    const tooBig = icmp.family === 4 ? icmp.type === 3 && icmp.code === 4 && Di.ip.df : icmp.type === 2;
    if (tooBig && icmp.mtu > 0 && Di.ip.totalLen > icmp.mtu) return true;
  }
  if ((Di.flags & 0x02) === 0 && c.isn === null) {
    const forwarded = c.traces.some((t) => t.c2s && (copyAt(t, 'De') !== undefined || copyAt(t, 'R') !== undefined));
    if (!forwarded) return true;
  }
  return false;
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
  sink.check('flow.not-forwarded');
  if (De || R || refusedAsSpecified(ctx, c, Di)) return;
  const expect = c.backend ? ` to real server ${c.backend}` : '';
  sink.add(
    'flow.not-forwarded',
    c,
    `a client packet reached the director (frame ${Di.frame}) and no forwarded copy${expect} left it within ${ctx.windowNs / 1e6} ms`,
    'the director dropped it: check `ipvsadm -Lnc` for the connection, that the real server is present with weight > 0, conntrack/firewall FORWARD rules and rp_filter on the director',
    C ? [C, Di] : [Di],
  );
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
  sink.add(
    'flow.lost-in-transit',
    c,
    `a reply (frame ${from.frame} at ${ctx.points[from.point]!.name}) never reached the client capture`,
    'check the path back to the client (routers, firewalls, asymmetric routing)',
    [from],
  );
}

/** flow.bypassed-director: a packet to the VIP reached a real server and not the director. */
function bypassedDirector(v: FlowView, sink: FindingSink): void {
  const { ctx, c, t, C, Di, De, R } = v;
  if (!t.c2s || !R || !ctx.points[ctx.directorIdx]) return;
  sink.check('flow.bypassed-director');
  if (Di || De || R.ip.dst !== ctx.service.vip || R.outer || !insideCapture(ctx, ctx.directorIdx, R.t)) return;
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
