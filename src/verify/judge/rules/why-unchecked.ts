/**
 * Why a rule checked nothing although connections were correlated (the scheduling rules,
 * dr.dst-mac, checksum.ip): "nothing to check" alone leaves a user with an IPv6 DR service, say, no way to
 * know that the real servers' MACs were never learnt. The cause comes from what the run knew
 * (the engine context) and what the connections lack; null when the generic reason is the truth.
 */
import type { EngineContext } from '../../correlate/context.js';
import type { Connection } from '../../model/connection.js';

/** Schedulers whose order or mapping the captures alone can check (sched.ts distribution). */
const ORDERED = new Set(['rr', 'wrr', 'sh', 'mh', 'dh', 'conhash']);

/**
 * A DR real server is known only by its MAC (the frames carry the VIP): from an ARP or Neighbor
 * Discovery packet naming its RIP, or from its own capture matched to a RIP. Says which was
 * missing, or null when some real server's MAC is known.
 */
function unknownRealServers(ctx: EngineContext): string | null {
  if (!ctx.methods.has('dr') || ctx.rsIpByMac.size > 0) return null;
  const unnamed = ctx.points.filter((p) => p.kind === 'rs' && !p.rsIp).flatMap((p) => p.files);
  const own = unnamed.length > 0 ? `; the real-server capture(s) ${unnamed.join(', ')} could not be matched to a RIP: name them with --rs-capture RIP=FILE` : '';
  return (
    'no real server MAC is known: DR frames carry the VIP, not the RIP, so a real server is recognised by its MAC, learnt from an ARP packet or an IPv6 neighbor solicitation/advertisement naming its RIP ' +
    `(none in the captures: a director that never resolves the RIPs, or captures started after it did)${own}`
  );
}

/** The UOA rules (judge/rules/fullnat-uoa.ts): which of their conditions the run did not meet. */
function whyUoaUnchecked(rule: string, ctx: EngineContext, conns: readonly Connection[]): string | null {
  if (ctx.service.protocol !== 'udp') return 'UOA is for UDP services (DPVS, lvs-behavior.md §3.3); TCP carries TOA';
  if ((rule === 'fnat.uoa-missing' || rule === 'fnat.uoa-count') && ctx.profile !== 'dpvs') {
    return `UOA is DPVS's: which datagrams must carry it is judged under --profile dpvs (profile ${ctx.profile}: the Alibaba kernel's FullNAT sends none)`;
  }
  if (conns.every((c) => c.backend === null)) {
    return `${conns.length} UDP connection(s) correlated, none linked to its local-address leg: the datagrams are judged where they leave the director toward the real server (its RS-side capture or a real server's)`;
  }
  if (rule === 'fnat.uoa-mismatch' || rule === 'fnat.uoa-format') return 'no datagram reached the real-server leg with a UOA (a UOA naming no address is fnat.uoa-format)';
  if (rule === 'fnat.uoa-rejected') return 'no datagram reached the real-server leg with UOA in IP protocol 248 (uoa_mode opp): a kernel without the uoa module ignores the IP option of uoa_mode ipo, it refuses only protocol 248';
  return null;
}

/** The reason `rule` found nothing to check, or null for the generic one. */
export function whyUnchecked(rule: string, ctx: EngineContext, conns: readonly Connection[]): string | null {
  if (conns.length === 0) return null;
  const s = ctx.service;
  if (rule.startsWith('fnat.uoa-')) return whyUoaUnchecked(rule, ctx, conns);
  // A TUN service over IPv4 tunnels has IPv4 outer headers whose checksum is checked.
  if (rule === 'checksum.ip') return s.vip.includes(':') && !ctx.methods.has('tun') ? 'IPv6 has no header checksum (RFC 8200): only IPv4 headers are checked' : null;
  if (rule.startsWith('sched.')) {
    if (ctx.inferred) return 'the service was inferred from the captures: scheduling is judged against a configured service (--config or --vip/--rs/--scheduler)';
    if (rule === 'sched.persistence' && s.persistenceTimeout === null) return 'the service is not persistent';
    if (rule === 'sched.distribution' && !ORDERED.has(s.scheduler)) return `scheduler ${s.scheduler} decides on the director's connection counts or state, which captures do not show`;
    const decided = conns.filter((c) => c.backend !== null).length;
    if (decided === 0) {
      if (ctx.methods.has('fullnat')) {
        return `${conns.length} connection(s) correlated, none linked to its local-address leg (LIP:lport → RIP): a FullNAT connection's real server is known only from that leg, which the real-server side of the director or a real server's capture shows`;
      }
      const macs = unknownRealServers(ctx);
      return `${conns.length} connection(s) correlated, none with a known real server${macs ? `: ${macs}` : ''}`;
    }
    if (rule === 'sched.distribution') return `fewer than two scheduling decisions with a known real server (${decided} of ${conns.length} connection(s))`;
    return null;
  }
  if (rule === 'dr.dst-mac') return unknownRealServers(ctx);
  return null;
}
