/**
 * Hint texts: the likely fix, named for the host at fault, with the reason (lvs-behavior.md §4).
 * Kept apart from the rules so the wording is consistent across rules and reviewable in one place.
 */
const PERSIST = 'persist it in /etc/sysctl.d/ — the kernel uses max(conf/all, conf/<iface>), so an interface value of 0 does not undo it';

/** Why Linux puts an IPv6 VIP in neighbor discovery, and the fix: there are no arp_* sysctls. */
const NDP_VIP =
  'Linux answers a neighbor solicitation, and uses an address as source of its own solicitations, only for addresses on the ' +
  'interface concerned (there is no arp_ignore / arp_announce for IPv6)';

export function arpIgnoreHint(rs: string, vip: string, v6 = false): string {
  if (v6) {
    return (
      `On ${rs}: move ${vip} to lo (ip -6 addr del ${vip}/128 dev <iface>; ip -6 addr add ${vip}/128 dev lo). ${NDP_VIP}, ` +
      `so a real server that holds the VIP on its service interface advertises it and the asker's neighbor cache may ` +
      `point ${vip} at this server: client traffic then bypasses the director.`
    );
  }
  return (
    `On ${rs}: sysctl -w net.ipv4.conf.all.arp_ignore=1 (${PERSIST}). ` +
    `With arp_ignore=0 a DR/TUN real server answers who-has ${vip} because the VIP is a local address (on lo), ` +
    `so the asker's ARP cache may point ${vip} at this server and client traffic bypasses the director (lvs-behavior.md §4).`
  );
}

export function arpAnnounceHint(rs: string, vip: string, v6 = false): string {
  if (v6) {
    return (
      `On ${rs}: move ${vip} to lo. ${NDP_VIP}: with the VIP on the service interface, the server resolves the client ` +
      `or gateway with the VIP as source address and a source link-layer option, and the target caches ${vip} → this server.`
    );
  }
  return (
    `On ${rs}: sysctl -w net.ipv4.conf.all.arp_announce=2 (${PERSIST}). ` +
    `With arp_announce<2 the server uses the source of the packet it is sending — the VIP, when it replies to a client — ` +
    `as ARP sender address while resolving the client or gateway; the target then caches ${vip} → this server and ` +
    `sends VIP traffic straight to it, bypassing the director (lvs-behavior.md §4).`
  );
}

export function garpHint(host: string, vip: string, v6 = false): string {
  if (v6) {
    return (
      `Only the director (the VRRP master) may announce ${vip}. On ${host}, find what sends unsolicited neighbor ` +
      `advertisements for it: the VIP on a real interface instead of lo (net.ipv6.conf.<iface>.ndisc_notify=1 announces ` +
      `it on link up and address changes), a keepalived VRRP instance, or a script. If ${host} is a director, pass it with --director-mac.`
    );
  }
  return (
    `Only the director (the VRRP master) may announce ${vip}. On ${host}, find what sends gratuitous ARP for it: ` +
    `the VIP configured on a real interface instead of lo (arp_notify / link up), a keepalived VRRP instance or an ` +
    `arping -U/-A in a script; keep the VIP on lo with net.ipv4.conf.all.arp_ignore=1 and arp_announce=2. ` +
    `If ${host} is a director, pass it with --director-mac.`
  );
}

export function poisonedHint(cause: 'reply' | 'request' | 'garp' | 'unknown', culprit: string, vip: string, victim: string, v6 = false): string {
  if (v6) {
    return (
      `Move ${vip} to lo on ${culprit}, then flush the stale entry on ${victim} (ip -6 neigh del ${vip} dev <iface>, or ` +
      `wait for it to become stale and be probed again): until then its traffic for ${vip} goes straight to the real ` +
      `server and is never scheduled by the director.`
    );
  }
  const fix =
    cause === 'reply'
      ? `set net.ipv4.conf.all.arp_ignore=1 on ${culprit}`
      : cause === 'request'
        ? `set net.ipv4.conf.all.arp_announce=2 on ${culprit}`
        : cause === 'garp'
          ? `stop the gratuitous ARP for ${vip} on ${culprit}`
          : `set net.ipv4.conf.all.arp_ignore=1 and arp_announce=2 on ${culprit}`;
  return (
    `${fix[0]!.toUpperCase()}${fix.slice(1)}, then flush the stale entry on ${victim} ` +
    `(ip neigh del ${vip} dev <iface>, or wait for it to expire): until then its traffic for ${vip} goes straight ` +
    `to the real server and is never scheduled by the director.`
  );
}

export function conflictHint(vip: string, v6: boolean): string {
  const rsFix = v6
    ? `a real server holding ${vip} on its service interface instead of lo`
    : `a real server with net.ipv4.conf.all.arp_ignore=0 or arp_announce<2 (set 1 and 2)`;
  return (
    `Only one MAC may own ${vip} on this link: hosts follow whichever answered last, so connections go to the director ` +
    `or around it at random. The other claimant is ${rsFix}, or a second director that also holds the VIP (two VRRP ` +
    `masters: split brain — check that the directors see each other's VRRP adverts). A failover is one move announced ` +
    `by ${v6 ? 'unsolicited neighbor advertisements' : 'gratuitous ARP'}, the old MAC silent afterwards; that is arp.changed-mac, not this.`
  );
}
