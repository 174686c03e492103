/**
 * NAT rules (rules.md "NAT"; lvs-behavior.md §1.3): destination rewrite to RIP:rport, source
 * rewrite of replies to VIP:vport, replies routed back through the director, and no RIP ever
 * visible to the client.
 */
import { methodOf } from '../../correlate/context.js';
import { copyAt, hostPort, insideCapture, type RuleModule } from './common.js';

export const natRules: RuleModule = {
  family: 'nat',
  ids: ['nat.dst', 'nat.reply-src', 'nat.reply-bypass', 'nat.rip-leak'],
  run(ctx, conns, sink) {
    const { vip, vport } = ctx.service;
    const dIdx = ctx.directorIdx;
    for (const c of conns) {
      if (methodOf(ctx, c.backend) !== 'nat') continue;
      let bypassReported = false;
      for (const t of c.traces) {
        const C = copyAt(t, 'C');
        const Di = copyAt(t, 'Di');
        const De = copyAt(t, 'De');
        const R = copyAt(t, 'R');
        if (t.c2s) {
          const fwd = De ?? R;
          const orig = Di ?? C;
          if (!fwd) continue;
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
          if (problems.length > 0) {
            sink.add(
              'nat.dst',
              c,
              `forwarded to ${hostPort(fwd.ip.dst, fwd.dport)}: ${problems.join('; ')}`,
              'NAT rewrites only the destination to RIP:rport (lvs-behavior.md §1.3); check the real-server port in the service (ipvsadm -a ... -r RIP:PORT -m) and any SNAT/masquerade rule on the director',
              orig ? [orig, fwd] : [fwd],
            );
          }
        } else {
          if (De) {
            sink.check('nat.reply-src');
            if (De.ip.src !== vip || De.sport !== vport) {
              sink.add(
                'nat.reply-src',
                c,
                `a reply left the director from ${hostPort(De.ip.src, De.sport)} instead of ${hostPort(vip, vport)}`,
                'the director did not match the reply to its connection (connection expired, or the reply arrived on a path IPVS does not hook); check ipvsadm -Lnc and that replies are routed through the director',
                Di ? [Di, De] : [De],
              );
            }
          }
          if (R) {
            const viaDirectorMac = ctx.directorMacs.size === 0 || !R.dstMac || ctx.directorMacs.has(R.dstMac);
            // A client copy from VIP:vport was rewritten, so it went through the director even
            // when the director capture missed it (tcpdump drops under load).
            const rewrittenAtClient = C !== undefined && C.ip.src === vip && C.sport === vport;
            const dirSaw = dIdx < 0 || !insideCapture(ctx, dIdx, R.t) || Di !== undefined || De !== undefined || rewrittenAtClient;
            // A RIP at the client is bypass evidence only when the director did not forward
            // the reply itself: a director egress copy from the RIP is nat.reply-src instead.
            const clientSawRip = C !== undefined && C.ip.src !== vip && De === undefined;
            if (dIdx >= 0 || ctx.clientIdx >= 0) sink.check('nat.reply-bypass');
            if ((!viaDirectorMac || !dirSaw || clientSawRip) && !bypassReported) {
              bypassReported = true;
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
            }
          }
        }
      }
    }
    // nat.rip-leak: any reply the client received from a RIP.
    if (ctx.clientIdx < 0) return;
    for (const c of conns) {
      if (methodOf(ctx, c.backend) !== 'nat') continue;
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
  },
};
