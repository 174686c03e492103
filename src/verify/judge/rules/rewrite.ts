/**
 * Rewrite invariants (rules.md "Rewrite invariants"; lvs-behavior.md §1.2–1.5, §7 R1–R4):
 * what NAT, DR and TUN may and may not change between copies of one packet.
 *  - rewrite.ttl: across the director only (Di → De); client → RS −1 under profile linux, 0 under
 *    linux-legacy; NAT replies −1 under both (kernel ip_forward, §1.1).
 *  - rewrite.ip-fields: IP ID, DF, MF, TOS equal at every hop (inner header for TUN).
 *  - rewrite.payload: payload hash equal at every hop.
 *  - rewrite.tcp-fields: window and options equal at every hop (the window not where GRO merged
 *    segments, the options not where the snap length cut them) (seq/ack are the match key:
 *    a director that shifted them would leave the copies unmatched → flow.not-forwarded).
 */
import type { ForwardMethod } from '../../service/model.js';
import { expectedTtlDecrement, methodOf } from '../../correlate/context.js';
import type { PacketRecord } from '../../model/record.js';
import type { FindingSink } from '../sink.js';
import { RTO_MIN_NS, ruleModule, sentAgain, walk, type RuleModule, type RuleTable, type TraceView } from './common.js';

/** "client", "director ingress", "director egress", "rs:10.0.0.11". */
const pname = (ctxPoints: { name: string }[], r: PacketRecord): string =>
  ctxPoints[r.point]!.name + (r.role === 'Di' ? ' ingress' : r.role === 'De' ? ' egress' : '');

/** The rewrite walk's state: the connection's method, and checks counted per connection, not
 *  per hop (the sink's tally is a map update). */
export class RewriteState {
  method: ForwardMethod = 'nat';
  ipChecks = 0;
  payloadChecks = 0;
  tcpChecks = 0;
}

export type RewriteView = TraceView<RewriteState>;

/** rewrite.ttl: the TTL change across the director (Di → De) against the profile. */
function ttl(v: RewriteView, sink: FindingSink): void {
  const { ctx, c, t, Di, De } = v;
  const { method } = v.s;
  if (!Di || !De) return;
  const expected = t.c2s ? expectedTtlDecrement(ctx, method) : method === 'nat' ? 1 : null;
  if (expected === 1 && t.c2s && Di.ip.ttl <= 1) {
    // R1: a decrementing director answers TTL ≤ 1 with ICMP time-exceeded and drops the
    // packet (lvs-behavior.md §1.2 step 3); forwarding it (with TTL 0) is the violation.
    sink.check('rewrite.ttl');
    sink.add(
      'rewrite.ttl',
      c,
      `a client packet with TTL ${Di.ip.ttl} was forwarded (TTL ${De.ip.ttl}) instead of answered with ICMP time-exceeded`,
      'mainline IPVS drops a packet whose TTL would reach 0 and sends ICMP 11/0 to the client (lvs-behavior.md §1.2, R1); this director forwards it',
      [Di, De],
    );
    return;
  }
  if (expected === null) return;
  sink.check('rewrite.ttl');
  const got = Di.ip.ttl - De.ip.ttl;
  if (got === expected) return;
  sink.add(
    'rewrite.ttl',
    c,
    `TTL ${Di.ip.ttl} → ${De.ip.ttl} across the director (${t.c2s ? 'client → RS' : 'reply'}); profile ${ctx.profile} expects −${expected} for ${method.toUpperCase()}`,
    t.c2s
      ? expected === 1
        ? 'mainline IPVS since 8d8e20e2d7bb (~v5.2) decrements the TTL (lvs-behavior.md §1.2); an older kernel or another forwarder does not: use --profile linux-legacy if that is the director you run'
        : 'profile linux-legacy expects no TTL change client → RS; a decrement means a newer kernel (use --profile linux) or an extra routing hop'
      : 'NAT replies are routed through the director, whose ip_forward decrements the TTL (lvs-behavior.md §1.1)',
    [Di, De],
  );
}

/** rewrite.ip-fields: IP ID, DF, MF and TOS equal across a hop. */
function ipFields(v: RewriteView, a: PacketRecord, b: PacketRecord, sink: FindingSink): void {
  v.s.ipChecks++;
  if (a.ip.id === b.ip.id && a.ip.df === b.ip.df && a.ip.mf === b.ip.mf && a.ip.tos === b.ip.tos) return;
  // A segment sent again goes out with a new IP ID; where a capture missed one of the sends,
  // the other one's copy stands in its place and the IDs differ without anything rewriting them.
  // Copies further apart than TCP's shortest retransmission timeout (Linux TCP_RTO_MIN) may be
  // two sends as well, of which each capture kept one: no forwarding delays a packet that long.
  if (a.ip.df === b.ip.df && a.ip.mf === b.ip.mf && a.ip.tos === b.ip.tos && (sentAgain(v.c, a) || (a.proto === 'tcp' && Math.abs(b.t - a.t) >= RTO_MIN_NS))) return;
  const diffs: string[] = [];
  if (a.ip.id !== b.ip.id) diffs.push(`IP ID ${a.ip.id} → ${b.ip.id}`);
  if (a.ip.df !== b.ip.df) diffs.push(`DF ${a.ip.df ? 1 : 0} → ${b.ip.df ? 1 : 0}`);
  if (a.ip.mf !== b.ip.mf) diffs.push(`MF ${a.ip.mf ? 1 : 0} → ${b.ip.mf ? 1 : 0}`);
  if (a.ip.tos !== b.ip.tos) diffs.push(`TOS 0x${a.ip.tos.toString(16)} → 0x${b.ip.tos.toString(16)}`);
  sink.add(
    'rewrite.ip-fields',
    v.c,
    `${diffs.join(', ')} between ${pname(v.ctx.points, a)} and ${pname(v.ctx.points, b)}`,
    'IPVS never rewrites IP ID, DF or TOS (lvs-behavior.md §7 R4): look for a NAT/mangle rule (iptables -t mangle, nft) or a middlebox between these points',
    [a, b],
  );
}

/** rewrite.payload: the payload bytes equal across a hop (when both copies carry all of it). */
function payload(v: RewriteView, a: PacketRecord, b: PacketRecord, sink: FindingSink): void {
  if (a.hash < 0 || b.hash < 0 || a.payloadLen !== b.payloadLen) return;
  v.s.payloadChecks++;
  if (a.hash === b.hash) return;
  sink.add(
    'rewrite.payload',
    v.c,
    `payload bytes differ between ${pname(v.ctx.points, a)} and ${pname(v.ctx.points, b)} (${a.payloadLen} bytes)`,
    'an application helper (e.g. ip_vs_ftp), a proxy or corruption changed the payload; NAT/DR/TUN never touch it',
    [a, b],
  );
}

/** rewrite.tcp-fields: TCP window and options equal across a hop. */
function tcpFields(v: RewriteView, a: PacketRecord, b: PacketRecord, sink: FindingSink): void {
  if (a.proto !== 'tcp') return;
  // A copy GRO merged carries the window of the last segment it took in (capture-artifacts.md
  // §2); options cut by the snap length cannot be compared.
  const windowKept = !v.t.segmented || a.payloadLen === b.payloadLen;
  const options = a.optSig !== -1 && b.optSig !== -1;
  if (!windowKept && !options) return;
  v.s.tcpChecks++;
  const windowChanged = windowKept && a.window !== b.window;
  const optionsChanged = options && a.optSig !== b.optSig;
  if (!windowChanged && !optionsChanged) return;
  const td: string[] = [];
  if (windowChanged) td.push(`window ${a.window} → ${b.window}`);
  if (optionsChanged) td.push('TCP options changed');
  sink.add(
    'rewrite.tcp-fields',
    v.c,
    `${td.join(', ')} between ${pname(v.ctx.points, a)} and ${pname(v.ctx.points, b)}`,
    'NAT/DR/TUN keep TCP window and options (lvs-behavior.md §1.3–1.5): an MSS clamp or a proxy sits on the path',
    [a, b],
  );
}

/** The rewrite rules by id, in judging order: per trace the TTL, then per hop the rest. */
export const REWRITE_RULES = {
  'rewrite.ttl': { trace: ttl },
  'rewrite.ip-fields': {
    begin(v: RewriteView): void {
      v.s.ipChecks = 0;
      v.s.payloadChecks = 0;
      v.s.tcpChecks = 0;
    },
    hop: ipFields,
    end(v: RewriteView, sink: FindingSink): void {
      if (v.s.ipChecks > 0) sink.check('rewrite.ip-fields', v.s.ipChecks);
    },
  },
  'rewrite.payload': {
    hop: payload,
    end(v: RewriteView, sink: FindingSink): void {
      if (v.s.payloadChecks > 0) sink.check('rewrite.payload', v.s.payloadChecks);
    },
  },
  'rewrite.tcp-fields': {
    hop: tcpFields,
    end(v: RewriteView, sink: FindingSink): void {
      if (v.s.tcpChecks > 0) sink.check('rewrite.tcp-fields', v.s.tcpChecks);
    },
  },
} as const satisfies RuleTable<RewriteState>;

/** FullNAT connections are judged by the FullNAT rules (fullnat.ts), which keep other fields. */
function notFullnat(v: RewriteView): boolean {
  v.s.method = methodOf(v.ctx, v.c.backend);
  return v.s.method !== 'fullnat';
}

export const rewriteRules: RuleModule = ruleModule('rewrite', [walk(REWRITE_RULES, new RewriteState(), { applies: notFullnat })]);
