/**
 * TUN rules (rules.md "TUN"; lvs-behavior.md §1.5, R7, R8): the outer header goes to the RIP
 * with protocol 4/41 (17/47 for GUE/GRE), TTL = the inner TTL after its decrement and DF copied
 * (pmtu_disc=1 default); the inner packet is unchanged beyond TTL and checksum; and no DF packet
 * larger than the tunnel MTU is forwarded.
 */
import { methodOf } from '../../correlate/context.js';
import type { FindingSink } from '../sink.js';
import { isSuperSegment, SegmentLimits } from '../segments.js';
import { ruleModule, walk, type RuleModule, type RuleTable, type TraceView } from './common.js';

/** The TUN walk's state: the connection's segment limits (tun.mtu). */
export class TunState {
  readonly limits = new SegmentLimits();
}

export type TunView = TraceView<TunState>;

/** Link MTU assumed for tun.mtu: captures do not record it. */
const ASSUMED_MTU = 1500;

/** tun.outer: the outer header of a forwarded copy (destination, protocol, TTL, DF, source). */
function outer(v: TunView, sink: FindingSink): void {
  const { ctx, c, t, Di, De, R } = v;
  if (!t.c2s) return;
  const fwd = De ?? R;
  if (!fwd) return;
  sink.check('tun.outer');
  const o = fwd.outer;
  const d: string[] = [];
  if (!o) {
    d.push('not encapsulated');
  } else {
    const rs = ctx.rsByIp.get(o.dst);
    if (!ctx.inferred && !rs) d.push(`outer dst ${o.dst} is not a configured real server`);
    const protoOk = fwd.tunnel === 'gue' ? o.proto === 17 : fwd.tunnel === 'gre' ? o.proto === 47 : o.proto === (fwd.ip.v === 4 ? 4 : 41);
    if (!protoOk) d.push(`outer protocol ${o.proto}`);
    if (o.ttl !== fwd.ip.ttl) d.push(`outer TTL ${o.ttl} ≠ inner TTL ${fwd.ip.ttl}`);
    if (o.v === 4 && fwd.ip.v === 4 && o.df !== fwd.ip.df) d.push(`outer DF ${o.df ? 1 : 0} ≠ inner DF ${fwd.ip.df ? 1 : 0}`);
    if (o.src === ctx.service.vip || o.src === c.client) d.push(`outer src ${o.src} is not a director address`);
  }
  if (d.length === 0) return;
  sink.add(
    'tun.outer',
    c,
    `tunnel header: ${d.join(', ')}`,
    'IPVS-TUN copies the decremented inner TTL and DF (pmtu_disc=1) to the outer header and sends to the RIP (lvs-behavior.md §1.5 R7): check the director kernel and any tunnel device in the path',
    Di ? [Di, fwd] : [fwd],
  );
}

/** tun.inner: the tunnelled packet is the one the client sent (beyond TTL and checksum). */
function inner(v: TunView, sink: FindingSink): void {
  const { c, t, Di, De } = v;
  if (!t.c2s || !Di || !De || !De.outer) return;
  sink.check('tun.inner');
  const diffs: string[] = [];
  if (Di.ip.src !== De.ip.src || Di.ip.dst !== De.ip.dst) diffs.push(`addresses ${Di.ip.src}>${Di.ip.dst} → ${De.ip.src}>${De.ip.dst}`);
  if (Di.sport !== De.sport || Di.dport !== De.dport) diffs.push(`ports ${Di.sport}/${Di.dport} → ${De.sport}/${De.dport}`);
  // Cut differently on the two sides (segmentation offload, segments.ts): the lengths of the
  // copies that start the same bytes differ by design.
  if (Di.ip.totalLen !== De.ip.totalLen && !t.segmented) diffs.push(`length ${Di.ip.totalLen} → ${De.ip.totalLen}`);
  if (diffs.length === 0) return;
  sink.add(
    'tun.inner',
    c,
    `the tunnelled packet differs from the one the client sent: ${diffs.join(', ')}`,
    'TUN must carry the client packet unchanged except TTL −1 and its checksum (lvs-behavior.md §1.5)',
    [Di, De],
  );
}

/** tun.mtu: no DF packet larger than the tunnel MTU is forwarded. */
function mtu(v: TunView, sink: FindingSink): void {
  const { c, t, Di, De } = v;
  if (!t.c2s || !Di || !De || !De.outer) return;
  // A super-segment the director's capture saw before GSO cut it is not what was sent.
  if (isSuperSegment(v.s.limits, t, De)) return;
  sink.check('tun.mtu');
  if (De.outer.totalLen <= ASSUMED_MTU || !Di.ip.df) return;
  sink.add(
    'tun.mtu',
    c,
    `a DF packet of ${Di.ip.totalLen} bytes was tunnelled into ${De.outer.totalLen} bytes (> MTU ${ASSUMED_MTU} assumed) instead of answered with ICMP 3/4`,
    'with pmtu_disc=1 the director must reject DF packets larger than MTU − 20 with fragmentation-needed (lvs-behavior.md §1.2 R8); check /proc/sys/net/ipv4/vs/pmtu_disc',
    [Di, De],
  );
}

/** The TUN rules by id, in judging order. */
export const TUN_RULES = {
  'tun.outer': {
    begin(v: TunView): void {
      v.s.limits.of(v.c);
    },
    trace: outer,
  },
  'tun.inner': { trace: inner },
  'tun.mtu': { trace: mtu },
} as const satisfies RuleTable<TunState>;

export const tunRules: RuleModule = ruleModule('tun', [walk(TUN_RULES, new TunState(), { applies: (v) => methodOf(v.ctx, v.c.backend) === 'tun' })]);
