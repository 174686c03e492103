/**
 * Rewrite invariants (rules.md "Rewrite invariants"; lvs-behavior.md §1.2–1.5, §7 R1–R4):
 * what NAT, DR and TUN may and may not change between copies of one packet.
 *  - rewrite.ttl: across the director only (Di → De); client → RS −1 under profile linux, 0 under
 *    linux-legacy; NAT replies −1 under both (kernel ip_forward, §1.1).
 *  - rewrite.ip-fields: IP ID, DF, MF, TOS equal at every hop (inner header for TUN).
 *  - rewrite.payload: payload hash equal at every hop.
 *  - rewrite.tcp-fields: window and options equal at every hop (seq/ack are the match key:
 *    a director that shifted them would leave the copies unmatched → flow.not-forwarded).
 */
import { expectedTtlDecrement, methodOf } from '../../correlate/context.js';
import type { PacketRecord } from '../../model/record.js';
import { copyAt, pathOrder, type RuleModule } from './common.js';

/** "client", "director ingress", "director egress", "rs:10.0.0.11". */
const pname = (ctxPoints: { name: string }[], r: PacketRecord): string =>
  ctxPoints[r.point]!.name + (r.role === 'Di' ? ' ingress' : r.role === 'De' ? ' egress' : '');

export const rewriteRules: RuleModule = {
  family: 'rewrite',
  ids: ['rewrite.ttl', 'rewrite.ip-fields', 'rewrite.payload', 'rewrite.tcp-fields'],
  run(ctx, conns, sink) {
    for (const c of conns) {
      const method = methodOf(ctx, c.backend);
      if (method === 'fullnat') continue;
      // Checks counted per connection, not per hop: the sink's tally is a map update.
      let ipChecks = 0;
      let payloadChecks = 0;
      let tcpChecks = 0;
      for (const t of c.traces) {
        const Di = copyAt(t, 'Di');
        const De = copyAt(t, 'De');
        if (Di && De) {
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
          } else if (expected !== null) {
            sink.check('rewrite.ttl');
            const got = Di.ip.ttl - De.ip.ttl;
            if (got !== expected) {
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
          }
        }
        const path = pathOrder(t);
        for (let i = 1; i < path.length; i++) {
          const a = path[i - 1]!;
          const b = path[i]!;
          ipChecks++;
          if (a.ip.id !== b.ip.id || a.ip.df !== b.ip.df || a.ip.mf !== b.ip.mf || a.ip.tos !== b.ip.tos) {
            const diffs: string[] = [];
            if (a.ip.id !== b.ip.id) diffs.push(`IP ID ${a.ip.id} → ${b.ip.id}`);
            if (a.ip.df !== b.ip.df) diffs.push(`DF ${a.ip.df ? 1 : 0} → ${b.ip.df ? 1 : 0}`);
            if (a.ip.mf !== b.ip.mf) diffs.push(`MF ${a.ip.mf ? 1 : 0} → ${b.ip.mf ? 1 : 0}`);
            if (a.ip.tos !== b.ip.tos) diffs.push(`TOS 0x${a.ip.tos.toString(16)} → 0x${b.ip.tos.toString(16)}`);
            sink.add(
              'rewrite.ip-fields',
              c,
              `${diffs.join(', ')} between ${pname(ctx.points, a)} and ${pname(ctx.points, b)}`,
              'IPVS never rewrites IP ID, DF or TOS (lvs-behavior.md §7 R4): look for a NAT/mangle rule (iptables -t mangle, nft) or a middlebox between these points',
              [a, b],
            );
          }
          if (a.hash >= 0 && b.hash >= 0 && a.payloadLen === b.payloadLen) {
            payloadChecks++;
            if (a.hash !== b.hash) {
              sink.add(
                'rewrite.payload',
                c,
                `payload bytes differ between ${pname(ctx.points, a)} and ${pname(ctx.points, b)} (${a.payloadLen} bytes)`,
                'an application helper (e.g. ip_vs_ftp), a proxy or corruption changed the payload; NAT/DR/TUN never touch it',
                [a, b],
              );
            }
          }
          if (a.proto === 'tcp') {
            tcpChecks++;
            if (a.window !== b.window || a.optSig !== b.optSig) {
              const td: string[] = [];
              if (a.window !== b.window) td.push(`window ${a.window} → ${b.window}`);
              if (a.optSig !== b.optSig) td.push('TCP options changed');
              sink.add(
                'rewrite.tcp-fields',
                c,
                `${td.join(', ')} between ${pname(ctx.points, a)} and ${pname(ctx.points, b)}`,
                'NAT/DR/TUN keep TCP window and options (lvs-behavior.md §1.3–1.5): an MSS clamp or a proxy sits on the path',
                [a, b],
              );
            }
          }
        }
      }
      if (ipChecks > 0) sink.check('rewrite.ip-fields', ipChecks);
      if (payloadChecks > 0) sink.check('rewrite.payload', payloadChecks);
      if (tcpChecks > 0) sink.check('rewrite.tcp-fields', tcpChecks);
    }
  },
};
