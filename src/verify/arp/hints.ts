/**
 * Hint texts: the likely fix, named for the host at fault, with the reason (lvs-behavior.md §4).
 * Kept apart from the rules so the wording is consistent across rules and reviewable in one place.
 */
const PERSIST = 'persist it in /etc/sysctl.d/ — the kernel uses max(conf/all, conf/<iface>), so an interface value of 0 does not undo it';

export function arpIgnoreHint(rs: string, vip: string): string {
  return (
    `On ${rs}: sysctl -w net.ipv4.conf.all.arp_ignore=1 (${PERSIST}). ` +
    `With arp_ignore=0 a DR/TUN real server answers who-has ${vip} because the VIP is a local address (on lo), ` +
    `so the asker's ARP cache may point ${vip} at this server and client traffic bypasses the director (lvs-behavior.md §4).`
  );
}

export function arpAnnounceHint(rs: string, vip: string): string {
  return (
    `On ${rs}: sysctl -w net.ipv4.conf.all.arp_announce=2 (${PERSIST}). ` +
    `With arp_announce<2 the server uses the source of the packet it is sending — the VIP, when it replies to a client — ` +
    `as ARP sender address while resolving the client or gateway; the target then caches ${vip} → this server and ` +
    `sends VIP traffic straight to it, bypassing the director (lvs-behavior.md §4).`
  );
}

export function garpHint(host: string, vip: string): string {
  return (
    `Only the director (the VRRP master) may announce ${vip}. On ${host}, find what sends gratuitous ARP for it: ` +
    `the VIP configured on a real interface instead of lo (arp_notify / link up), a keepalived VRRP instance or an ` +
    `arping -U/-A in a script; keep the VIP on lo with net.ipv4.conf.all.arp_ignore=1 and arp_announce=2. ` +
    `If ${host} is a director, pass it with --director-mac.`
  );
}

export function poisonedHint(cause: 'reply' | 'request' | 'garp' | 'unknown', culprit: string, vip: string, victim: string): string {
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
