/**
 * DR rules (rules.md "DR"; lvs-behavior.md §1.4, R6): between director ingress and egress only
 * the MACs, the TTL and the IP checksum change; the egress frame goes to the scheduled real
 * server's MAC; real servers answer from VIP:vport, directly to the client's next hop, and do
 * answer (a RST/ICMP to a forwarded SYN means the VIP is not configured on the RS).
 */
import { methodOf } from '../engine/context.js';
import { copyAt, hostPort, isRst, isSyn, type RuleModule } from './common.js';

export const drRules: RuleModule = {
  family: 'dr',
  ids: ['dr.l3-modified', 'dr.dst-mac', 'dr.reply-src', 'dr.reply-via-director', 'dr.vip-not-bound'],
  run(ctx, conns, sink) {
    const { vip, vport } = ctx.service;
    for (const c of conns) {
      if (methodOf(ctx, c.backend) !== 'dr') continue;
      let synForwarded: ReturnType<typeof copyAt>;
      let answered = false;
      for (const t of c.traces) {
        const Di = copyAt(t, 'Di');
        const De = copyAt(t, 'De');
        const R = copyAt(t, 'R');
        const C = copyAt(t, 'C');
        if (t.c2s) {
          if (Di && De) {
            sink.check('dr.l3-modified');
            const d: string[] = [];
            if (Di.ip.src !== De.ip.src) d.push(`IP src ${Di.ip.src} → ${De.ip.src}`);
            if (Di.ip.dst !== De.ip.dst) d.push(`IP dst ${Di.ip.dst} → ${De.ip.dst}`);
            if (Di.sport !== De.sport || Di.dport !== De.dport) d.push(`ports ${Di.sport}/${Di.dport} → ${De.sport}/${De.dport}`);
            if (Di.ip.totalLen !== De.ip.totalLen) d.push(`IP length ${Di.ip.totalLen} → ${De.ip.totalLen}`);
            if (De.outer) d.push('packet encapsulated');
            if (d.length > 0) {
              sink.add(
                'dr.l3-modified',
                c,
                `DR changed more than MACs/TTL/checksum: ${d.join(', ')}`,
                'a DR director only rewrites the destination MAC (lvs-behavior.md §1.4): check the forwarding method of the real server (-g) and NAT rules on the director',
                [Di, De],
              );
            }
          }
          if (De && De.dstMac && ctx.rsIpByMac.size > 0) {
            const rip = ctx.rsIpByMac.get(De.dstMac);
            const seenAt = R ? ctx.points[R.point]!.rsIp : null;
            // "Not any RS" needs every RS's MAC; an RS capture without a known RIP still owns a MAC.
            const rsPointMacs = new Set(ctx.points.filter((p) => p.kind === 'rs' && p.ownMac).map((p) => p.ownMac!));
            const allKnown = ctx.rsMacsByIp.size >= ctx.rsByIp.size;
            const unknownMac = !rip && !rsPointMacs.has(De.dstMac);
            if (rip || allKnown || seenAt) sink.check('dr.dst-mac');
            if ((unknownMac && allKnown) || (rip && seenAt && rip !== seenAt)) {
              sink.add(
                'dr.dst-mac',
                c,
                `egress destination MAC ${De.dstMac} is not the MAC of ${seenAt ? `real server ${seenAt}` : 'any real server'}`,
                "the director's neighbour entry for the RIP is wrong (ip neigh show on the director), or the RS is not on the director's L2 segment as DR requires",
                [De],
              );
            }
          }
          if (isSyn(t.list[0]!) && (De || R)) synForwarded ??= R ?? De;
        } else {
          const reply = R ?? C;
          if (!reply) continue;
          sink.check('dr.reply-src');
          if (reply.ip.src !== vip || reply.sport !== vport) {
            sink.add(
              'dr.reply-src',
              c,
              `the real server replied from ${hostPort(reply.ip.src, reply.sport)} instead of ${hostPort(vip, vport)}`,
              `configure the VIP on real server ${c.backend ?? reply.ip.src} (ip addr add ${vip}/32 dev lo) and have the service listen on it; in DR the reply must come from the VIP (lvs-behavior.md §1.4)`,
              C && R ? [R, C] : [reply],
            );
          }
          if (R && R.dstMac && ctx.directorMacs.size > 0) {
            sink.check('dr.reply-via-director');
            if (ctx.directorMacs.has(R.dstMac)) {
              sink.add(
                'dr.reply-via-director',
                c,
                `the real server sends replies to the director's MAC ${R.dstMac}`,
                "DR replies should go to the client's next hop directly; the RS default route points at the director",
                [R],
              );
            }
          }
          if (synForwarded && !answered) {
            answered = true;
            sink.check('dr.vip-not-bound');
            if (isRst(reply)) {
              sink.add(
                'dr.vip-not-bound',
                c,
                `the real server answered the forwarded SYN with RST`,
                `the VIP ${vip} is not configured on real server ${c.backend ?? '?'} or nothing listens on it: ip addr add ${vip}/32 dev lo, with arp_ignore=1/arp_announce=2 (lvs-behavior.md §4)`,
                [synForwarded, reply],
              );
            }
          }
        }
      }
    }
  },
};
