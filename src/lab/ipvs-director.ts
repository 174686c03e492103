/**
 * Real IPVS in the director's seat: the same client / router / real-server namespaces as the
 * reference lab (H8's toolkit, same addresses and MACs), but the director namespace is
 * configured with `ipvsadm -R` from a ServiceSet, so the kernel's own ip_vs forwards the
 * traffic. Runs where the kernel has IPVS — in practice inside the lab VM (src/lab/vm/).
 *
 * NAT (-m): two legs, client LAN and RS LAN; the RS default route is the DIP.
 * DR (-g) and TUN (-i): one LAN (bridge) shared by router, director and real servers, client
 *   behind the router; RS with VIP/32 on lo (DR) or tunl0 (TUN), arp_ignore=1, arp_announce=2,
 *   rp_filter=0, replies straight to the router.
 * Faults: rs1 with arp_ignore=0 or arp_announce=0 (DR/TUN), or rs1's default route via another
 *   gateway (NAT), as in the reference lab.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ADDR, MAC } from './scenarios.js';
import { runHttpClient, startHttpServer, type ConnectionResult } from './services.js';
import { Lab, type Capture, type LabOptions, type Namespace } from './topology.js';
import { parseServiceConfig, toIpvsadmSave, type ServiceSet } from '../verify/service/index.js';

export type IpvsMode = 'nat' | 'dr' | 'tun';
export type IpvsFault = 'arp-ignore0' | 'arp-announce0' | 'nat-reply-bypass';

export const IPVS_MODES: readonly IpvsMode[] = ['nat', 'dr', 'tun'];
export const IPVS_FAULTS: readonly IpvsFault[] = ['arp-ignore0', 'arp-announce0', 'nat-reply-bypass'];

/** Which modes each fault applies to (ARP faults need real servers that own the VIP). */
export const FAULT_MODES: Record<IpvsFault, readonly IpvsMode[]> = {
  'arp-ignore0': ['dr', 'tun'],
  'arp-announce0': ['dr', 'tun'],
  'nat-reply-bypass': ['nat'],
};

/** One lab run through IPVS: a service (mode, scheduler, weights) and at most one RS fault. */
export interface IpvsCase {
  /** Directory name and label, e.g. `nat-rr`, `dr-rr-arp-ignore0`. */
  id: string;
  mode: IpvsMode;
  scheduler: string;
  /** Weights of rs1 and rs2. */
  weights: [number, number];
  fault: IpvsFault | null;
  /** Sequential client connections. */
  connections: number;
}

/** A case with the lab's defaults: wrr weights 3:1 and 8 connections (two full rounds), else 1:1 and 4. */
export function ipvsCase(mode: IpvsMode, scheduler = 'rr', fault: IpvsFault | null = null, connections?: number): IpvsCase {
  if (fault !== null && !FAULT_MODES[fault].includes(mode)) {
    throw new Error(`fault ${fault} applies to ${FAULT_MODES[fault].join('/')} only, not ${mode}`);
  }
  const weighted = scheduler === 'wrr' || scheduler === 'wlc' || scheduler === 'sed';
  return {
    id: [mode, scheduler, ...(fault ? [fault] : [])].join('-'),
    mode,
    scheduler,
    weights: weighted ? [3, 1] : [1, 1],
    fault,
    connections: connections ?? (weighted ? 8 : 4),
  };
}

export function vipFor(mode: IpvsMode): string {
  return mode === 'nat' ? ADDR.natVip : ADDR.drVip;
}

/** The service as ipvsadm-save -n rules (the text a user would keep in their config repo). */
export function serviceRulesFor(c: IpvsCase): string {
  const vip = `${vipFor(c.mode)}:${ADDR.port}`;
  const sw = c.mode === 'nat' ? '-m' : c.mode === 'dr' ? '-g' : '-i';
  return [
    `-A -t ${vip} -s ${c.scheduler}`,
    `-a -t ${vip} -r ${ADDR.rip1}:${ADDR.port} ${sw} -w ${c.weights[0]}`,
    `-a -t ${vip} -r ${ADDR.rip2}:${ADDR.port} ${sw} -w ${c.weights[1]}`,
    '',
  ].join('\n');
}

/** The service definition of a case, through the project's own parser. */
export function serviceSetFor(c: IpvsCase): ServiceSet {
  return parseServiceConfig(serviceRulesFor(c), `${c.id}/service.rules`);
}

export interface ExpectedOutcome {
  verdict: 'pass' | 'fail';
  /** Error rules a correct checker must report (others may appear, e.g. consequences of a race). */
  rules: readonly string[];
  notes: string;
}

/** What verify (profile linux) must conclude for a case run through real IPVS. */
export function expectedFor(c: IpvsCase): ExpectedOutcome {
  switch (c.fault) {
    case null:
      return { verdict: 'pass', rules: [], notes: 'conformant: every connection answered, no error finding' };
    case 'arp-ignore0':
      return {
        verdict: 'fail',
        rules: ['arp.vip-answered-by-rs'],
        notes: 'rs1 answers who-has VIP from the router; whether the router then sends VIP traffic to rs1 is a race',
      };
    case 'arp-announce0':
      return {
        verdict: 'fail',
        rules: ['arp.vip-announced-by-rs', 'arp.client-poisoned', 'flow.bypassed-director'],
        notes: 'rs1 asks for the router with sender IP = VIP; the router (locktime 0) maps the VIP to rs1 and bypasses the director',
      };
    case 'nat-reply-bypass':
      return {
        verdict: 'fail',
        rules: ['nat.reply-bypass', 'nat.rip-leak'],
        notes: 'rs1 replies via another gateway: the client sees SYN-ACKs from RIP1 and resets them',
      };
  }
}

export interface IpvsTopology {
  client: Namespace;
  director: Namespace;
  vip: string;
  rs: Array<{ ns: Namespace; name: 'rs1' | 'rs2' }>;
  /** Capture points: file stem, namespace, interface. */
  points: Array<{ point: string; ns: Namespace; iface: string; sll2?: boolean }>;
}

function buildNat(lab: Lab, c: IpvsCase): IpvsTopology {
  const client = lab.addNamespace('client');
  const director = lab.addNamespace('director');
  const rs1 = lab.addNamespace('rs1');
  const rs2 = lab.addNamespace('rs2');
  const wan = lab.addBridge('wan');
  const lan = lab.addBridge('lan');
  lab.link(client, wan, { a: { addr: `${ADDR.client}/24`, mac: MAC.client } });
  lab.link(director, wan, { a: { addr: [`${ADDR.clientGw}/24`, `${ADDR.natVip}/24`], mac: MAC.directorWan } });
  lab.link(director, lan, { a: { addr: `${ADDR.dip}/24`, mac: MAC.directorLan } });
  lab.link(rs1, lan, { a: { addr: `${ADDR.rip1}/24`, mac: MAC.rs1 } });
  lab.link(rs2, lan, { a: { addr: `${ADDR.rip2}/24`, mac: MAC.rs2 } });
  lab.addRoute(client, 'default', ADDR.clientGw);
  // NAT replies are routed through the director (FORWARD hook), so it must forward.
  lab.sysctl(director, 'net.ipv4.ip_forward', 1);
  lab.addRoute(rs2, 'default', ADDR.dip);
  if (c.fault === 'nat-reply-bypass') {
    const gw = lab.addNamespace('gw');
    lab.link(gw, wan, { a: { addr: `${ADDR.bypassGwWan}/24`, mac: MAC.gwWan } });
    lab.link(gw, lan, { a: { addr: `${ADDR.bypassGwLan}/24`, mac: MAC.gwLan } });
    lab.sysctl(gw, 'net.ipv4.ip_forward', 1);
    lab.addRoute(rs1, 'default', ADDR.bypassGwLan);
  } else {
    lab.addRoute(rs1, 'default', ADDR.dip);
  }
  return {
    client,
    director,
    vip: ADDR.natVip,
    rs: [
      { ns: rs1, name: 'rs1' },
      { ns: rs2, name: 'rs2' },
    ],
    points: [
      { point: 'client', ns: client, iface: 'eth0' },
      { point: 'director', ns: director, iface: 'any', sll2: true },
      { point: 'rs1', ns: rs1, iface: 'eth0' },
      { point: 'rs2', ns: rs2, iface: 'eth0' },
    ],
  };
}

function buildSharedLan(lab: Lab, c: IpvsCase): IpvsTopology {
  const client = lab.addNamespace('client');
  const router = lab.addNamespace('router');
  const director = lab.addNamespace('director');
  const rs1 = lab.addNamespace('rs1');
  const rs2 = lab.addNamespace('rs2');
  const lan = lab.addBridge('lan');
  lab.link(client, router, {
    a: { addr: `${ADDR.client}/24`, mac: MAC.client },
    b: { addr: `${ADDR.clientGw}/24`, mac: MAC.routerWan },
  });
  lab.link(router, lan, { a: { addr: `${ADDR.routerLan}/24`, mac: MAC.routerLan } });
  lab.link(director, lan, { a: { addr: [`${ADDR.dip}/24`, `${ADDR.drVip}/32`], mac: MAC.directorWan } });
  lab.link(rs1, lan, { a: { addr: `${ADDR.rip1}/24`, mac: MAC.rs1 } });
  lab.link(rs2, lan, { a: { addr: `${ADDR.rip2}/24`, mac: MAC.rs2 } });
  lab.addRoute(client, 'default', ADDR.clientGw);
  lab.sysctl(router, 'net.ipv4.ip_forward', 1);
  // Like the kernel selftest: the director never routes client traffic itself in DR/TUN.
  lab.sysctl(director, 'net.ipv4.conf.all.send_redirects', 0);
  if (c.fault === 'arp-announce0') {
    // Accept a changed MAC at once (many non-Linux routers do; Linux waits locktime = 1 s).
    lab.sysctl(router, 'net.ipv4.neigh.eth1.locktime', 0);
  }
  const realServers = [
    { ns: rs1, name: 'rs1' as const },
    { ns: rs2, name: 'rs2' as const },
  ];
  for (const { ns, name } of realServers) {
    const faulty = name === 'rs1';
    const arpIgnore = faulty && c.fault === 'arp-ignore0' ? 0 : 1;
    const arpAnnounce = faulty && c.fault === 'arp-announce0' ? 0 : 2;
    const vipDev = c.mode === 'tun' ? tunnelDevice(lab, ns) : 'lo';
    const scopes = c.mode === 'tun' ? ['all', 'eth0', vipDev] : ['all', 'eth0'];
    for (const scope of scopes) {
      lab.sysctl(ns, `net.ipv4.conf.${scope}.arp_ignore`, arpIgnore);
      lab.sysctl(ns, `net.ipv4.conf.${scope}.arp_announce`, arpAnnounce);
      lab.sysctl(ns, `net.ipv4.conf.${scope}.rp_filter`, 0);
    }
    lab.addAddress(ns, vipDev, `${ADDR.drVip}/32`);
    lab.addRoute(ns, 'default', ADDR.routerLan);
  }
  return {
    client,
    director,
    vip: ADDR.drVip,
    rs: realServers,
    points: [
      { point: 'client', ns: client, iface: 'eth0' },
      { point: 'router', ns: router, iface: 'eth1' },
      { point: 'director', ns: director, iface: 'eth0' },
      { point: 'rs1', ns: rs1, iface: 'eth0' },
      { point: 'rs2', ns: rs2, iface: 'eth0' },
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
 * Bring up idle fallback IPIP devices (`tunl0`) where a kernel made them: they are harmless up,
 * but a DOWN link keeps Lab.waitReady waiting.
 */
function raiseFallbackTunnels(lab: Lab): void {
  for (const ns of lab.allNamespaces) {
    const links = JSON.parse(lab.ip(ns, ['-j', 'link', 'show'])) as Array<{ ifname: string; operstate?: string }>;
    for (const l of links) if (l.ifname === 'tunl0' && l.operstate === 'DOWN') lab.ip(ns, ['link', 'set', 'tunl0', 'up']);
  }
}

/** True when new namespaces get a fallback tunl0 (ipip loaded and not restricted to init_net). */
function fallbackTunnelsPerNamespace(): boolean {
  if (!existsSync('/sys/module/ipip')) return false;
  try {
    return readFileSync('/proc/sys/net/core/fb_tunnels_only_for_init_net', 'utf8').trim() === '0';
  } catch {
    return true;
  }
}

/** Build the namespaces of a case (no IPVS yet). */
export function buildIpvsTopology(lab: Lab, c: IpvsCase): IpvsTopology {
  const topo = c.mode === 'nat' ? buildNat(lab, c) : buildSharedLan(lab, c);
  if (fallbackTunnelsPerNamespace()) raiseFallbackTunnels(lab);
  return topo;
}

/**
 * Configure IPVS in `ns` from a service set: clear the table, then `ipvsadm -R` with the
 * mainline ipvsadm-save text of the set. Returns the text that was loaded.
 */
export function configureIpvs(lab: Lab, ns: Namespace, set: ServiceSet): string {
  const rules = toIpvsadmSave(set, { mainline: true });
  lab.exec(ns, ['ipvsadm', '-C']);
  lab.exec(ns, ['ipvsadm', '-R'], { input: rules });
  return rules;
}

export interface IpvsCaseRun {
  id: string;
  /** Capture files by point (paths in the runner's file system). */
  captures: Record<string, string>;
  connections: ConnectionResult[];
  /** `ipvsadm -Sn` of the configured director (what the kernel accepted). */
  ipvsadmSave: string;
  /** `ipvsadm -Ln --stats` after the traffic. */
  ipvsadmStats: string;
  /** `ipvsadm -Ln` after the traffic (per-destination connection counters). */
  ipvsadmList: string;
  durationMs: number;
}

export interface RunCaseOptions {
  lab?: LabOptions;
  /** Per-connection client timeout (default 2000 ms). */
  timeoutMs?: number;
}

/**
 * Run one case on this kernel (which must have ip_vs): topology, IPVS, HTTP servers, captures
 * at every point, client connections; writes `<point>.pcap`, service.conf (the kernel's own
 * ipvsadm -Sn), ipvsadm-stats.txt and case.json into `outDir`. The lab is always destroyed.
 */
export async function runIpvsCase(c: IpvsCase, outDir: string, opts: RunCaseOptions = {}): Promise<IpvsCaseRun> {
  const started = Date.now();
  const dir = resolve(outDir);
  mkdirSync(dir, { recursive: true });
  const lab = new Lab(opts.lab);
  const captures: Capture[] = [];
  try {
    const topo = buildIpvsTopology(lab, c);
    configureIpvs(lab, topo.director, serviceSetFor(c));
    const ipvsadmSave = lab.exec(topo.director, ['ipvsadm', '-S', '-n']);
    await lab.waitReady(10_000);
    for (const { ns, name } of topo.rs) await startHttpServer(lab, ns, name, ADDR.port);
    const files: Record<string, string> = {};
    for (const p of topo.points) {
      const file = join(dir, `${p.point}.pcap`);
      captures.push(await lab.startCapture(p.ns, p.iface, file, { sll2: p.sll2 === true }));
      files[p.point] = file;
    }
    const connections = await runHttpClient(lab, topo.client, {
      host: topo.vip,
      port: ADDR.port,
      basePort: ADDR.clientBasePort,
      count: c.connections,
      timeoutMs: opts.timeoutMs ?? 2000,
      gapMs: 100,
    });
    // Let the last FIN/ACKs (and any RST) reach every capture.
    await new Promise((r) => setTimeout(r, 300));
    await lab.stopCaptures();
    const ipvsadmStats = lab.exec(topo.director, ['ipvsadm', '-L', '-n', '--stats']);
    const ipvsadmList = lab.exec(topo.director, ['ipvsadm', '-L', '-n']);
    writeFileSync(join(dir, 'service.conf'), ipvsadmSave);
    writeFileSync(join(dir, 'ipvsadm-stats.txt'), ipvsadmStats);
    writeFileSync(join(dir, 'ipvsadm-list.txt'), ipvsadmList);
    const run: IpvsCaseRun = {
      id: c.id,
      captures: files,
      connections,
      ipvsadmSave,
      ipvsadmStats,
      ipvsadmList,
      durationMs: Date.now() - started,
    };
    writeFileSync(join(dir, 'case.json'), JSON.stringify({ case: c, ...run }, null, 2) + '\n');
    return run;
  } finally {
    await lab.destroy();
  }
}
