/**
 * NAT rules (rules.md "NAT"; lvs-behavior.md §1.3): destination rewrite to RIP:rport, source
 * rewrite of replies to VIP:vport, replies routed back through the director, and no RIP ever
 * visible to the client.
 */
import { methodOf } from '../../correlate/context.js';
import { Carry, type Connection } from '../../model/connection.js';
import type { FindingSink } from '../sink.js';
import { copyAt, egressFrom, hostPort, insideCapture, ruleModule, walk, type RuleModule, type RuleTable, type TraceView } from './common.js';
import type { PacketRecord } from '../../model/record.js';
import { isSyn } from '../../../decode/proto/tcp.js';

/** The NAT walk's state: whether the connection's reply bypass was reported (once is enough). */
export class NatState {
  bypassReported = false;
}

export type NatView = TraceView<NatState>;

/** nat.dst: a forwarded copy goes to RIP:rport of a configured real server, source unchanged. */
function dst(v: NatView, sink: FindingSink): void {
  const { ctx, c, t, C, Di, De, R } = v;
  if (!t.c2s) return;
  const fwd = De ?? R;
  const orig = Di ?? C;
  if (!fwd) return;
  const { vip, vport } = ctx.service;
  sink.check('nat.dst');
  const rs = ctx.rsByIp.get(fwd.ip.dst);
  const problems: string[] = [];
  if (rs) {
    const want = rs.port === 0 ? vport : rs.port;
    if (fwd.dport !== want) problems.push(`destination port ${fwd.dport}, configured ${want}`);
  } else if (ctx.inferred || fwd.ip.dst === vip) {
    // Unknown RIPs are sched.unknown-rs; an unrewritten VIP is a NAT fault.
    if (fwd.ip.dst === vip) problems.push('destination still the VIP');
  }
  if (orig && (orig.ip.src !== fwd.ip.src || orig.sport !== fwd.sport)) {
    problems.push(`source changed ${hostPort(orig.ip.src, orig.sport)} → ${hostPort(fwd.ip.src, fwd.sport)}`);
  }
  if (problems.length === 0) return;
  sink.add(
    'nat.dst',
    c,
    `forwarded to ${hostPort(fwd.ip.dst, fwd.dport)}: ${problems.join('; ')}`,
    'NAT rewrites only the destination to RIP:rport (lvs-behavior.md §1.3); check the real-server port in the service (ipvsadm -a ... -r RIP:PORT -m) and any SNAT/masquerade rule on the director',
    orig ? [orig, fwd] : [fwd],
  );
}

/** nat.reply-src: a reply leaves the director from VIP:vport. */
function replySrc(v: NatView, sink: FindingSink): void {
  const { ctx, c, t, Di, De } = v;
  if (t.c2s || !De) return;
  const { vip, vport } = ctx.service;
  sink.check('nat.reply-src');
  if (De.ip.src === vip && De.sport === vport) return;
  sink.add(
    'nat.reply-src',
    c,
    `a reply left the director from ${hostPort(De.ip.src, De.sport)} instead of ${hostPort(vip, vport)}`,
    'the director did not match the reply to its connection (connection expired, or the reply arrived on a path IPVS does not hook); check ipvsadm -Lnc and that replies are routed through the director',
    Di ? [Di, De] : [De],
  );
}

/** nat.reply-bypass: a real server's reply goes back through the director. */
const replyBypass = {
  begin(v: NatView): void {
    // Once per connection, also when it is judged in parts.
    v.s.bypassReported = v.c.part !== null && (v.c.part.carry & Carry.NatBypass) !== 0;
  },
  trace(v: NatView, sink: FindingSink): void {
    const { ctx, c, t, C, Di, De, R } = v;
    if (t.c2s || !R) return;
    const { vip, vport } = ctx.service;
    const dIdx = ctx.directorIdx;
    const viaDirectorMac = ctx.directorMacs.size === 0 || !R.dstMac || ctx.directorMacs.has(R.dstMac) || requestsCameFrom(c, R.point, R.dstMac);
    // A client copy from VIP:vport was rewritten, so it went through the director even
    // when the director capture missed it (tcpdump drops under load).
    const rewrittenAtClient = C !== undefined && C.ip.src === vip && C.sport === vport;
    const dirSaw = dIdx < 0 || !insideCapture(ctx, dIdx, R.t) || Di !== undefined || De !== undefined || rewrittenAtClient;
    // A RIP at the client is bypass evidence only when the director did not forward
    // the reply itself: a director egress copy from the RIP is nat.reply-src instead.
    const clientSawRip = C !== undefined && C.ip.src !== vip && De === undefined;
    if (dIdx >= 0 || ctx.clientIdx >= 0) sink.check('nat.reply-bypass');
    if (v.s.bypassReported) return;
    // The real server sent it to the director's MAC: it went back through the director, whatever
    // the director's capture shows. Without the MAC, absence at the director is evidence only
    // where that capture shows the interface toward the real servers (the connection's forwarded
    // packets) and no other reply of the connection: a route sends all of them the same way.
    const sentToDirector = R.dstMac !== null && ctx.directorMacs.has(R.dstMac);
    const absenceCounts = !dirSaw && egressFrom(c, -Infinity) && !replySeenAtDirector(c);
    if (!clientSawRip && viaDirectorMac && (sentToDirector || !absenceCounts)) return;
    v.s.bypassReported = true;
    if (c.part !== null) c.part.carry |= Carry.NatBypass;
    const why: string[] = [];
    if (!viaDirectorMac) why.push(`sent to MAC ${R.dstMac}, not the director's`);
    if (!dirSaw) why.push('never seen at the director');
    if (clientSawRip) why.push(`reached the client from ${hostPort(C!.ip.src, C!.sport)}`);
    sink.add(
      'nat.reply-bypass',
      c,
      `the reply from real server ${R.ip.src} does not go back through the director: ${why.join(', ')}`,
      `set the default route of real server ${R.ip.src} to the director's address on its LAN (ip route replace default via DIP); NAT needs the replies back through the director (lvs-behavior.md §1.3)`,
      C ? [R, C] : [R],
    );
  },
  end(v: NatView, sink: FindingSink): void {
    unansweredAtDirector(v, sink);
  },
};

/**
 * True when the connection's requests reached the real server's capture (`point`) from `mac`:
 * a reply sent there goes back the way the requests came, through the director, whether or
 * not the director's capture shows that interface (its MAC is then not among the learnt ones).
 */
function requestsCameFrom(c: Connection, point: number, mac: string): boolean {
  for (const t of c.traces) {
    if (!t.c2s) continue;
    const r = copyAt(t, 'R');
    if (r !== undefined && r.point === point && r.srcMac === mac) return true;
  }
  return false;
}

/** True when a reply of the connection is seen at the director. */
function replySeenAtDirector(c: Connection): boolean {
  for (const t of c.traces) if (!t.c2s && (copyAt(t, 'Di') !== undefined || copyAt(t, 'De') !== undefined)) return true;
  return false;
}

/**
 * nat.reply-bypass from the director's side alone (no capture of that real server): the
 * client's SYN was forwarded, the client sent it again, and nothing of the connection ever came
 * back through the director. A NAT real server whose default route is not the director answers
 * straight to the client, which drops (or resets) a SYN-ACK from an address it never called.
 */
function unansweredAtDirector(v: NatView, sink: FindingSink): void {
  const { ctx, c } = v;
  const dIdx = ctx.directorIdx;
  if (v.s.bypassReported || dIdx < 0 || c.backend === null || ctx.rsPointByIp.has(c.backend)) return;
  const syns: PacketRecord[] = [];
  let forwarded: PacketRecord | undefined;
  let answered = false;
  for (const t of c.traces) {
    if (!t.c2s) {
      // Anything of the server side through the director: the replies do come back.
      answered ||= copyAt(t, 'Di') !== undefined || copyAt(t, 'De') !== undefined;
      continue;
    }
    const Di = copyAt(t, 'Di');
    if (!Di || !isSyn(Di)) continue;
    syns.push(Di);
    forwarded ??= copyAt(t, 'De');
  }
  if (!forwarded) return;
  sink.check('nat.reply-bypass');
  if (answered || syns.length < 2 || !insideCapture(ctx, dIdx, syns[syns.length - 1]!.t)) return;
  v.s.bypassReported = true;
  if (c.part !== null) c.part.carry |= Carry.NatBypass;
  sink.add(
    'nat.reply-bypass',
    c,
    `real server ${c.backend} never answered through the director: its SYN was forwarded (frame ${forwarded.frame}), the client sent it ${syns.length} times, and no reply came back`,
    `the likely cause is the default route of real server ${c.backend}: it must point to the director's address on its LAN (ip route replace default via DIP), or its replies go straight to the client, which drops them (lvs-behavior.md §1.3); a real server that drops the SYNs looks the same from here: capture on it to tell`,
    [syns[0]!, forwarded, ...syns.slice(1, 3)],
  );
}

/** nat.rip-leak: any reply the client received from a RIP (after the connection's traces). */
function ripLeak(v: NatView, sink: FindingSink): void {
  const { ctx, c } = v;
  if (ctx.clientIdx < 0) return;
  const vip = ctx.service.vip;
  for (const r of c.records) {
    if (r.role !== 'C' || r.c2s) continue;
    sink.check('nat.rip-leak');
    const leak = ctx.rsByIp.has(r.ip.src) || (ctx.inferred && r.ip.src !== vip);
    if (!leak) continue;
    sink.add(
      'nat.rip-leak',
      c,
      `the client received a packet from real-server address ${hostPort(r.ip.src, r.sport)}`,
      `real server ${r.ip.src} replies around the director (its default route is not the director), so the client sees the RIP and resets the connection`,
      [r],
    );
  }
}

/** The NAT rules by id, in judging order. */
export const NAT_RULES = {
  'nat.dst': { trace: dst },
  'nat.reply-src': { trace: replySrc },
  'nat.reply-bypass': replyBypass,
  'nat.rip-leak': { end: ripLeak },
} as const satisfies RuleTable<NatState>;

export const natRules: RuleModule = ruleModule('nat', [walk(NAT_RULES, new NatState(), { applies: (v) => methodOf(v.ctx, v.c.backend) === 'nat' })]);
