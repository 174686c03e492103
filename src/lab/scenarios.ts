/**
 * The nftables director kind: the kernel's own netfilter as the director (a kernel without
 * IPVS can run it), in the shared lab sequence (sequence.ts), plus the named scenarios that
 * `scripts/lab-fixtures.mjs` turns into fixtures/lab and the lab tests run.
 *
 * NAT director: nftables `dnat` + conntrack (round robin with `numgen inc`); the kernel's forwarding
 *   decrements TTL, so captures conform to profile `linux`.
 * DR director: nftables `netdev` ingress rewrites the Ethernet addresses and `fwd`s the frame back
 *   out of the same port (everyone on one L2 segment, client behind a router). No IP layer is
 *   touched, so TTL is unchanged: profile `linux-legacy`. The real server is picked by the parity
 *   of the client's source port; the lab client uses consecutive ports, which makes it round robin.
 *   Switch `routed`: the director forwards through IP routing instead (TTL −1, profile `linux`).
 */
import { ADDR, MAC, addressPlan, hostPort, rportOf, type AddressPlan, type LabFamily, type LabMode } from './plan.js';
import { parseLabFaults, type LabFaults } from './faults.js';
import { caseServiceConfig, labCase, runLabCase, type DirectorDriver, type LabCase, type LabCaseResult, type SessionOptions } from './sequence.js';
import type { ConnectionResult } from './services.js';
import type { LabTopology } from './sequence.js';
import { InputError } from '../errors.js';

/** The plan's addresses and MACs, under the names the scenario tests and fixtures use. */
export { ADDR, MAC } from './plan.js';

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
  /** `--fault` words of the scenario (lab vocabulary, faults.ts). */
  faults: readonly string[];
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

const DR_RULES_NOTE = 'DR director is an nftables netdev fwd: TTL unchanged, so use --profile linux-legacy.';

export const SCENARIOS: readonly ScenarioInfo[] = [
  {
    name: 'nat',
    mode: 'nat',
    profile: 'linux',
    faults: [],
    title: 'NAT, conformant',
    setup:
      'Director: nftables dnat VIP:80 -> numgen inc mod 2 {RIP1, RIP2}:8080 with conntrack (replies un-NATed by conntrack), ip_forward=1. Real servers: default route via the DIP.',
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
    faults: [],
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
    faults: ['routed'],
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
    faults: [],
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
    faults: ['rs1:arp_ignore=0'],
    title: 'DR, rs1 with arp_ignore=0 answers who-has VIP',
    setup: 'As dr, but rs1 has arp_ignore=0 (all and eth0): its VIP on lo is answered on eth0.',
    expected: {
      verdict: 'fail',
      rules: ['arp.vip-answered-by-rs', 'arp.vip-conflict'],
      whenBypassed: ['arp.client-poisoned', 'flow.bypassed-director'],
      notes:
        'The router\'s who-has VIP gets two replies (director and rs1): a VIP conflict. Which one the router keeps is a race; when rs1 wins, later VIP traffic also bypasses the director (arp.client-poisoned, flow.bypassed-director).',
    },
  },
  {
    name: 'arp-announce0',
    mode: 'dr',
    profile: 'linux-legacy',
    faults: ['rs1:arp_announce=0'],
    title: 'DR, rs1 with arp_announce=0 poisons the router',
    setup:
      'As dr, but rs1 has arp_announce=0 (arp_ignore=1). Its first reply (source VIP) needs the router\'s MAC, so rs1 sends who-has ROUTER tell VIP. The router has neigh locktime=0 (accepts the update at once, like many non-Linux routers; with the Linux default of 1 s it happens on a later re-resolution) and now maps VIP -> rs1 MAC.',
    expected: {
      verdict: 'fail',
      rules: ['arp.vip-announced-by-rs', 'arp.vip-conflict', 'arp.client-poisoned', 'flow.bypassed-director'],
      notes:
        'After the poisoning ARP, the router sends VIP traffic straight to rs1: the director capture no longer sees those SYNs and rs1 receives them with the router as Ethernet source; every connection lands on rs1.',
    },
  },
  {
    name: 'nat-reply-bypass',
    mode: 'nat',
    profile: 'linux',
    faults: ['rs1:gateway-bypass'],
    title: 'NAT, rs1 default route not via the director',
    setup:
      'As nat, plus a second router joining the RS LAN (10.0.0.254) and the client LAN (172.16.0.254); rs1\'s default route points at it instead of the DIP, so its replies (source RIP) reach the client without being un-NATed.',
    expected: {
      verdict: 'fail',
      rules: ['nat.reply-bypass', 'nat.rip-leak'],
      notes:
        'Connections scheduled to rs1 fail: the client receives SYN-ACKs from RIP1:8080, answers with RST and retransmits its SYN until it times out. Connections to rs2 succeed.',
    },
  },
  {
    name: 'dr-reply-from-rip',
    mode: 'dr',
    profile: 'linux-legacy',
    faults: ['rs1:reply-from-rip'],
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
    faults: ['rs1:no-vip'],
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
  if (!info) throw new InputError(`unknown lab scenario ${name} (known: ${SCENARIOS.map((s) => s.name).join(', ')})`);
  return info;
}

/** The profile captures of the nftables director conform to. */
export function nftablesProfile(mode: LabMode, faults: LabFaults): 'linux' | 'linux-legacy' {
  return mode === 'dr' && !faults.director.includes('routed') ? 'linux-legacy' : 'linux';
}

/** Faults an IPv6 lab can make: the ones that need no IPv4-only sysctl or rule (arp_ignore and
 *  arp_announce are IPv4's, reply-from-rip's rewrite is an IPv4 rule). */
const IPV6_RS_FAULTS: ReadonlySet<string> = new Set(['no-vip', 'gateway-bypass']);
const IPV6_DIRECTOR_SWITCHES: ReadonlySet<string> = new Set(['routed']);

/** The nftables case of a mode and `--fault` words (checked: InputError on a usage mistake). */
export function nftablesCase(mode: LabMode, faultWords: readonly string[] = [], connections?: number, family: LabFamily = 4): LabCase {
  const faults = parseLabFaults('nftables', mode, faultWords);
  if (family === 6) {
    const unsupported = [...faults.director.filter((f) => !IPV6_DIRECTOR_SWITCHES.has(f)), ...faults.rs.filter((f) => !IPV6_RS_FAULTS.has(f.kind)).map((f) => `${f.rs}:${f.kind}`)];
    if (unsupported.length > 0) throw new InputError(`fault ${unsupported.join(', ')} has no IPv6 form in the lab (IPv6: rsN:no-vip, rsN:gateway-bypass, routed)`);
  }
  return labCase(mode, { faults, profile: nftablesProfile(mode, faults), family, ...(connections !== undefined ? { connections } : {}) });
}

/**
 * IPv6 NAT: conntrack's dnat with the round robin in the mark (an IPv6 address map with a port
 * is not one nft expression); the first packet of a connection alone passes the nat chain.
 */
function natRules6(a: AddressPlan): string {
  const match = `ip6 daddr ${a.natVip} tcp dport ${ADDR.port}`;
  return `table ip6 lvsa_nat {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ${match} meta mark set numgen inc mod 2
    ${match} meta mark 0 dnat to ${hostPort(a.rip1, rportOf('nat'))}
    ${match} meta mark 1 dnat to ${hostPort(a.rip2, rportOf('nat'))}
  }
}
`;
}

function natRules(): string {
  return `table ip lvsa_nat {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${ADDR.natVip} tcp dport ${ADDR.port} dnat to numgen inc mod 2 map { 0 : ${ADDR.rip1}, 1 : ${ADDR.rip2} } : ${rportOf('nat')}
  }
}
`;
}

/** The frame leaves again on the same port with rewritten MACs, IP untouched. */
function drNetdevRules(a: AddressPlan = addressPlan(4)): string {
  return `table netdev lvsa_dr {
  chain ingress {
    type filter hook ingress device "eth0" priority filter; policy accept;
    ${a.family === 6 ? 'ip6' : 'ip'} daddr ${a.drVip} tcp dport ${ADDR.port} ether saddr set ${MAC.directorWan} ether daddr set tcp sport & 1 map { 0 : ${MAC.rs1}, 1 : ${MAC.rs2} } fwd to "eth0"
  }
}
`;
}

/**
 * The director routes VIP packets to the chosen RIP as next hop: the kernel's forwarding path
 * rewrites the MACs and decrements TTL. No conntrack: it only ever sees one direction.
 */
function configureRouted(t: LabTopology): () => void {
  const { lab, director } = t;
  const a = t.addr;
  const v6 = a.family === 6;
  const table = v6 ? 'ip6' : 'ip';
  // `ip -6 rule` and `ip -6 route flush` name their family; the rest follow the address.
  const ip = (args: readonly string[]): string => lab.ip(director, v6 ? ['-6', ...args] : args);
  lab.nft(
    director,
    `table ${table} lvsa_dr {
  chain prerouting {
    type filter hook prerouting priority raw; policy accept;
    ${table} daddr ${a.drVip} tcp dport ${ADDR.port} notrack meta mark set tcp sport & 1 map { 0 : 1, 1 : 2 }
  }
}
`,
  );
  ip(['rule', 'add', 'pref', '10', 'fwmark', '1', 'lookup', '101']);
  ip(['rule', 'add', 'pref', '11', 'fwmark', '2', 'lookup', '102']);
  // The VIP is local on the director; marked packets must reach the tables above first.
  ip(['rule', 'add', 'pref', '100', 'lookup', 'local']);
  ip(['rule', 'del', 'pref', '0']);
  // The RIP as next hop: the kernel resolves it (ARP, or NS/NA over IPv6) as IPVS DR does.
  ip(['route', 'add', 'default', 'via', a.rip1, 'dev', 'eth0', 'onlink', 'table', '101']);
  ip(['route', 'add', 'default', 'via', a.rip2, 'dev', 'eth0', 'onlink', 'table', '102']);
  const forwarding = v6 ? 'net.ipv6.conf.all.forwarding' : 'net.ipv4.ip_forward';
  lab.sysctl(director, forwarding, 1);
  // IPv6 sends no redirect here (the next hop is not link-local, RFC 4861 §8.2).
  if (!v6) lab.sysctl(director, 'net.ipv4.conf.eth0.send_redirects', 0);
  return () => {
    ip(['rule', 'add', 'pref', '0', 'lookup', 'local']);
    for (const pref of ['10', '11', '100']) ip(['rule', 'del', 'pref', pref]);
    for (const t of ['101', '102']) ip(['route', 'flush', 'table', t]);
    lab.sysctl(director, forwarding, 0);
    lab.exec(director, ['nft', 'delete', 'table', table, 'lvsa_dr']);
  };
}

/** The nftables director in the shared lab sequence. */
export const nftablesDriver: DirectorDriver = {
  kind: 'nftables',
  addressed: true,
  directorCapture: 'any',
  async configure(t, c) {
    if (c.scheduler !== 'rr' || c.weights[0] !== c.weights[1]) throw new InputError('--director nftables schedules round robin only');
    const { lab, director } = t;
    let remove: () => void;
    const v6 = t.addr.family === 6;
    if (t.mode === 'nat') {
      lab.nft(director, v6 ? natRules6(t.addr) : natRules());
      remove = () => lab.exec(director, ['nft', 'delete', 'table', v6 ? 'ip6' : 'ip', 'lvsa_nat']);
    } else if (c.faults.director.includes('routed')) {
      remove = configureRouted(t);
    } else {
      lab.nft(director, drNetdevRules(t.addr));
      remove = () => lab.exec(director, ['nft', 'delete', 'table', 'netdev', 'lvsa_dr']);
    }
    return {
      finish: async () => ({ serviceConfig: caseServiceConfig(c), facts: {} }),
      remove: async () => remove(),
    };
  },
};

export interface ScenarioOptions extends SessionOptions {
  /** Client connections (default 4). */
  connections?: number;
}

export interface ScenarioResult extends LabCaseResult {
  name: ScenarioName;
  info: ScenarioInfo;
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

/**
 * Run a named scenario through the shared sequence with the nftables director: captures at
 * every point plus service.conf in `outDir`. The lab is always destroyed before this returns.
 */
export async function runScenario(name: string, outDir: string, opts: ScenarioOptions = {}): Promise<ScenarioResult> {
  const info = scenarioInfo(name);
  const c = nftablesCase(info.mode, info.faults, opts.connections);
  const r = await runLabCase(nftablesDriver, c, outDir, opts);
  return { ...r, name: info.name, info };
}
