/**
 * The lab's one address plan: every director kind (reference, nftables, ipvs) and every lab
 * module reads its addresses, MACs, subnets and ports from here, so captures of the three
 * directors differ only in what the director itself does.
 *
 *   client LAN 172.16.0.0/24: client .2 (.2 to .4 with a persistent service); NAT/FullNAT: VIP .100 (the director answers for it),
 *     the director's own address .1 (kernel directors), a bypass router .254 (fault
 *     rsN:gateway-bypass); DR/TUN: the client's router .1.
 *   real-server LAN 10.0.0.0/24: DIP .1, RIPs .11 and .12, router .254; DR/TUN VIP 10.0.0.100
 *     (on the director, and on each real server's lo or tunnel device).
 *   FullNAT local addresses: 10.0.1.0/24 (LIP 10.0.1.1).
 *
 * IPv6 (family 6, addressPlan): the same roles in documentation prefixes, one /64 per LAN:
 *   client LAN 2001:db8:1::/64 (client ::2, director or router ::1, NAT VIP ::100, bypass router
 *   ::254); real-server LAN 2001:db8::/64 (DIP ::1, RIPs ::11 and ::12, router ::254, DR VIP ::100);
 *   FullNAT local addresses 2001:db8:2::/64 (LIP ::1).
 * NAT64 (FullNAT only, nat64Plan): the IPv6 client LAN and VIP, the IPv4 real-server LAN, RIPs
 *   and LIP network.
 *
 * All addresses exist only inside the lab's namespaces (private ranges).
 */

/** Forwarding methods a lab can run (which director kinds run which: see faults.ts). */
export type LabMode = 'nat' | 'dr' | 'tun' | 'fullnat';
export const LAB_MODES: readonly LabMode[] = ['nat', 'dr', 'tun', 'fullnat'];

export const SUBNET = {
  clientLan: '172.16.0.0/24',
  rsLan: '10.0.0.0/24',
  lip: '10.0.1.0/24',
} as const;

/** The same networks in IPv6 (addressPlan(6)). */
export const SUBNET6 = {
  clientLan: '2001:db8:1::/64',
  rsLan: '2001:db8::/64',
  lip: '2001:db8:2::/64',
} as const;

/** The lab's networks of one family. */
export function subnetsOf(family: LabFamily): { clientLan: string; rsLan: string; lip: string } {
  return family === 6 ? SUBNET6 : SUBNET;
}

/** Prefix length of both LANs. */
export const LAN_PREFIX = 24;

/** The address family of a lab's service and LANs. */
export type LabFamily = 4 | 6;

export const ADDR = {
  client: '172.16.0.2',
  /** NAT/FullNAT: the kernel director's client-side address; DR/TUN: the router's client side. */
  clientGw: '172.16.0.1',
  natVip: '172.16.0.100',
  /** Fault rsN:gateway-bypass: a router joining the client LAN (here) and the RS LAN (bypassGwLan). */
  bypassGwWan: '172.16.0.254',
  bypassGwLan: '10.0.0.254',
  dip: '10.0.0.1',
  drVip: '10.0.0.100',
  /** DR/TUN: the client's router on the RS LAN (the real servers' default route). */
  routerLan: '10.0.0.254',
  lip: '10.0.1.1',
  lipNet: SUBNET.lip,
  rip1: '10.0.0.11',
  rip2: '10.0.0.12',
  /** The virtual service port. */
  port: 80,
  /** NAT/FullNAT real servers listen on another port, so the director's port rewrite is exercised. */
  natRport: 8080,
  /** Local port of the client's first connection; connection i uses clientBasePort + i. */
  clientBasePort: 40000,
  /** A UDP case's virtual service port, and its real servers' (another port: the rewrite shows). */
  udpPort: 53,
  udpRport: 5353,
} as const;

/**
 * The client's addresses in a case with a persistent service (FullNAT): connection i comes
 * from the i-th modulo their number. Persistence keys on the client address, so one address
 * would turn every connection after the first into a template hit and leave the scheduler no
 * decision to judge; several make each address's first connection a scheduling decision
 * (sched.distribution judges their order) and its later ones template hits (sched.persistence).
 * Three, an odd number against two real servers: with an even number round robin alone would
 * send each address back to the same server, and a director that lost its templates would
 * pass for a persistent one.
 */
export const PERSISTENT_CLIENTS: readonly string[] = ['172.16.0.2', '172.16.0.3', '172.16.0.4'];

/** The addresses of one family, by role (ADDR's roles). */
export interface AddressPlan {
  family: LabFamily;
  /** Prefix length of both LANs, and of a single address (the VIP on lo). */
  lanPrefix: number;
  hostPrefix: number;
  client: string;
  clientGw: string;
  natVip: string;
  bypassGwWan: string;
  bypassGwLan: string;
  dip: string;
  drVip: string;
  routerLan: string;
  lipNet: string;
  /** The FullNAT local address (in lipNet). */
  lip: string;
  rip1: string;
  rip2: string;
  /** Family of the real-server LAN, RIPs and LIP: the service's, except NAT64 (4 under an IPv6 VIP). */
  rsFamily: LabFamily;
  /** Prefix length of the real-server LAN. */
  rsLanPrefix: number;
}

export const ADDR6 = {
  client: '2001:db8:1::2',
  clientGw: '2001:db8:1::1',
  natVip: '2001:db8:1::100',
  bypassGwWan: '2001:db8:1::254',
  bypassGwLan: '2001:db8::254',
  dip: '2001:db8::1',
  drVip: '2001:db8::100',
  routerLan: '2001:db8::254',
  rip1: '2001:db8::11',
  rip2: '2001:db8::12',
  lip: '2001:db8:2::1',
  lipNet: SUBNET6.lip,
} as const;

/** The lab's addresses in one family (FullNAT's LIP network in the same family). */
export function addressPlan(family: LabFamily): AddressPlan {
  if (family === 6) return { family, lanPrefix: 64, hostPrefix: 128, ...ADDR6, rsFamily: 6, rsLanPrefix: 64 };
  const { client, clientGw, natVip, bypassGwWan, bypassGwLan, dip, drVip, routerLan, lipNet, lip, rip1, rip2 } = ADDR;
  return { family, lanPrefix: LAN_PREFIX, hostPrefix: 32, client, clientGw, natVip, bypassGwWan, bypassGwLan, dip, drVip, routerLan, lipNet, lip, rip1, rip2, rsFamily: 4, rsLanPrefix: LAN_PREFIX };
}

/**
 * The NAT64 FullNAT plan: IPv6 clients reach an IPv6 VIP on the client LAN; the director talks to
 * IPv4 real servers from an IPv4 LIP (the RS-LAN roles and LIP of addressPlan(4)).
 */
export function nat64Plan(): AddressPlan {
  const v6 = addressPlan(6);
  const v4 = addressPlan(4);
  return { ...v6, dip: v4.dip, bypassGwLan: v4.bypassGwLan, routerLan: v4.routerLan, lipNet: v4.lipNet, lip: v4.lip, rip1: v4.rip1, rip2: v4.rip2, rsFamily: 4, rsLanPrefix: v4.rsLanPrefix };
}

/** The plan of a case: its family's, or NAT64's. */
export function casePlan(family: LabFamily, nat64 = false): AddressPlan {
  return nat64 ? nat64Plan() : addressPlan(family);
}

/** `addr:port` as ipvsadm writes it: IPv6 in brackets. */
export function hostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Fixed MACs per role (02:1e:5a:00:<role>:<if>), so captures read the same on every run. */
export const MAC = {
  client: '02:1e:5a:00:01:00',
  routerWan: '02:1e:5a:00:02:00',
  routerLan: '02:1e:5a:00:02:01',
  directorWan: '02:1e:5a:00:03:00',
  directorLan: '02:1e:5a:00:03:01',
  rs1: '02:1e:5a:00:04:00',
  rs2: '02:1e:5a:00:05:00',
  gwWan: '02:1e:5a:00:06:00',
  gwLan: '02:1e:5a:00:06:01',
} as const;

export type RsName = 'rs1' | 'rs2';

export interface RealServerPlan {
  name: RsName;
  rip: string;
  mac: string;
}

export const REAL_SERVERS: readonly RealServerPlan[] = [
  { name: 'rs1', rip: ADDR.rip1, mac: MAC.rs1 },
  { name: 'rs2', rip: ADDR.rip2, mac: MAC.rs2 },
];

/** The real servers of a family: the same names and MACs, the family's RIPs. */
export function realServers(family: LabFamily): readonly RealServerPlan[] {
  if (family === 4) return REAL_SERVERS;
  return [
    { name: 'rs1', rip: ADDR6.rip1, mac: MAC.rs1 },
    { name: 'rs2', rip: ADDR6.rip2, mac: MAC.rs2 },
  ];
}

/** The VIP of a method: on the client LAN for the two-armed methods, on the RS LAN otherwise. */
export function vipOf(mode: LabMode, family: LabFamily = 4): string {
  const a = addressPlan(family);
  return mode === 'nat' || mode === 'fullnat' ? a.natVip : a.drVip;
}

/** The port the real servers listen on: DR and TUN cannot rewrite ports, NAT/FullNAT do. */
export function rportOf(mode: LabMode): number {
  return mode === 'nat' || mode === 'fullnat' ? ADDR.natRport : ADDR.port;
}

/** Two-armed methods put the director between a client LAN and the RS LAN. */
export function twoArmed(mode: LabMode): boolean {
  return mode === 'nat' || mode === 'fullnat';
}

export interface ServiceOptions {
  scheduler?: string;
  /** Weights of rs1 and rs2. */
  weights?: readonly [number, number];
  /** Address family of the service (default 4). */
  family?: LabFamily;
  /** FullNAT with family 6: IPv4 real servers and LIP (NAT64). */
  nat64?: boolean;
  /** Seconds of persistence (`-p`); absent or null: not persistent. */
  persistence?: number | null;
  /** UDP: the service is VIP:udpPort → RS:udpRport (default tcp, VIP:port → RS:rportOf). */
  protocol?: 'tcp' | 'udp';
}

/** The lab service as ipvsadm-save -n text: what every director kind implements. */
export function serviceConfig(mode: LabMode, o: ServiceOptions = {}): string {
  const family = o.family ?? 4;
  const plan = casePlan(family, o.nat64 === true && mode === 'fullnat');
  const udp = o.protocol === 'udp';
  const p = udp ? '-u' : '-t';
  const svc = hostPort(vipOf(mode, family), udp ? ADDR.udpPort : ADDR.port);
  const rport = udp ? ADDR.udpRport : rportOf(mode);
  const sw = { nat: '-m', dr: '-g', tun: '-i', fullnat: '-b' }[mode];
  const weights = o.weights ?? [1, 1];
  const lines = [
    `-A ${p} ${svc} -s ${o.scheduler ?? 'rr'}${o.persistence !== undefined && o.persistence !== null ? ` -p ${o.persistence}` : ''}`,
    ...realServers(plan.rsFamily).map((rs, i) => `-a ${p} ${svc} -r ${hostPort(rs.rip, rport)} ${sw} -w ${weights[i]}`),
  ];
  if (mode === 'fullnat') lines.push(`-P ${p} ${svc} -z ${plan.lip}`);
  return lines.join('\n') + '\n';
}
