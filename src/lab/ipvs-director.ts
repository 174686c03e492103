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
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ADDR, MAC, buildDrLan } from './scenarios.js';
import { runHttpClient, startHttpServer, type ConnectionResult } from './services.js';
import { Lab, type Bridge, type Capture, type CapturePoint, type LabOptions, type Namespace } from './topology.js';
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
  mode: IpvsMode;
  client: Namespace;
  director: Namespace;
  /** DR/TUN: the client's router on the shared LAN; NAT: null. */
  router: Namespace | null;
  /** NAT: the two segments (a bypass gateway joins both); DR/TUN: only `lan`. */
  wan: Bridge | null;
  lan: Bridge;
  vip: string;
  rs: Array<{ ns: Namespace; name: 'rs1' | 'rs2' }>;
  /** DR/TUN: device holding the VIP on the real servers (lo, tunl0 or ipip0). */
  vipDev: string;
  points: CapturePoint[];
}

function shQuote(a: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
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

function buildNat(lab: Lab): IpvsTopology {
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
  lab.addRoute(rs1, 'default', ADDR.dip);
  lab.addRoute(rs2, 'default', ADDR.dip);
  return {
    mode: 'nat',
    client,
    director,
    router: null,
    wan,
    lan,
    vip: ADDR.natVip,
    rs: [
      { ns: rs1, name: 'rs1' },
      { ns: rs2, name: 'rs2' },
    ],
    vipDev: '',
    points: [
      { point: 'client', ns: client, iface: 'eth0' },
      { point: 'director', ns: director, iface: 'any', sll2: true },
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

function arpScopes(topo: IpvsTopology): string[] {
  return topo.mode === 'tun' ? ['all', 'eth0', topo.vipDev] : ['all', 'eth0'];
}

function setRsArp(lab: Lab, topo: IpvsTopology, ns: Namespace, arpIgnore: number, arpAnnounce: number): void {
  nsBatch(lab, [[ns, ['sysctl', '-q', '-w', ...rsArpSettings(arpScopes(topo), arpIgnore, arpAnnounce)]]]);
}

function buildSharedLan(lab: Lab, mode: 'dr' | 'tun'): IpvsTopology {
  const { client, router, director, rs1, rs2, lan } = buildDrLan(lab);
  // Like the kernel selftest: the director never routes client traffic itself in DR/TUN.
  lab.sysctl(director, 'net.ipv4.conf.all.send_redirects', 0);
  const realServers = [
    { ns: rs1, name: 'rs1' as const },
    { ns: rs2, name: 'rs2' as const },
  ];
  const topo: IpvsTopology = {
    mode,
    client,
    director,
    router,
    wan: null,
    lan,
    vip: ADDR.drVip,
    rs: realServers,
    vipDev: 'lo',
    points: [
      { point: 'client', ns: client, iface: 'eth0' },
      { point: 'router', ns: router, iface: 'eth1' },
      { point: 'director', ns: director, iface: 'eth0' },
      { point: 'rs1', ns: rs1, iface: 'eth0' },
      { point: 'rs2', ns: rs2, iface: 'eth0' },
    ],
  };
  const cmds: Array<[Namespace, string[]]> = [];
  for (const { ns } of realServers) {
    cmds.push([ns, ['sysctl', '-q', '-w', ...rsArpSettings(['all', 'eth0'], 1, 2), 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.eth0.rp_filter=0']]);
    // DR: the VIP on lo. TUN: on the decapsulating device, added after waitReady (see addTunnels).
    if (mode === 'dr') cmds.push([ns, ['ip', 'addr', 'add', `${ADDR.drVip}/32`, 'dev', 'lo']]);
    cmds.push([ns, ['ip', 'route', 'add', 'default', 'via', ADDR.routerLan]]);
  }
  nsBatch(lab, cmds);
  return topo;
}

function rsArpSettings(scopes: readonly string[], arpIgnore: number, arpAnnounce: number): string[] {
  return scopes.flatMap((scope) => [`net.ipv4.conf.${scope}.arp_ignore=${arpIgnore}`, `net.ipv4.conf.${scope}.arp_announce=${arpAnnounce}`]);
}

/**
 * TUN real servers: the decapsulating device with the VIP, rp_filter off on it. Done after
 * Lab.waitReady, which waits for operstate UP and a tunnel device only ever reports UNKNOWN.
 */
function addTunnels(lab: Lab, topo: IpvsTopology): void {
  for (const { ns } of topo.rs) {
    const dev = tunnelDevice(lab, ns);
    topo.vipDev = dev;
    nsBatch(lab, [
      [ns, ['sysctl', '-q', '-w', ...rsArpSettings([dev], 1, 2), `net.ipv4.conf.${dev}.rp_filter=0`]],
      [ns, ['ip', 'addr', 'add', `${ADDR.drVip}/32`, 'dev', dev]],
    ]);
  }
}

/** Build the conformant namespaces of a mode (no IPVS service yet; faults are applied per case). */
export function buildIpvsTopology(lab: Lab, mode: IpvsMode): IpvsTopology {
  return mode === 'nat' ? buildNat(lab) : buildSharedLan(lab, mode);
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
  /** `ipvsadm -Ln` after the traffic. */
  ipvsadmList: string;
  /** `ipvsadm -Lnc`: the kernel's connection table (client port -> real server), all cases so far. */
  ipvsadmConns: string;
  /** Local port of the client's first connection. */
  clientBasePort: number;
  durationMs: number;
}

export interface SessionOptions {
  lab?: LabOptions;
  /** Per-connection client timeout (default 2000 ms). */
  timeoutMs?: number;
}

/**
 * One topology for one mode, reused by several cases (building namespaces and starting the HTTP
 * servers is the slow part under an emulated CPU). Each case gets a fresh IPVS service, flushed
 * neighbour caches (so the ARP a fault causes happens inside its captures), its own client
 * ports, its own captures, and its fault applied before and reverted after.
 */
export class IpvsSession {
  private casesRun = 0;
  private gw: Namespace | null = null;

  private constructor(
    readonly lab: Lab,
    readonly topo: IpvsTopology,
    private readonly opts: SessionOptions,
  ) {}

  /** Build the mode's topology and start the real servers. Destroys the lab if that fails. */
  static async open(mode: IpvsMode, opts: SessionOptions = {}): Promise<IpvsSession> {
    const lab = new Lab(opts.lab);
    try {
      const topo = buildIpvsTopology(lab, mode);
      await lab.waitReady(15_000);
      if (mode === 'tun') addTunnels(lab, topo);
      await Promise.all(topo.rs.map(({ ns, name }) => startHttpServer(lab, ns, name, ADDR.port)));
      return new IpvsSession(lab, topo, opts);
    } catch (e) {
      await lab.destroy();
      throw e;
    }
  }

  /** Apply `fault`; returns the function that reverts it. */
  private async applyFault(fault: IpvsFault | null): Promise<() => void> {
    const { lab, topo } = this;
    const rs1 = topo.rs[0]!.ns;
    switch (fault) {
      case null:
        return () => undefined;
      case 'arp-ignore0':
        setRsArp(lab, topo, rs1, 0, 2);
        return () => setRsArp(lab, topo, rs1, 1, 2);
      case 'arp-announce0': {
        const router = topo.router!;
        const key = 'net.ipv4.neigh.eth1.locktime';
        const old = lab.readSysctl(router, key);
        setRsArp(lab, topo, rs1, 1, 0);
        // Accept a changed MAC at once (many non-Linux routers do; Linux waits locktime = 1 s).
        lab.sysctl(router, key, 0);
        return () => {
          setRsArp(lab, topo, rs1, 1, 2);
          lab.sysctl(router, key, old);
        };
      }
      case 'nat-reply-bypass': {
        if (this.gw === null) {
          const gw = lab.addNamespace('gw');
          lab.link(gw, topo.wan!, { a: { addr: `${ADDR.bypassGwWan}/24`, mac: MAC.gwWan } });
          lab.link(gw, topo.lan, { a: { addr: `${ADDR.bypassGwLan}/24`, mac: MAC.gwLan } });
          lab.sysctl(gw, 'net.ipv4.ip_forward', 1);
          await lab.waitReady(15_000);
          this.gw = gw;
        }
        lab.ip(rs1, ['route', 'replace', 'default', 'via', ADDR.bypassGwLan]);
        return () => lab.ip(rs1, ['route', 'replace', 'default', 'via', ADDR.dip]);
      }
    }
  }

  /** Run one case of this session's mode; files go to `outDir`. */
  async run(c: IpvsCase, outDir: string): Promise<IpvsCaseRun> {
    if (c.mode !== this.topo.mode) throw new Error(`case ${c.id} is ${c.mode}, session is ${this.topo.mode}`);
    const started = Date.now();
    const { lab, topo } = this;
    const dir = resolve(outDir);
    mkdirSync(dir, { recursive: true });
    // New local ports per case: no IPVS or TCP state of an earlier case is ever reused.
    const clientBasePort = ADDR.clientBasePort + 100 * this.casesRun++;
    const revert = await this.applyFault(c.fault);
    let captures: Capture[] = [];
    try {
      configureIpvs(lab, topo.director, serviceSetFor(c));
      const ipvsadmSave = lab.exec(topo.director, ['ipvsadm', '-S', '-n']);
      nsBatch(
        lab,
        lab.allNamespaces.filter((ns) => ns.role !== 'wan' && ns.role !== 'lan').map((ns) => [ns, ['ip', 'neigh', 'flush', 'all']] as const),
      );
      const capturing = await lab.captureEveryPoint(topo.points, dir);
      const files = capturing.files;
      captures = capturing.captures;
      const connections = await runHttpClient(lab, topo.client, {
        host: topo.vip,
        port: ADDR.port,
        basePort: clientBasePort,
        count: c.connections,
        timeoutMs: this.opts.timeoutMs ?? 2000,
        gapMs: 100,
      });
      await lab.settleAndStopCaptures(300);
      const ipvsadmConns = lab.exec(topo.director, ['ipvsadm', '-L', '-n', '-c']);
      const scheduled = Object.keys(kernelConnections(ipvsadmConns, ADDR.client, clientBasePort, c.connections)).length;
      const ipvsadmStats = await settledStats(lab, topo.director, scheduled);
      const ipvsadmList = lab.exec(topo.director, ['ipvsadm', '-L', '-n']);
      writeFileSync(join(dir, 'ipvsadm-conns.txt'), ipvsadmConns);
      writeFileSync(join(dir, 'service.conf'), ipvsadmSave);
      writeFileSync(join(dir, 'ipvsadm-stats.txt'), ipvsadmStats);
      writeFileSync(join(dir, 'ipvsadm-list.txt'), ipvsadmList);
      const result: IpvsCaseRun = {
        id: c.id,
        captures: files,
        connections,
        ipvsadmSave,
        ipvsadmStats,
        ipvsadmList,
        ipvsadmConns,
        clientBasePort,
        durationMs: Date.now() - started,
      };
      writeFileSync(join(dir, 'case.json'), JSON.stringify({ case: c, ...result }, null, 2) + '\n');
      return result;
    } finally {
      await Promise.all(captures.map((x) => x.stop().catch(() => undefined)));
      revert();
    }
  }

  async close(): Promise<void> {
    await this.lab.destroy();
  }
}

/**
 * The kernel's scheduling decisions from `ipvsadm -Lnc`: client port -> `RIP:port`, for the
 * client ports [basePort, basePort+count) of `client`. Entries look like
 * `TCP 01:57  TIME_WAIT   172.16.0.2:40100   172.16.0.100:80    10.0.0.11:80`.
 */
export function kernelConnections(text: string, client: string, basePort: number, count: number): Record<number, string> {
  const out: Record<number, string> = {};
  for (const line of text.split('\n')) {
    const m = /^(TCP|UDP)\s+\S+\s+\S+\s+([\d.]+):(\d+)\s+\S+\s+(\S+)/.exec(line.trim());
    if (!m || m[2] !== client) continue;
    const port = Number(m[3]);
    if (port >= basePort && port < basePort + count) out[port] = m[4]!;
  }
  return out;
}

/**
 * `ipvsadm -Ln --stats`, read once the counters have caught up: kernels with the estimator
 * kthread (6.x) fold the per-CPU counters into what ipvsadm reads only every 2 s.
 */
async function settledStats(lab: Lab, director: Namespace, expectedConns: number): Promise<string> {
  let text = '';
  for (let i = 0; i < 8; i++) {
    text = lab.exec(director, ['ipvsadm', '-L', '-n', '--stats']);
    const m = /^(TCP|UDP)\s+\S+\s+(\d+)/m.exec(text);
    if (m && Number(m[2]) >= expectedConns) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  return text;
}

/** Run one case in a topology of its own (the lab is always destroyed). */
export async function runIpvsCase(c: IpvsCase, outDir: string, opts: SessionOptions = {}): Promise<IpvsCaseRun> {
  const session = await IpvsSession.open(c.mode, opts);
  try {
    return await session.run(c, outDir);
  } finally {
    await session.close();
  }
}
