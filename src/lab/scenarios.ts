/**
 * Real-kernel LVS scenarios: a client, a director built from the kernel's own netfilter (this
 * kernel has no IPVS), and two real servers, all real Linux TCP stacks in network namespaces,
 * captured at every point. Used by `scripts/lab-fixtures.mjs` to write fixtures/lab and by the
 * lab tests.
 *
 * NAT director: nftables `dnat` + conntrack (round robin with `numgen inc`); the kernel's forwarding
 *   decrements TTL, so captures conform to profile `linux`.
 * DR director: nftables `netdev` ingress rewrites the Ethernet addresses and `fwd`s the frame back
 *   out of the same port (everyone on one L2 segment, client behind a router). No IP layer is
 *   touched, so TTL is unchanged: profile `linux-legacy`. The real server is picked by the parity
 *   of the client's source port; the lab client uses consecutive ports, which makes it round robin.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Lab, type Bridge, type CapturePoint, type LabOptions, type Namespace } from './topology.js';
import { runHttpClient, startHttpServer, type ConnectionResult } from './services.js';
import { EnvironmentError, InputError } from '../errors.js';

export type ScenarioName =
  | 'nat'
  | 'dr'
  | 'dr-routed'
  | 'arp-correct'
  | 'arp-ignore0'
  | 'arp-announce0'
  | 'nat-reply-bypass'
  | 'dr-reply-from-rip'
  | 'dr-vip-not-bound';

export interface ScenarioInfo {
  name: ScenarioName;
  mode: 'nat' | 'dr';
  /** Profile the captures conform to (for `verify --profile`). */
  profile: 'linux' | 'linux-legacy';
  title: string;
  /** What is wrong (or that nothing is) and how the lab makes it happen. */
  setup: string;
  expected: {
    verdict: 'pass' | 'fail';
    /** Rule ids of rules.md a correct checker reports at least (errors/warnings). */
    rules: readonly string[];
    /** Further rules when the run shows VIP traffic bypassing the director (racy scenarios). */
    whenBypassed?: readonly string[];
    notes: string;
  };
}

/** Addresses used by every scenario (documentation/private ranges, only inside the lab). */
export const ADDR = {
  client: '172.16.0.2',
  /** NAT: director's client-side address; DR: the router's client-side address. */
  clientGw: '172.16.0.1',
  natVip: '172.16.0.100',
  /** NAT fault: a second router between the RS LAN and the client LAN. */
  bypassGwWan: '172.16.0.254',
  bypassGwLan: '10.0.0.254',
  dip: '10.0.0.1',
  drVip: '10.0.0.100',
  routerLan: '10.0.0.254',
  rip1: '10.0.0.11',
  rip2: '10.0.0.12',
  port: 80,
  clientBasePort: 40000,
} as const;

/** Fixed MACs per role so fixtures read the same every time: 02:1e:5a:00:<role>:<if>. */
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

const DR_RULES_NOTE = 'DR director is an nftables netdev fwd: TTL unchanged, so use --profile linux-legacy.';

export const SCENARIOS: readonly ScenarioInfo[] = [
  {
    name: 'nat',
    mode: 'nat',
    profile: 'linux',
    title: 'NAT, conformant',
    setup:
      'Director: nftables dnat VIP:80 -> numgen inc mod 2 {RIP1, RIP2} with conntrack (replies un-NATed by conntrack), ip_forward=1. Real servers: default route via the DIP.',
    expected: {
      verdict: 'pass',
      rules: [],
      notes: 'Every connection succeeds; the client only ever sees the VIP; TTL -1 across the director (kernel forwarding).',
    },
  },
  {
    name: 'dr',
    mode: 'dr',
    profile: 'linux-legacy',
    title: 'DR, conformant',
    setup:
      'One L2 segment (bridge) shared by router, director and both real servers; client behind the router. Director: VIP on eth0, nftables netdev ingress rewrites ether saddr/daddr and fwd to eth0. Real servers: VIP/32 on lo, arp_ignore=1, arp_announce=2, rp_filter=0, default route via the router.',
    expected: {
      verdict: 'pass',
      rules: [],
      notes: `Every connection succeeds; replies go RS -> router directly with source VIP. ${DR_RULES_NOTE}`,
    },
  },
  {
    name: 'dr-routed',
    mode: 'dr',
    profile: 'linux',
    title: 'DR through the director\'s IP forwarding (TTL decremented), conformant',
    setup:
      'As dr, but the director forwards with the kernel\'s IP routing instead of an L2 rewrite: nftables (prerouting, raw priority, notrack) marks VIP:80 packets by client source-port parity, policy routing sends mark 1/2 to tables whose default route is RIP1/RIP2 on the same LAN (the local-table rule moved after them), ip_forward=1, send_redirects=0. Exactly what mainline IPVS DR does on the wire since the TTL decrement: dst MAC = RS, src MAC = director, TTL -1, IP checksum recomputed, nothing else changed.',
    expected: {
      verdict: 'pass',
      rules: [],
      notes: 'Every connection succeeds; TTL is one lower at the real server than at the director ingress (profile linux).',
    },
  },
  {
    name: 'arp-correct',
    mode: 'dr',
    profile: 'linux-legacy',
    title: 'DR ARP hygiene, correct sysctls',
    setup:
      'Same as dr (arp_ignore=1, arp_announce=2 on both real servers). The router resolves the VIP (only the director answers) and each real server resolves the router with its RIP as sender IP.',
    expected: {
      verdict: 'pass',
      rules: [],
      notes: 'No ARP packet from a real-server MAC carries the VIP as sender IP. Only the director claims the VIP.',
    },
  },
  {
    name: 'arp-ignore0',
    mode: 'dr',
    profile: 'linux-legacy',
    title: 'DR, rs1 with arp_ignore=0 answers who-has VIP',
    setup: 'As dr, but rs1 has arp_ignore=0 (all and eth0): its VIP on lo is answered on eth0.',
    expected: {
      verdict: 'fail',
      rules: ['arp.vip-answered-by-rs'],
      whenBypassed: ['arp.client-poisoned', 'flow.bypassed-director'],
      notes:
        'The router\'s who-has VIP gets two replies (director and rs1). Which one the router keeps is a race; when rs1 wins, later VIP traffic also bypasses the director (arp.client-poisoned, flow.bypassed-director).',
    },
  },
  {
    name: 'arp-announce0',
    mode: 'dr',
    profile: 'linux-legacy',
    title: 'DR, rs1 with arp_announce=0 poisons the router',
    setup:
      'As dr, but rs1 has arp_announce=0 (arp_ignore=1). Its first reply (source VIP) needs the router\'s MAC, so rs1 sends who-has ROUTER tell VIP. The router has neigh locktime=0 (accepts the update at once, like many non-Linux routers; with the Linux default of 1 s it happens on a later re-resolution) and now maps VIP -> rs1 MAC.',
    expected: {
      verdict: 'fail',
      rules: ['arp.vip-announced-by-rs', 'arp.client-poisoned', 'flow.bypassed-director'],
      notes:
        'After the poisoning ARP, the router sends VIP traffic straight to rs1: the director capture no longer sees those SYNs and rs1 receives them with the router as Ethernet source; every connection lands on rs1.',
    },
  },
  {
    name: 'nat-reply-bypass',
    mode: 'nat',
    profile: 'linux',
    title: 'NAT, rs1 default route not via the director',
    setup:
      'As nat, plus a second router (gw) joining the RS LAN (10.0.0.254) and the client LAN (172.16.0.254); rs1\'s default route points at gw instead of the DIP, so its replies (source RIP) reach the client without being un-NATed.',
    expected: {
      verdict: 'fail',
      rules: ['nat.reply-bypass', 'nat.rip-leak'],
      notes:
        'Connections scheduled to rs1 fail: the client receives SYN-ACKs from RIP1:80, answers with RST and retransmits its SYN until it times out. Connections to rs2 succeed.',
    },
  },
  {
    name: 'dr-reply-from-rip',
    mode: 'dr',
    profile: 'linux-legacy',
    title: 'DR, rs1 replies from its RIP',
    setup:
      'As dr, but rs1 has no VIP on lo; instead a stateless nftables rule (prerouting, raw priority, notrack) rewrites ip daddr VIP -> RIP1 so the service accepts the traffic. With no reverse rule the kernel answers from RIP1:80 (a half-done "accept the VIP without binding it" setup).',
    expected: {
      verdict: 'fail',
      rules: ['dr.reply-src'],
      notes:
        'Connections to rs1 fail: the client gets SYN-ACKs from RIP1 (via the router) and resets them. Connections to rs2 succeed.',
    },
  },
  {
    name: 'dr-vip-not-bound',
    mode: 'dr',
    profile: 'linux-legacy',
    title: 'DR, rs1 without the VIP',
    setup:
      'As dr, but rs1 has no VIP configured at all. Linux (ip_forward=0) silently drops a packet for an address it does not own: no RST, no ICMP.',
    expected: {
      verdict: 'fail',
      rules: ['flow.syn-retransmit', 'dr.vip-not-bound'],
      notes:
        'Connections to rs1 time out: the forwarded SYNs arrive at rs1 (dst VIP, dst MAC rs1) and vanish, the client retransmits. Real Linux sends neither RST nor ICMP for an address it does not own, so dr.vip-not-bound is reported from the silence: forwarded SYNs (retransmissions included) reached rs1 and rs1 sent nothing for the connection.',
    },
  },
];

export function scenarioInfo(name: string): ScenarioInfo {
  const info = SCENARIOS.find((s) => s.name === name);
  if (!info) throw new Error(`unknown lab scenario ${name} (known: ${SCENARIOS.map((s) => s.name).join(', ')})`);
  return info;
}

export interface ScenarioOptions {
  /** Client connections (default 4). */
  connections?: number;
  /** Per-connection timeout (default 1500 ms). */
  timeoutMs?: number;
  lab?: LabOptions;
  /** Called after each stage; throwing here aborts the scenario (its lab is still destroyed). */
  onStage?: (stage: 'topology' | 'services' | 'captures' | 'traffic', lab: Lab) => void;
}

export interface ScenarioResult {
  name: ScenarioName;
  info: ScenarioInfo;
  /** Capture files by capture point (client, router, director, director-eth0, …, rs1, rs2). */
  captures: Record<string, string>;
  /** Path of service.conf (ipvsadm-save -n style). */
  service: string;
  /** Text of service.conf. */
  serviceConfig: string;
  /** What each client connection experienced. */
  connections: ConnectionResult[];
  durationMs: number;
}

/**
 * True when the run shows the director was bypassed: the client uses consecutive source ports
 * and the director alternates rs1/rs2 by port parity, so an odd port answered by rs1 (or an
 * even one by rs2) can only have reached that server without the director.
 */
export function directorBypassed(connections: readonly ConnectionResult[]): boolean {
  return connections.some((c) => c.ok && c.body !== (c.localPort % 2 === 0 ? 'rs1' : 'rs2'));
}

/** Rules a correct checker reports for this run of the scenario. */
export function expectedRules(r: Pick<ScenarioResult, 'info' | 'connections'>): string[] {
  const rules = [...r.info.expected.rules];
  if (r.info.expected.whenBypassed && directorBypassed(r.connections)) rules.push(...r.info.expected.whenBypassed);
  return rules;
}

/** The ipvsadm-save -n text of the service the lab director implements. */
export function serviceConfigFor(mode: 'nat' | 'dr'): string {
  const vip = mode === 'nat' ? ADDR.natVip : ADDR.drVip;
  const sw = mode === 'nat' ? '-m' : '-g';
  return [
    `-A -t ${vip}:${ADDR.port} -s rr`,
    `-a -t ${vip}:${ADDR.port} -r ${ADDR.rip1}:${ADDR.port} ${sw} -w 1`,
    `-a -t ${vip}:${ADDR.port} -r ${ADDR.rip2}:${ADDR.port} ${sw} -w 1`,
    '',
  ].join('\n');
}

interface Built {
  points: CapturePoint[];
  client: Namespace;
  vip: string;
  rs: Array<{ ns: Namespace; name: string }>;
}

function buildNat(lab: Lab, fault: 'none' | 'reply-bypass'): Built {
  const client = lab.addNamespace('client');
  const director = lab.addNamespace('director');
  const rs1 = lab.addNamespace('rs1');
  const rs2 = lab.addNamespace('rs2');
  const wan: Bridge = lab.addBridge('wan');
  const lan: Bridge = lab.addBridge('lan');
  lab.link(client, wan, { a: { addr: `${ADDR.client}/24`, mac: MAC.client } });
  lab.link(director, wan, {
    a: { addr: [`${ADDR.clientGw}/24`, `${ADDR.natVip}/24`], mac: MAC.directorWan },
  });
  lab.link(director, lan, { a: { addr: `${ADDR.dip}/24`, mac: MAC.directorLan } });
  lab.link(rs1, lan, { a: { addr: `${ADDR.rip1}/24`, mac: MAC.rs1 } });
  lab.link(rs2, lan, { a: { addr: `${ADDR.rip2}/24`, mac: MAC.rs2 } });
  lab.addRoute(client, 'default', ADDR.clientGw);
  lab.sysctl(director, 'net.ipv4.ip_forward', 1);
  lab.nft(
    director,
    `table ip lvsa_nat {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${ADDR.natVip} tcp dport ${ADDR.port} dnat to numgen inc mod 2 map { 0 : ${ADDR.rip1}, 1 : ${ADDR.rip2} }
  }
}
`,
  );
  lab.addRoute(rs2, 'default', ADDR.dip);
  if (fault === 'reply-bypass') {
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
    vip: ADDR.natVip,
    rs: [
      { ns: rs1, name: 'rs1' },
      { ns: rs2, name: 'rs2' },
    ],
    points: [
      { point: 'client', ns: client, iface: 'eth0' },
      { point: 'director', ns: director, iface: 'any', sll2: true },
      { point: 'director-eth0', ns: director, iface: 'eth0' },
      { point: 'director-eth1', ns: director, iface: 'eth1' },
      { point: 'rs1', ns: rs1, iface: 'eth0' },
      { point: 'rs2', ns: rs2, iface: 'eth0' },
    ],
  };
}

/**
 * The shared LAN of DR and TUN: client — router — bridge `lan`, on which the director (DIP and
 * the VIP) and the two real servers sit. The nftables DR scenarios and the IPVS VM lab build the
 * same plan; each then adds its own director and faults.
 */
export function buildDrLan(lab: Lab): { client: Namespace; router: Namespace; director: Namespace; rs1: Namespace; rs2: Namespace; lan: Bridge } {
  const client = lab.addNamespace('client');
  const router = lab.addNamespace('router');
  const director = lab.addNamespace('director');
  const rs1 = lab.addNamespace('rs1');
  const rs2 = lab.addNamespace('rs2');
  const lan: Bridge = lab.addBridge('lan');
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
  return { client, router, director, rs1, rs2, lan };
}

type DrFault = 'none' | 'arp-ignore0' | 'arp-announce0' | 'reply-from-rip' | 'vip-not-bound';

function buildDr(lab: Lab, fault: DrFault, forwarding: 'netdev' | 'routed' = 'netdev'): Built {
  const { client, router, director, rs1, rs2 } = buildDrLan(lab);
  if (fault === 'arp-announce0') {
    // Accept a changed MAC at once instead of ignoring changes within 1 s of the last update.
    lab.sysctl(router, 'net.ipv4.neigh.eth1.locktime', 0);
  }
  if (forwarding === 'netdev') {
    // The director: the frame leaves again on the same port with rewritten MACs, IP untouched.
    lab.nft(
      director,
      `table netdev lvsa_dr {
  chain ingress {
    type filter hook ingress device "eth0" priority filter; policy accept;
    ip daddr ${ADDR.drVip} tcp dport ${ADDR.port} ether saddr set ${MAC.directorWan} ether daddr set tcp sport & 1 map { 0 : ${MAC.rs1}, 1 : ${MAC.rs2} } fwd to "eth0"
  }
}
`,
    );
  } else {
    // The director routes VIP packets to the chosen RIP as next hop: the kernel's forwarding
    // path rewrites the MACs and decrements TTL. No conntrack: it only ever sees one direction.
    lab.nft(
      director,
      `table ip lvsa_dr {
  chain prerouting {
    type filter hook prerouting priority raw; policy accept;
    ip daddr ${ADDR.drVip} tcp dport ${ADDR.port} notrack meta mark set tcp sport & 1 map { 0 : 1, 1 : 2 }
  }
}
`,
    );
    lab.ip(director, ['rule', 'add', 'pref', '10', 'fwmark', '1', 'lookup', '101']);
    lab.ip(director, ['rule', 'add', 'pref', '11', 'fwmark', '2', 'lookup', '102']);
    // The VIP is local on the director; marked packets must reach the tables above first.
    lab.ip(director, ['rule', 'add', 'pref', '100', 'lookup', 'local']);
    lab.ip(director, ['rule', 'del', 'pref', '0']);
    lab.addRoute(director, 'default', ADDR.rip1, ['dev', 'eth0', 'onlink', 'table', '101']);
    lab.addRoute(director, 'default', ADDR.rip2, ['dev', 'eth0', 'onlink', 'table', '102']);
    lab.sysctl(director, 'net.ipv4.ip_forward', 1);
    for (const scope of ['all', 'eth0']) lab.sysctl(director, `net.ipv4.conf.${scope}.send_redirects`, 0);
  }
  const realServers = [
    { ns: rs1, name: 'rs1' },
    { ns: rs2, name: 'rs2' },
  ];
  for (const { ns, name } of realServers) {
    const faulty = name === 'rs1';
    const arpIgnore = faulty && fault === 'arp-ignore0' ? 0 : 1;
    const arpAnnounce = faulty && fault === 'arp-announce0' ? 0 : 2;
    for (const scope of ['all', 'eth0']) {
      lab.sysctl(ns, `net.ipv4.conf.${scope}.arp_ignore`, arpIgnore);
      lab.sysctl(ns, `net.ipv4.conf.${scope}.arp_announce`, arpAnnounce);
      lab.sysctl(ns, `net.ipv4.conf.${scope}.rp_filter`, 0);
    }
    const bindVip = !(faulty && (fault === 'reply-from-rip' || fault === 'vip-not-bound'));
    if (bindVip) lab.addAddress(ns, 'lo', `${ADDR.drVip}/32`);
    lab.addRoute(ns, 'default', ADDR.routerLan);
    if (faulty && fault === 'reply-from-rip') {
      lab.nft(
        ns,
        `table ip lvsa_fault {
  chain prerouting {
    type filter hook prerouting priority raw; policy accept;
    ip daddr ${ADDR.drVip} tcp dport ${ADDR.port} notrack ip daddr set ${ADDR.rip1}
  }
}
`,
      );
    }
  }
  return {
    client,
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

function build(lab: Lab, name: ScenarioName): Built {
  switch (name) {
    case 'nat':
      return buildNat(lab, 'none');
    case 'nat-reply-bypass':
      return buildNat(lab, 'reply-bypass');
    case 'dr':
    case 'arp-correct':
      return buildDr(lab, 'none');
    case 'dr-routed':
      return buildDr(lab, 'none', 'routed');
    case 'arp-ignore0':
      return buildDr(lab, 'arp-ignore0');
    case 'arp-announce0':
      return buildDr(lab, 'arp-announce0');
    case 'dr-reply-from-rip':
      return buildDr(lab, 'reply-from-rip');
    case 'dr-vip-not-bound':
      return buildDr(lab, 'vip-not-bound');
  }
}

/**
 * Build the scenario's topology, start the services and captures at every point, run the
 * client, and write `<point>.pcap` files plus service.conf into `outDir`. The lab is always
 * destroyed before this returns or throws.
 */
export async function runScenario(name: string, outDir: string, opts: ScenarioOptions = {}): Promise<ScenarioResult> {
  const info = scenarioInfo(name);
  const started = Date.now();
  const dir = resolve(outDir);
  mkdirSync(dir, { recursive: true });
  const lab = new Lab(opts.lab);
  try {
    const built = build(lab, info.name);
    await lab.waitReady();
    opts.onStage?.('topology', lab);
    for (const { ns, name: rsName } of built.rs) await startHttpServer(lab, ns, rsName, ADDR.port);
    opts.onStage?.('services', lab);
    const { files } = await lab.captureEveryPoint(built.points, dir);
    opts.onStage?.('captures', lab);
    const connections = await runHttpClient(lab, built.client, {
      host: built.vip,
      port: ADDR.port,
      basePort: ADDR.clientBasePort,
      count: opts.connections ?? 4,
      timeoutMs: opts.timeoutMs ?? 1500,
      gapMs: 100,
    });
    opts.onStage?.('traffic', lab);
    await lab.settleAndStopCaptures(300);
    const serviceConfig = serviceConfigFor(info.mode);
    const service = join(dir, 'service.conf');
    writeFileSync(service, serviceConfig);
    return {
      name: info.name,
      info,
      captures: files,
      service,
      serviceConfig,
      connections,
      durationMs: Date.now() - started,
    };
  } finally {
    await lab.destroy();
  }
}

/** Fault names accepted by `lvsaudit lab run --fault`, per mode, and the scenario they select. */
export const LAB_FAULTS: Readonly<Record<'nat' | 'dr', Readonly<Record<string, ScenarioName>>>> = {
  nat: { 'reply-bypass': 'nat-reply-bypass' },
  dr: {
    'arp-ignore0': 'arp-ignore0',
    'arp-announce0': 'arp-announce0',
    'reply-from-rip': 'dr-reply-from-rip',
    'vip-not-bound': 'dr-vip-not-bound',
    /** Not a fault: the director forwards through IP routing (TTL -1, profile linux). */
    routed: 'dr-routed',
  },
};

/**
 * Map `lab run --mode M --director D [--fault F]` to a scenario. The reference director is the
 * kernel's own netfilter (this kernel has no IPVS): NAT and DR only, one fault at a time.
 * Usage mistakes throw InputError (exit 2); what this machine cannot do throws EnvironmentError.
 */
export function resolveScenario(mode: string, director: string, faults: readonly string[] = []): ScenarioName {
  if (director === 'ipvs-vm') {
    throw new EnvironmentError('the ipvs-vm director needs a VM with IPVS, which this lab cannot start; use --director reference');
  }
  if (director !== 'reference') throw new InputError(`unknown director ${director} (reference|ipvs-vm)`);
  if (mode === 'tun' || mode === 'fullnat') {
    throw new EnvironmentError(`the reference director implements nat and dr only (no IPIP/IPVS in this kernel): ${mode}`);
  }
  if (mode !== 'nat' && mode !== 'dr') throw new InputError(`unknown mode ${mode} (nat|dr|tun|fullnat)`);
  if (faults.length > 1) throw new InputError('the lab runs one --fault at a time');
  const fault = faults[0];
  if (fault === undefined) return mode;
  const name = LAB_FAULTS[mode][fault];
  if (!name) {
    throw new InputError(`unknown --fault ${fault} for mode ${mode} (known: ${Object.keys(LAB_FAULTS[mode]).join(', ')})`);
  }
  return name;
}
