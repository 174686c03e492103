/**
 * TUN rules (rules.md "TUN"; lvs-behavior.md §1.5, R7, R8): the outer header goes to the RIP
 * with protocol 4/41 (17/47 for GUE/GRE), TTL = the inner TTL after its decrement and DF copied
 * (pmtu_disc=1 default); the inner packet is unchanged beyond TTL and checksum; and no DF packet
 * larger than the tunnel MTU is forwarded.
 */
import { methodOf } from '../../correlate/context.js';
import { copyAt, type RuleModule } from './common.js';

/** Link MTU assumed for tun.mtu: captures do not record it. */
const ASSUMED_MTU = 1500;

export const tunRules: RuleModule = {
  family: 'tun',
  ids: ['tun.outer', 'tun.inner', 'tun.mtu'],
  run(ctx, conns, sink) {
    for (const c of conns) {
      if (methodOf(ctx, c.backend) !== 'tun') continue;
      for (const t of c.traces) {
        if (!t.c2s) continue;
        const Di = copyAt(t, 'Di');
        const De = copyAt(t, 'De');
        const R = copyAt(t, 'R');
        const fwd = De ?? R;
        if (!fwd) continue;
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
        if (d.length > 0) {
          sink.add(
            'tun.outer',
            c,
            `tunnel header: ${d.join(', ')}`,
            'IPVS-TUN copies the decremented inner TTL and DF (pmtu_disc=1) to the outer header and sends to the RIP (lvs-behavior.md §1.5 R7): check the director kernel and any tunnel device in the path',
            Di ? [Di, fwd] : [fwd],
          );
        }
        if (Di && De && De.outer) {
          sink.check('tun.inner');
          const inner: string[] = [];
          if (Di.ip.src !== De.ip.src || Di.ip.dst !== De.ip.dst) inner.push(`addresses ${Di.ip.src}>${Di.ip.dst} → ${De.ip.src}>${De.ip.dst}`);
          if (Di.sport !== De.sport || Di.dport !== De.dport) inner.push(`ports ${Di.sport}/${Di.dport} → ${De.sport}/${De.dport}`);
          if (Di.ip.totalLen !== De.ip.totalLen) inner.push(`length ${Di.ip.totalLen} → ${De.ip.totalLen}`);
          if (inner.length > 0) {
            sink.add(
              'tun.inner',
              c,
              `the tunnelled packet differs from the one the client sent: ${inner.join(', ')}`,
              'TUN must carry the client packet unchanged except TTL −1 and its checksum (lvs-behavior.md §1.5)',
              [Di, De],
            );
          }
          sink.check('tun.mtu');
          if (De.outer.totalLen > ASSUMED_MTU && Di.ip.df) {
            sink.add(
              'tun.mtu',
              c,
              `a DF packet of ${Di.ip.totalLen} bytes was tunnelled into ${De.outer.totalLen} bytes (> MTU ${ASSUMED_MTU} assumed) instead of answered with ICMP 3/4`,
              'with pmtu_disc=1 the director must reject DF packets larger than MTU − 20 with fragmentation-needed (lvs-behavior.md §1.2 R8); check /proc/sys/net/ipv4/vs/pmtu_disc',
              [Di, De],
            );
          }
        }
      }
    }
  },
};
