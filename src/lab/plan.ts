/**
 * The lab's one address plan: every director kind (reference, nftables, ipvs) and every lab
 * module reads its addresses, MACs, subnets and ports from here, so captures of the three
 * directors differ only in what the director itself does.
 *
 *   client LAN 172.16.0.0/24: client .2; NAT/FullNAT: VIP .100 (the director answers for it),
 *     the director's own address .1 (kernel directors), a bypass router .254 (fault
 *     rsN:gateway-bypass); DR/TUN: the client's router .1.
 *   real-server LAN 10.0.0.0/24: DIP .1, RIPs .11 and .12, router .254; DR/TUN VIP 10.0.0.100
 *     (on the director, and on each real server's lo or tunnel device).
 *   FullNAT local addresses: 10.0.1.0/24 (LIP 10.0.1.1).
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

/** Prefix length of both LANs. */
export const LAN_PREFIX = 24;

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
} as const;

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

/** The VIP of a method: on the client LAN for the two-armed methods, on the RS LAN otherwise. */
export function vipOf(mode: LabMode): string {
  return mode === 'nat' || mode === 'fullnat' ? ADDR.natVip : ADDR.drVip;
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
}

/** The lab service as ipvsadm-save -n text: what every director kind implements. */
export function serviceConfig(mode: LabMode, o: ServiceOptions = {}): string {
  const svc = `${vipOf(mode)}:${ADDR.port}`;
  const sw = { nat: '-m', dr: '-g', tun: '-i', fullnat: '-b' }[mode];
  const weights = o.weights ?? [1, 1];
  const lines = [
    `-A -t ${svc} -s ${o.scheduler ?? 'rr'}`,
    ...REAL_SERVERS.map((rs, i) => `-a -t ${svc} -r ${rs.rip}:${rportOf(mode)} ${sw} -w ${weights[i]}`),
  ];
  if (mode === 'fullnat') lines.push(`-P -t ${svc} -z ${ADDR.lip}`);
  return lines.join('\n') + '\n';
}
