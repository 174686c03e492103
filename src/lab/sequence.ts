/**
 * The lab's one run sequence, shared by every director kind:
 *
 *   build topology → configure director → apply faults → start captures → run client
 *   → stop captures → verify → tear down
 *
 * A director kind only says how its director is configured and removed (DirectorDriver); the
 * namespaces, addresses (plan.ts), real-server faults (faults.ts), capture points, client and
 * verify step are the same for all. The ipvs kind runs the same sequence inside a VM (its kernel
 * has IPVS) up to the teardown, and verifies on the host with verifyCaptures.
 *
 * Topologies:
 *   NAT / FullNAT: client ─ wan bridge ─ director eth0 │ director eth1 ─ lan bridge ─ rs1, rs2;
 *     real servers route via the DIP (FullNAT: only the LIP network).
 *   DR / TUN: client ─ router ─ lan bridge ─ director eth0 (one-armed), rs1, rs2; the VIP on each
 *     real server's lo (DR) or tunnel device (TUN) with arp_ignore=1, arp_announce=2, rp_filter=0,
 *     default route via the router.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { shQuote } from './netns.js';
import { Lab, type Bridge, type Capture, type CapturePoint, type LabOptions, type Namespace, type OffloadProfile } from './topology.js';
import { runHttpClient, runUdpClient, startHttpServer, startUdpServer, type ConnectionResult } from './services.js';
import { ADDR, MAC, PERSISTENT_CLIENTS, casePlan, realServers, rportOf, serviceConfig, twoArmed, vipOf, type AddressPlan, type LabFamily, type LabMode, type RealServerPlan } from './plan.js';
import { EnvironmentError, InputError } from '../errors.js';
import { auditedServiceText, faultLabels, type DirectorKind, type LabFaults, type RsFault } from './faults.js';
import type { DirectorProfile } from '../replay/director/types.js';
import { parseServiceConfig } from '../verify/service/index.js';
import { verify } from '../verify/verify.js';
import { hasError } from '../verify/model/findings.js';
import type { VerifyResult } from '../verify/model/result.js';

/** One run through the lab: a service (mode, scheduler, weights) and its faults. */
export interface LabCase {
  /** Directory name and label, e.g. `nat-rr`, `dr-rr-rs2-arp_ignore0`. */
  id: string;
  mode: LabMode;
  scheduler: string;
  /** Weights of rs1 and rs2. */
  weights: [number, number];
  faults: LabFaults;
  /** Sequential client connections. */
  connections: number;
  /** Profile the director follows and verify checks against. */
  profile: DirectorProfile;
  /** Address family of the service and LANs (absent: 4). */
  family?: LabFamily;
  /** FullNAT, family 6: the real servers and LIP are IPv4 (plan.ts nat64Plan). */
  nat64?: true;
  /** FullNAT: the service is persistent, and the client connects from several addresses. */
  persistence?: PersistencePlan;
  /**
   * The service is UDP (plan.ts ADDR.udpPort → udpRport): the real servers run a UDP echo
   * server, and each client "connection" is a local port sending this many datagrams.
   */
  udp?: { datagrams: number };
}

/**
 * Datagrams per UDP connection: more than DPVS's uoa_max_trail (3, dpvs/config.ts), so a
 * capture shows the datagrams that carry the client's address and the ones after them.
 */
export const UDP_DATAGRAMS = 5;

/** A persistent service: its timeout, and the client addresses connections rotate over. */
export interface PersistencePlan {
  timeout: number;
  clients: readonly string[];
}

/** Seconds of persistence of a FullNAT case unless told otherwise. */
export const DEFAULT_PERSISTENCE_S = 300;

export interface LabCaseOptions {
  scheduler?: string;
  family?: LabFamily;
  faults?: LabFaults;
  connections?: number;
  profile: DirectorProfile;
  /** See LabCase.nat64. */
  nat64?: boolean;
  /** FullNAT: seconds of persistence of the service (default DEFAULT_PERSISTENCE_S; UDP: 0); 0: not persistent. */
  persistence?: number;
  /** A UDP service instead of the HTTP one (FullNAT only: the DPVS lab's UOA case). */
  udp?: boolean;
}

/**
 * A case with the lab's defaults: weighted schedulers get 3:1 and 8 connections (two rounds),
 * others 1:1 and 4; a FullNAT TCP case is persistent and makes two connections from each of
 * its client addresses.
 */
export function labCase(mode: LabMode, o: LabCaseOptions): LabCase {
  const scheduler = o.scheduler ?? 'rr';
  const faults = o.faults ?? { director: [], rs: [] };
  const weighted = scheduler === 'wrr' || scheduler === 'wlc' || scheduler === 'sed';
  const words = faultLabels(faults).map((f) => f.replace(/:/g, '-').replace(/=/g, ''));
  const family = o.family ?? 4;
  const nat64 = o.nat64 === true && mode === 'fullnat' && family === 6;
  const udp = o.udp === true;
  if (udp && mode !== 'fullnat') throw new InputError(`--udp: the lab's UDP service is FullNAT only (--mode ${mode})`);
  if (udp && family === 6) throw new InputError('--udp: the lab\'s UDP service is IPv4 only');
  if (udp && o.persistence !== undefined && o.persistence !== 0) throw new InputError('--udp and --persistence: the UDP case is not persistent');
  // The persistent service's extra client addresses are IPv4; DPVS's lip-exhausted floods from
  // one client address and needs conhash to send it all to one real server.
  const persistentByDefault = mode === 'fullnat' && !udp && family === 4 && !faults.director.includes('lip-exhausted');
  const persistence = o.persistence ?? (persistentByDefault ? DEFAULT_PERSISTENCE_S : 0);
  if (persistence !== 0 && mode !== 'fullnat') throw new InputError(`--persistence: the lab's persistent service is FullNAT only (--mode ${mode})`);
  if (persistence !== 0 && family === 6) throw new InputError('--persistence: the lab\'s persistent service is IPv4 only (its extra client addresses)');
  // Two connections from each client address: its first is scheduled, its second must follow.
  const connections = o.connections ?? (persistence !== 0 ? 2 * PERSISTENT_CLIENTS.length : weighted ? 8 : 4);
  return {
    id: [mode, ...(nat64 ? ['nat64'] : family === 6 ? ['ipv6'] : []), ...(udp ? ['udp'] : []), scheduler, ...words].join('-'),
    mode,
    scheduler,
    weights: weighted ? [3, 1] : [1, 1],
    faults,
    connections,
    profile: o.profile,
    ...(family === 6 ? { family } : {}),
    ...(nat64 ? { nat64 } : {}),
    ...(persistence > 0 ? { persistence: { timeout: persistence, clients: PERSISTENT_CLIENTS } } : {}),
    ...(udp ? { udp: { datagrams: UDP_DATAGRAMS } } : {}),
  };
}

/** The address plan of a case (plan.ts casePlan). */
export function planOfCase(c: Pick<LabCase, 'family' | 'nat64'>): AddressPlan {
  return casePlan(c.family ?? 4, c.nat64 === true);
}

/** The service text of a case: the plan's service with the case's scheduler and weights. */
export function caseServiceConfig(c: LabCase): string {
  return serviceConfig(c.mode, {
    scheduler: c.scheduler,
    weights: c.weights,
    family: c.family ?? 4,
    ...(c.nat64 ? { nat64: true } : {}),
    persistence: c.persistence?.timeout ?? null,
    protocol: c.udp !== undefined ? 'udp' : 'tcp',
  });
}

/**
 * `off`: every offload off on every veth (captures show finished checksums and wire-sized
 * segments). `on`: production-shaped, see offloadPlan.
 */
export type LabOffloads = 'on' | 'off';
export const LAB_OFFLOADS: readonly LabOffloads[] = ['off', 'on'];

/**
 * tcpdump -B of a lab's captures (batched, CaptureOptions): with offloads on a case's bursts at
 * the director's `any` capture (super-segments in, the segments cut from them out) are a few MB.
 */
export const CAPTURE_BUFFER_KIB = 64 * 1024;

/** Response body size with offloads on unless asked otherwise: enough for 64 KB super-segments. */
export const OFFLOAD_RESPONSE_BYTES = 300 * 1024;

/** The offload profile (topology.ts) of each kind of veth end in a lab. */
export interface OffloadPlan {
  /** Client and real servers: the senders and receivers of the data. */
  host: OffloadProfile;
  /** Routers (DR/TUN client router, the gateway-bypass router): kernel forwarders. */
  router: OffloadProfile;
  /** The director's own ports. */
  director: OffloadProfile;
  /** The bridge ports facing the director. */
  directorPort: OffloadProfile;
  /** Every other bridge port. */
  port: OffloadProfile;
}

/**
 * With offloads on, hosts keep what a host has by default (TX checksum offload, TSO/GSO, GRO),
 * and kernel forwarders (kernel directors, routers) have TSO off but GSO on, so their egress
 * capture shows the segments the stack cuts in software while the sender's shows the
 * super-segment and the receiver's the GRO-merged packet. Bridge ports hand on segments, as a
 * switch does. The userspace reference director sees
 * frames through libpcap, without the kernel's offload metadata, and sends what it got: its ports
 * have every offload off, and the bridge ports in front of it segment and finish checksums in
 * software (else it would get 64 KB frames it cannot send and partial checksums it would
 * forward as wrong ones).
 */
export function offloadPlan(offloads: LabOffloads, driver: Pick<DirectorDriver, 'addressed'>): OffloadPlan {
  if (offloads === 'off') return { host: 'off', router: 'off', director: 'off', directorPort: 'off', port: 'off' };
  return driver.addressed
    ? { host: 'host', router: 'segment', director: 'segment', directorPort: 'switch', port: 'switch' }
    : { host: 'host', router: 'segment', director: 'off', directorPort: 'finish', port: 'switch' };
}

export interface LabRealServer extends RealServerPlan {
  ns: Namespace;
}

export interface LabTopology {
  lab: Lab;
  mode: LabMode;
  /** The addresses of the lab's family (plan.ts). */
  addr: AddressPlan;
  client: Namespace;
  director: Namespace;
  /** DR/TUN: the client's router on the RS LAN; NAT/FullNAT: the bypass router once a fault adds it. */
  router: Namespace | null;
  /** NAT/FullNAT: the client LAN; DR/TUN: null. */
  wan: Bridge | null;
  lan: Bridge;
  vip: string;
  rs: LabRealServer[];
  /** DR/TUN: device holding the VIP on the real servers (lo, tunl0 or ipip0); else ''. */
  vipDev: string;
  /** Capture points of the conformant lab (a fault may add the bypass router). */
  points: CapturePoint[];
  offloads: OffloadPlan;
  shape: LabShape;
  /** With offloads on: what `ethtool -k` reports per `role/device` once the lab is up (what the kernel allowed). */
  offloadState: Record<string, DeviceOffloads> | null;
}

/** The offload switches that shape a capture, as the kernel reports them for one device. */
export interface DeviceOffloads {
  tx: boolean;
  tso: boolean;
  gso: boolean;
  gro: boolean;
}

/** What a director kind contributes to the sequence. */
export interface DirectorDriver {
  readonly kind: DirectorKind;
  /**
   * Kernel directors own the DIP and VIP in their namespace; the userspace reference director
   * leaves its ports without addresses and answers ARP and forwards itself.
   */
  readonly addressed: boolean;
  /**
   * Kernel directors are captured on `any` (one file, both legs, in kernel order); the userspace
   * director, which sends through libpcap on each port, on each port.
   */
  readonly directorCapture: 'any' | 'per-port';
  /** Configure the director for one case (after the topology, before the faults). */
  configure(t: LabTopology, c: LabCase): Promise<ConfiguredDirector>;
}

export interface ConfiguredDirector {
  /**
   * After the captures stopped: collect what the director knows (written into `dir`), and the
   * service text verify should use (what the director itself reports, where it can).
   */
  finish(dir: string, traffic: { clientBasePort: number; connections: number }): Promise<{ serviceConfig: string; facts: Record<string, unknown> }>;
  /** Undo the configuration (the topology may serve another case). */
  remove(): Promise<void>;
  /**
   * Traffic of the director's own faults, once the captures run and before the client's
   * connections (DPVS lip-exhausted: the flood that holds the LIP's ports). `clientPorts` are the
   * client's ports this case's connections use, which it must leave alone.
   */
  beforeClient?(clientPorts: { base: number; count: number }): Promise<void>;
}

export type LabStage = 'topology' | 'director' | 'faults' | 'captures' | 'traffic';

export interface SessionOptions {
  lab?: LabOptions;
  /** NIC offloads of the lab's veths (default off; see offloadPlan). */
  offloads?: LabOffloads;
  /** HTTP response body bytes (default: OFFLOAD_RESPONSE_BYTES with offloads on, else just the server's name). */
  responseBytes?: number;
  /** Per-connection client timeout (default 1500 ms). */
  timeoutMs?: number;
  /**
   * Also capture each port of a two-armed director on its own (director-eth0/-eth1) beside its
   * `any` capture: fixtures/lab carries both forms, and verify reads either.
   */
  directorPorts?: boolean;
  /** Called after each stage; throwing aborts the run (the lab is still destroyed). */
  onStage?: (stage: LabStage, lab: Lab) => void;
}

export interface LabCaseRun {
  id: string;
  /** Capture files by point. */
  captures: Record<string, string>;
  connections: ConnectionResult[];
  /** service.conf as written into the case directory. */
  service: string;
  serviceConfig: string;
  /** Local port of the client's first connection. */
  clientBasePort: number;
  /** Director-specific facts (reference: frame counts; ipvs: ipvsadm outputs). */
  facts: Record<string, unknown>;
  /** Offloads and response size of the lab that ran the case. */
  shape: LabShape;
  /** With offloads on: the devices' offload switches as the kernel reported them. */
  offloadState: Record<string, DeviceOffloads> | null;
  durationMs: number;
}

/**
 * Run several commands, each inside a lab namespace, from one shell: under an emulated CPU a
 * spawn from node costs far more than one from sh, and a topology needs dozens of them.
 */
export function nsBatch(lab: Lab, commands: ReadonlyArray<readonly [Namespace, readonly string[]]>): void {
  if (commands.length === 0) return;
  const script = ['set -e', ...commands.map(([ns, argv]) => ['ip', 'netns', 'exec', ns.name, ...argv].map(shQuote).join(' '))].join('\n');
  lab.exec(lab.allNamespaces[0]!, ['sh', '-c', script], { timeoutMs: 60_000 });
}

function arpSettings(scopes: readonly string[], arpIgnore: number, arpAnnounce: number): string[] {
  return scopes.flatMap((s) => [`net.ipv4.conf.${s}.arp_ignore=${arpIgnore}`, `net.ipv4.conf.${s}.arp_announce=${arpAnnounce}`]);
}

function arpScopes(t: LabTopology): string[] {
  return t.mode === 'tun' ? ['all', 'eth0', t.vipDev] : ['all', 'eth0'];
}

function rsLink(lab: Lab, lan: Bridge, r: RealServerPlan, ns: Namespace, o: OffloadPlan, a: AddressPlan): void {
  lab.link(ns, lan, { a: { addr: `${r.rip}/${a.rsLanPrefix}`, mac: r.mac, offloads: o.host }, b: { offloads: o.port } });
}

/** The sysctl that makes a namespace forward packets of the lab's family. */
function forwardingSysctl(a: AddressPlan): string {
  return a.family === 6 ? 'net.ipv6.conf.all.forwarding' : 'net.ipv4.ip_forward';
}

function directorPoints(director: Namespace, mode: LabMode, capture: DirectorDriver['directorCapture']): CapturePoint[] {
  const perPort: CapturePoint[] = [{ point: 'director-eth0', ns: director, iface: 'eth0' }];
  if (twoArmed(mode)) perPort.push({ point: 'director-eth1', ns: director, iface: 'eth1' });
  if (capture === 'per-port') return perPort;
  return [twoArmed(mode) ? { point: 'director', ns: director, iface: 'any', sll2: true } : { point: 'director', ns: director, iface: 'eth0' }];
}

function buildTwoArmed(lab: Lab, mode: LabMode, driver: DirectorDriver, o: OffloadPlan, a: AddressPlan): LabTopology {
  const client = lab.addNamespace('client');
  const director = lab.addNamespace('director');
  const plan = realServers(a.rsFamily);
  const rsNs = plan.map((r) => lab.addNamespace(r.name));
  const wan = lab.addBridge('wan');
  const lan = lab.addBridge('lan');
  lab.link(client, wan, { a: { addr: `${a.client}/${a.lanPrefix}`, mac: MAC.client, offloads: o.host }, b: { offloads: o.port } });
  const wanAddrs = driver.addressed ? [`${a.clientGw}/${a.lanPrefix}`, `${a.natVip}/${a.lanPrefix}`] : [];
  lab.link(director, wan, { a: { ifname: 'eth0', addr: wanAddrs, mac: MAC.directorWan, offloads: o.director }, b: { offloads: o.directorPort } });
  lab.link(director, lan, {
    a: { ifname: 'eth1', addr: driver.addressed ? [`${a.dip}/${a.lanPrefix}`] : [], mac: MAC.directorLan, offloads: o.director },
    b: { offloads: o.directorPort },
  });
  const rs = plan.map((r, i) => ({ ...r, ns: rsNs[i]! }));
  for (const r of rs) rsLink(lab, lan, r, r.ns, o, a);
  if (driver.addressed) {
    // The VIP is on the client's own LAN; the route carries what a client sends elsewhere (its
    // RST to a leaked RIP). Without a kernel director nobody owns clientGw, and a route to it
    // would only add unanswered ARP requests to the captures.
    lab.addRoute(client, 'default', a.clientGw);
    // NAT replies are routed through a kernel director (FORWARD hook), so it must forward.
    lab.sysctl(director, forwardingSysctl(a), 1);
  }
  for (const r of rs) {
    // FullNAT replies go to the LIP: only that network is routed via the director.
    if (mode === 'fullnat') lab.addRoute(r.ns, a.lipNet, a.dip);
    else lab.addRoute(r.ns, 'default', a.dip);
  }
  return {
    lab,
    mode,
    addr: a,
    client,
    director,
    router: null,
    wan,
    lan,
    vip: vipOf(mode, a.family),
    rs,
    vipDev: '',
    points: [
      { point: 'client', ns: client, iface: 'eth0' },
      ...directorPoints(director, mode, driver.directorCapture),
      ...rs.map((r) => ({ point: r.name, ns: r.ns, iface: 'eth0' })),
    ],
    offloads: o,
    shape: labShape({}),
    offloadState: null,
  };
}

function buildSharedLan(lab: Lab, mode: LabMode, driver: DirectorDriver, o: OffloadPlan, a: AddressPlan): LabTopology {
  const client = lab.addNamespace('client');
  const router = lab.addNamespace('router');
  const director = lab.addNamespace('director');
  const plan = realServers(a.rsFamily);
  const rsNs = plan.map((r) => lab.addNamespace(r.name));
  const lan = lab.addBridge('lan');
  lab.link(client, router, {
    a: { addr: `${a.client}/${a.lanPrefix}`, mac: MAC.client, offloads: o.host },
    b: { addr: `${a.clientGw}/${a.lanPrefix}`, mac: MAC.routerWan, offloads: o.router },
  });
  lab.link(router, lan, { a: { addr: `${a.routerLan}/${a.lanPrefix}`, mac: MAC.routerLan, offloads: o.router }, b: { offloads: o.port } });
  lab.link(director, lan, {
    a: { ifname: 'eth0', addr: driver.addressed ? [`${a.dip}/${a.lanPrefix}`, `${a.drVip}/${a.hostPrefix}`] : [], mac: MAC.directorWan, offloads: o.director },
    b: { offloads: o.directorPort },
  });
  const rs = plan.map((r, i) => ({ ...r, ns: rsNs[i]! }));
  for (const r of rs) rsLink(lab, lan, r, r.ns, o, a);
  lab.addRoute(client, 'default', a.clientGw);
  lab.sysctl(router, forwardingSysctl(a), 1);
  // Like the kernel selftest: a kernel director never routes client traffic itself in DR/TUN.
  if (driver.addressed) lab.sysctl(director, 'net.ipv4.conf.all.send_redirects', 0);
  const cmds: Array<[Namespace, string[]]> = [];
  for (const r of rs) {
    cmds.push([r.ns, ['sysctl', '-q', '-w', ...arpSettings(['all', 'eth0'], 1, 2), 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.eth0.rp_filter=0']]);
    // TUN: the VIP goes on the decapsulating device, added after waitReady (addTunnels). IPv6
    // has no arp_ignore: a VIP on lo is never advertised on eth0 (the kernel answers a
    // solicitation only for addresses of the interface it came in on).
    if (mode === 'dr') cmds.push([r.ns, ['ip', 'addr', 'add', `${a.drVip}/${a.hostPrefix}`, 'dev', 'lo']]);
    cmds.push([r.ns, ['ip', 'route', 'add', 'default', 'via', a.routerLan]]);
  }
  nsBatch(lab, cmds);
  return {
    lab,
    mode,
    addr: a,
    client,
    director,
    router,
    wan: null,
    lan,
    vip: a.drVip,
    rs,
    vipDev: mode === 'dr' ? 'lo' : '',
    offloads: o,
    shape: labShape({}),
    offloadState: null,
    points: [
      { point: 'client', ns: client, iface: 'eth0' },
      { point: 'router', ns: router, iface: 'eth1' },
      ...directorPoints(director, mode, driver.directorCapture),
      ...rs.map((r) => ({ point: r.name, ns: r.ns, iface: 'eth0' })),
    ],
  };
}

/**
 * The IPIP device that decapsulates the director's packets on a TUN real server: the fallback
 * `tunl0` when the kernel creates one per namespace, else a wildcard ipip device of our own
 * (the lab VM sets fb_tunnels_only_for_init_net so other namespaces carry no idle tunl0).
 */
function tunnelDevice(lab: Lab, ns: Namespace): string {
  const links = JSON.parse(lab.ip(ns, ['-j', 'link', 'show'])) as Array<{ ifname: string }>;
  const dev = links.some((l) => l.ifname === 'tunl0') ? 'tunl0' : 'ipip0';
  if (dev === 'ipip0') lab.ip(ns, ['link', 'add', dev, 'type', 'ipip']);
  lab.ip(ns, ['link', 'set', dev, 'up']);
  return dev;
}

/**
 * TUN real servers: the decapsulating device with the VIP, rp_filter off on it. Done after
 * Lab.waitReady, which waits for operstate UP and a tunnel device only ever reports UNKNOWN.
 */
function addTunnels(t: LabTopology): void {
  for (const { ns } of t.rs) {
    const dev = tunnelDevice(t.lab, ns);
    t.vipDev = dev;
    nsBatch(t.lab, [
      [ns, ['sysctl', '-q', '-w', ...arpSettings([dev], 1, 2), `net.ipv4.conf.${dev}.rp_filter=0`]],
      [ns, ['ip', 'addr', 'add', `${t.addr.drVip}/${t.addr.hostPrefix}`, 'dev', dev]],
    ]);
  }
}

const ETHTOOL_NAMES: Record<string, keyof DeviceOffloads> = {
  'tx-checksumming': 'tx',
  'tcp-segmentation-offload': 'tso',
  'generic-segmentation-offload': 'gso',
  'generic-receive-offload': 'gro',
};

/**
 * `ethtool -k` of every veth in the lab, from one shell (a spawn per device costs seconds under
 * an emulated CPU). What the kernel reports, not what was asked: a switch it refuses shows here.
 */
export function readOffloadState(lab: Lab): Record<string, DeviceOffloads> {
  const script = [
    'for ns in "$@"; do',
    '  for dev in $(ip -n "$ns" -o link show | sed -n \'s/^[0-9]*: \\([^:@]*\\).*/\\1/p\'); do',
    '    [ "$dev" = lo ] && continue',
    '    echo "== $ns $dev"',
    '    ip netns exec "$ns" ethtool -k "$dev" 2>/dev/null || true',
    '  done',
    'done',
  ].join('\n');
  const names = lab.allNamespaces.map((n) => n.name);
  const text = lab.exec(lab.allNamespaces[0]!, ['sh', '-c', script, 'sh', ...names], { timeoutMs: 60_000 });
  const roles = new Map(lab.allNamespaces.map((n) => [n.name, n.role]));
  return parseOffloadState(text, (ns) => roles.get(ns) ?? ns);
}

/**
 * Parse `== <namespace> <device>` headers, each followed by that device's `ethtool -k` output,
 * into `role/device` → switches (`roleOf` maps a namespace name to its role).
 */
export function parseOffloadState(text: string, roleOf: (ns: string) => string = (ns) => ns): Record<string, DeviceOffloads> {
  const out: Record<string, DeviceOffloads> = {};
  let cur: DeviceOffloads | null = null;
  for (const line of text.split('\n')) {
    const head = /^== (\S+) (\S+)$/.exec(line);
    if (head) {
      cur = { tx: false, tso: false, gso: false, gro: false };
      out[`${roleOf(head[1]!)}/${head[2]}`] = cur;
      continue;
    }
    const m = /^([a-z-]+):\s+(on|off)/.exec(line);
    const key = m ? ETHTOOL_NAMES[m[1]!] : undefined;
    if (cur !== null && key !== undefined) cur[key] = m![2] === 'on';
  }
  return out;
}

/** How a lab is shaped beyond its mode: offloads and response size (defaults: SessionOptions). */
export interface LabShape {
  offloads: LabOffloads;
  responseBytes: number;
}

export function labShape(o: Pick<SessionOptions, 'offloads' | 'responseBytes'>): LabShape {
  const offloads = o.offloads ?? 'off';
  return { offloads, responseBytes: o.responseBytes ?? (offloads === 'on' ? OFFLOAD_RESPONSE_BYTES : 0) };
}

/** Build the conformant lab of a mode and start the real servers' HTTP services. */
export async function buildTopology(lab: Lab, mode: LabMode, driver: DirectorDriver, shape: LabShape = labShape({}), family: LabFamily = 4, nat64 = false): Promise<LabTopology> {
  const o = offloadPlan(shape.offloads, driver);
  const a = casePlan(family, nat64);
  const t = twoArmed(mode) ? buildTwoArmed(lab, mode, driver, o, a) : buildSharedLan(lab, mode, driver, o, a);
  t.shape = shape;
  await lab.waitReady(15_000);
  if (shape.offloads === 'on') t.offloadState = readOffloadState(lab);
  if (mode === 'tun') addTunnels(t);
  await Promise.all(t.rs.map((r) => startHttpServer(lab, r.ns, r.name, rportOf(mode), shape.responseBytes, a.rsFamily)));
  return t;
}

/** The bypass router of fault rsN:gateway-bypass: joins both LANs of a two-armed lab. */
async function bypassRouter(t: LabTopology): Promise<Namespace> {
  if (t.router !== null) return t.router;
  const { lab } = t;
  const router = lab.addNamespace('router');
  const o = t.offloads;
  const a = t.addr;
  lab.link(router, t.wan!, { a: { addr: `${a.bypassGwWan}/${a.lanPrefix}`, mac: MAC.gwWan, offloads: o.router }, b: { offloads: o.port } });
  lab.link(router, t.lan, { a: { addr: `${a.bypassGwLan}/${a.lanPrefix}`, mac: MAC.gwLan, offloads: o.router }, b: { offloads: o.port } });
  lab.sysctl(router, forwardingSysctl(a), 1);
  await lab.waitReady(15_000);
  t.router = router;
  return router;
}

function replyFromRipRules(rip: string): string {
  return `table ip lvsa_fault {
  chain prerouting {
    type filter hook prerouting priority raw; policy accept;
    ip daddr ${ADDR.drVip} tcp dport ${ADDR.port} notrack ip daddr set ${rip}
  }
}
`;
}

/** Apply one real-server fault; returns what reverts it. */
async function applyRsFault(t: LabTopology, f: RsFault): Promise<() => void> {
  const { lab } = t;
  const rs = t.rs.find((r) => r.name === f.rs)!;
  const vipHost = `${t.addr.drVip}/${t.addr.hostPrefix}`;
  const setArp = (ignore: number, announce: number): void => nsBatch(lab, [[rs.ns, ['sysctl', '-q', '-w', ...arpSettings(arpScopes(t), ignore, announce)]]]);
  switch (f.kind) {
    case 'arp_ignore=0':
      setArp(0, 2);
      return () => setArp(1, 2);
    case 'arp_announce=0': {
      setArp(1, 0);
      // Accept a changed MAC at once, like many non-Linux routers (Linux ignores changes for
      // locktime = 1 s after an update, which would hide the poisoning until a later resolution).
      const key = 'net.ipv4.neigh.eth1.locktime';
      const old = t.router !== null ? lab.readSysctl(t.router, key) : null;
      if (t.router !== null) lab.sysctl(t.router, key, 0);
      return () => {
        setArp(1, 2);
        if (t.router !== null && old !== null) lab.sysctl(t.router, key, old);
      };
    }
    case 'no-vip':
      lab.ip(rs.ns, ['addr', 'del', vipHost, 'dev', t.vipDev]);
      return () => lab.ip(rs.ns, ['addr', 'add', vipHost, 'dev', t.vipDev]);
    case 'reply-from-rip':
      // Accept the VIP without binding it: the kernel then answers from the RIP.
      lab.ip(rs.ns, ['addr', 'del', vipHost, 'dev', t.vipDev]);
      lab.nft(rs.ns, replyFromRipRules(rs.rip));
      return () => {
        lab.exec(rs.ns, ['nft', 'delete', 'table', 'ip', 'lvsa_fault']);
        lab.ip(rs.ns, ['addr', 'add', vipHost, 'dev', t.vipDev]);
      };
    case 'weight0-not-applied':
      // Nothing changes in the lab: only the text verify is given differs (auditedServiceText).
      return () => undefined;
    case 'gateway-bypass': {
      await bypassRouter(t);
      // FullNAT real servers reach the client only through the LIP network's route; NAT ones by default.
      const dst = t.mode === 'fullnat' ? t.addr.lipNet : 'default';
      lab.ip(rs.ns, ['route', 'replace', dst, 'via', t.addr.bypassGwLan]);
      return () => lab.ip(rs.ns, ['route', 'replace', dst, 'via', t.addr.dip]);
    }
  }
}

/** Apply every real-server fault of a case; returns what reverts them all (in reverse order). */
export async function applyRsFaults(t: LabTopology, faults: LabFaults): Promise<() => void> {
  const reverts: Array<() => void> = [];
  try {
    for (const f of faults.rs) reverts.push(await applyRsFault(t, f));
  } catch (e) {
    for (const r of reverts.reverse()) r();
    throw e;
  }
  return () => {
    for (const r of reverts.reverse()) r();
  };
}

/** The client's further addresses of a persistent case (idempotent: a session runs several cases). */
function addClientAddresses(t: LabTopology, addrs: readonly string[]): void {
  nsBatch(
    t.lab,
    addrs.filter((a) => a !== t.addr.client).map((a) => [t.client, ['ip', 'addr', 'replace', `${a}/${t.addr.lanPrefix}`, 'dev', 'eth0']] as const),
  );
}

/** Capture points of a case: the topology's, plus the bypass router once a fault added it. */
function casePoints(t: LabTopology): CapturePoint[] {
  const points = [...t.points];
  if (t.router !== null && !points.some((p) => p.point === 'router')) points.push({ point: 'router', ns: t.router, iface: 'eth1' });
  return points;
}

/**
 * One topology for one mode, reused by several cases (building namespaces and starting the HTTP
 * servers is the slow part under an emulated CPU). Each case gets its director configuration,
 * its faults (reverted afterwards), flushed neighbour caches (so the ARP a fault causes happens
 * inside its captures), its own client ports and its own captures.
 */
export class LabSession {
  private casesRun = 0;
  /** The real servers' UDP echo servers run (started by the first UDP case). */
  private udpServers = false;

  private constructor(
    readonly driver: DirectorDriver,
    readonly topo: LabTopology,
    private readonly opts: SessionOptions,
  ) {}

  get lab(): Lab {
    return this.topo.lab;
  }

  /** Build topology. Destroys the lab if that fails. */
  static async open(driver: DirectorDriver, mode: LabMode, opts: SessionOptions = {}, family: LabFamily = 4, nat64 = false): Promise<LabSession> {
    const lab = new Lab(family === 6 ? { ...opts.lab, ipv6: true } : opts.lab);
    try {
      const topo = await buildTopology(lab, mode, driver, labShape(opts), family, nat64);
      opts.onStage?.('topology', lab);
      return new LabSession(driver, topo, opts);
    } catch (e) {
      await lab.destroy();
      throw e;
    }
  }

  /** configure director → apply faults → start captures → run client → stop captures. */
  async run(c: LabCase, outDir: string): Promise<LabCaseRun> {
    if (c.mode !== this.topo.mode) throw new Error(`case ${c.id} is ${c.mode}, session is ${this.topo.mode}`);
    if ((c.family ?? 4) !== this.topo.addr.family) throw new Error(`case ${c.id} is IPv${c.family ?? 4}, session is IPv${this.topo.addr.family}`);
    if (planOfCase(c).rsFamily !== this.topo.addr.rsFamily) throw new Error(`case ${c.id} has IPv${planOfCase(c).rsFamily} real servers, session IPv${this.topo.addr.rsFamily}`);
    const started = Date.now();
    const { lab, topo } = this;
    const stage = (s: LabStage): void => this.opts.onStage?.(s, lab);
    const dir = resolve(outDir);
    mkdirSync(dir, { recursive: true });
    // New local ports per case: no director or TCP state of an earlier case is ever reused.
    const clientBasePort = ADDR.clientBasePort + 100 * this.casesRun++;
    const director = await this.driver.configure(topo, c);
    let revert: () => void = () => undefined;
    let captures: Capture[] = [];
    try {
      stage('director');
      revert = await applyRsFaults(topo, c.faults);
      stage('faults');
      nsBatch(
        lab,
        lab.allNamespaces.filter((ns) => ns.role !== 'wan' && ns.role !== 'lan').map((ns) => [ns, ['ip', 'neigh', 'flush', 'all']] as const),
      );
      if (c.persistence !== undefined) addClientAddresses(topo, c.persistence.clients);
      if (c.udp !== undefined && !this.udpServers) {
        await Promise.all(topo.rs.map((r) => startUdpServer(lab, r.ns, r.name, ADDR.udpRport)));
        this.udpServers = true;
      }
      const points = casePoints(topo);
      if (this.opts.directorPorts === true && this.driver.directorCapture === 'any' && twoArmed(topo.mode)) {
        points.push(...directorPoints(topo.director, topo.mode, 'per-port'));
      }
      // Batched with a large ring for every lab: in immediate mode tcpdump under the VM's
      // emulated CPU fell behind even the small packets of a lab without offloads and the kernel
      // dropped some at the director (fixed slots in libpcap's default ring).
      const capturing = await lab.captureEveryPoint(points, dir, { bufferKiB: CAPTURE_BUFFER_KIB, batched: true });
      captures = capturing.captures;
      stage('captures');
      await director.beforeClient?.({ base: clientBasePort, count: c.connections });
      const client = {
        host: topo.vip,
        port: ADDR.port,
        basePort: clientBasePort,
        count: c.connections,
        timeoutMs: this.opts.timeoutMs ?? 1500,
        gapMs: 100,
        ...(c.persistence !== undefined ? { sources: c.persistence.clients } : {}),
      };
      const connections =
        c.udp !== undefined
          ? await runUdpClient(lab, topo.client, { ...client, port: ADDR.udpPort, datagrams: c.udp.datagrams, gapMs: 20 })
          : await runHttpClient(lab, topo.client, client);
      stage('traffic');
      await lab.settleAndStopCaptures(300);
      // A capture that missed packets is not the capture of this run: fail rather than hand
      // verify (or a fixture) gaps the network never had.
      const missed = points.map((p, i) => [p.point, captures[i]!] as const).filter(([, x]) => (x.missed() ?? 0) > 0);
      if (missed.length > 0) throw new EnvironmentError(`tcpdump missed packets: ${missed.map(([p, x]) => `${p} ${x.missed()} (${x.counts()})`).join('; ')}`);
      const finished = await director.finish(dir, { clientBasePort, connections: c.connections });
      const { facts } = finished;
      const text = auditedServiceText(finished.serviceConfig, c.faults, { rs1: topo.addr.rip1, rs2: topo.addr.rip2 });
      const service = join(dir, 'service.conf');
      writeFileSync(service, text);
      const result: LabCaseRun = {
        id: c.id,
        captures: capturing.files,
        connections,
        service,
        serviceConfig: text,
        clientBasePort,
        facts,
        shape: topo.shape,
        offloadState: topo.offloadState,
        durationMs: Date.now() - started,
      };
      writeFileSync(join(dir, 'case.json'), JSON.stringify({ case: c, ...result }, null, 2) + '\n');
      return result;
    } finally {
      await Promise.all(captures.map((x) => x.stop().catch(() => undefined)));
      if (!lab.isDestroyed) {
        revert();
        await director.remove();
      }
    }
  }

  async close(): Promise<void> {
    await this.lab.destroy();
  }
}

/** Verify a lab's captures: client, director (one file on `any`, else each port), each real server by RIP. */
export async function verifyCaptures(captures: Record<string, string>, serviceText: string, profile: DirectorProfile, family: LabFamily = 4, rsFamily: LabFamily = family): Promise<VerifyResult> {
  const director = captures.director !== undefined ? [captures.director] : ['director-eth0', 'director-eth1'].map((p) => captures[p]).filter((f): f is string => f !== undefined);
  return verify({
    services: parseServiceConfig(serviceText, 'service.conf'),
    profile,
    points: [
      { kind: 'client', files: [captures.client!] },
      { kind: 'director', files: director },
      ...realServers(rsFamily).map((r) => ({ kind: 'rs' as const, files: [captures[r.name]!], rsIp: r.rip })),
    ],
  });
}

export interface LabCaseResult extends LabCaseRun {
  case: LabCase;
  kind: DirectorKind;
  prefix: string;
  verify: VerifyResult | null;
}

export interface RunLabCaseOptions extends SessionOptions {
  verify?: boolean;
}

/** The whole sequence for one case in a lab of its own; the lab is destroyed before this returns or throws. */
export async function runLabCase(driver: DirectorDriver, c: LabCase, outDir: string, o: RunLabCaseOptions = {}): Promise<LabCaseResult> {
  const session = await LabSession.open(driver, c.mode, o, c.family ?? 4, c.nat64 === true);
  try {
    const run = await session.run(c, outDir);
    const v = o.verify === true ? await verifyCaptures(run.captures, run.serviceConfig, c.profile, c.family ?? 4, planOfCase(c).rsFamily) : null;
    return { ...run, case: c, kind: driver.kind, prefix: session.lab.prefix, verify: v };
  } finally {
    await session.close();
  }
}

/**
 * The exit code of `lab run` (cli.md): 4 when a case could not run here, else with --verify
 * verify's (1 on an error finding, 0 without), else 0.
 */
export function labExitCode(results: ReadonlyArray<{ verify: VerifyResult | null; error?: string | null }>): number {
  if (results.some((r) => r.error !== undefined && r.error !== null)) return 4;
  return results.some((r) => r.verify !== null && hasError(r.verify.findings)) ? 1 : 0;
}

/** Error-severity rule ids of a verify result (sorted, unique). */
export function errorRules(r: VerifyResult): string[] {
  return [...new Set(r.findings.filter((f) => f.severity === 'error').map((f) => f.rule))].sort();
}
