/**
 * Turn a lab scenario run into a fixture directory: the captures, service.conf and a README
 * that says what the scenario is, how it was made and what a correct checker must conclude.
 */
import { readdirSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { SCENARIOS, expectedRules, runScenario, type ScenarioInfo, type ScenarioOptions, type ScenarioResult } from './scenarios.js';
import { ADDR, MAC, rportOf } from './plan.js';

function rsCaptureArgs(r: ScenarioResult): string {
  return [
    r.captures.rs1 ? `--rs-capture ${ADDR.rip1}=rs1.pcap` : '',
    r.captures.rs2 ? `--rs-capture ${ADDR.rip2}=rs2.pcap` : '',
  ]
    .filter((s) => s.length > 0)
    .join(' ');
}

function topologyText(info: ScenarioInfo): string {
  if (info.mode === 'nat') {
    return [
      `- client ${ADDR.client} (${MAC.client}), default route via the director ${ADDR.clientGw}`,
      `- director: eth0 ${ADDR.clientGw} + VIP ${ADDR.natVip} (${MAC.directorWan}) on the client LAN; eth1 DIP ${ADDR.dip} (${MAC.directorLan}) on the RS LAN`,
      `- rs1 ${ADDR.rip1} (${MAC.rs1}), rs2 ${ADDR.rip2} (${MAC.rs2}), HTTP on :${rportOf(info.mode)}`,
      info.name === 'nat-reply-bypass'
        ? `- router: ${ADDR.bypassGwWan} (${MAC.gwWan}) on the client LAN, ${ADDR.bypassGwLan} (${MAC.gwLan}) on the RS LAN; rs1's default route`
        : '',
    ]
      .filter((l) => l.length > 0)
      .join('\n');
  }
  return [
    `- client ${ADDR.client} (${MAC.client}) behind router ${ADDR.clientGw} (${MAC.routerWan})`,
    `- one LAN (bridge): router ${ADDR.routerLan} (${MAC.routerLan}), director ${ADDR.dip} + VIP ${ADDR.drVip} (${MAC.directorWan}), rs1 ${ADDR.rip1} (${MAC.rs1}), rs2 ${ADDR.rip2} (${MAC.rs2})`,
    `- real servers: VIP ${ADDR.drVip}/32 on lo (unless the fault removes it), default route via the router`,
    `- director picks the real server by client source-port parity (even -> rs1, odd -> rs2); the client uses ports ${ADDR.clientBasePort}, ${ADDR.clientBasePort + 1}, … so this is round robin starting at rs1`,
  ].join('\n');
}

const POINT_TEXT: Record<string, string> = {
  client: 'client eth0',
  router: 'router LAN leg (eth1): sees the ARP exchange for the VIP and the RS replies',
  director: 'director; NAT: `-i any` with LINUX_SLL2 (both legs in one file); DR: its only interface eth0',
  'director-eth0': 'director client-side leg only',
  'director-eth1': 'director RS-side leg only',
  rs1: 'rs1 eth0',
  rs2: 'rs2 eth0',
};

/** README.md text for one scenario run. */
export function scenarioReadme(r: ScenarioResult): string {
  const info = r.info;
  const vip = info.mode === 'nat' ? ADDR.natVip : ADDR.drVip;
  const lines: string[] = [];
  lines.push(`# ${info.name}: ${info.title}`, '');
  lines.push(`Mode: ${info.mode.toUpperCase()}; conforms to profile \`${info.profile}\`. Service: VIP ${vip}:${ADDR.port}, see service.conf.`, '');
  lines.push('## What', '', info.setup, '');
  lines.push('## Topology', '', topologyText(info), '');
  lines.push('## How it was made', '');
  lines.push(
    'Real Linux TCP stacks in network namespaces (kernel without IPVS; the director is the kernel\'s own nftables), made by',
    `\`node scripts/lab-fixtures.mjs ${info.name}\` (src/lab/scenarios.ts, src/lab/sequence.ts). Captures: tcpdump -U -s 0 --immediate-mode on every`,
    'point, checksum/segmentation offloads off on every veth, IPv6 off. The client makes',
    `${r.connections.length} sequential HTTP/1.0 connections (local ports ${ADDR.clientBasePort}+i, 1.5 s timeout each).`,
    '',
  );
  lines.push('## Captures', '', '| point | file | bytes | what |', '|---|---|---|---|');
  for (const [point, file] of Object.entries(r.captures)) {
    lines.push(`| ${point} | ${basename(file)} | ${statSync(file).size} | ${POINT_TEXT[point] ?? ''} |`);
  }
  lines.push('', '## Client outcome (this run)', '', '| local port | ok | answered by | error |', '|---|---|---|---|');
  for (const c of r.connections) lines.push(`| ${c.localPort} | ${c.ok} | ${c.body || '-'} | ${c.error ?? ''} |`);
  lines.push('', '## Expected verdict', '');
  const rules = expectedRules(r);
  lines.push(
    `**${info.expected.verdict}**${rules.length ? ` — findings include ${rules.map((x) => `\`${x}\``).join(', ')}` : ' (no error or warning findings)'}`,
    '',
  );
  lines.push(info.expected.notes, '');
  lines.push('## Check it', '', '```');
  lines.push(
    `lvsaudit verify --config service.conf --profile ${info.profile} --client client.pcap --director director.pcap ${rsCaptureArgs(r)}`,
  );
  if (info.mode === 'dr') {
    lines.push(`lvsaudit arp --vip ${ADDR.drVip} --director-mac ${MAC.directorWan} router.pcap director.pcap rs1.pcap rs2.pcap`);
  }
  lines.push('```', '');
  return lines.join('\n');
}

/** Machine-readable facts of a fixture, for tests of the checker that use it. */
export function expectedJson(r: ScenarioResult): Record<string, unknown> {
  const info = r.info;
  return {
    scenario: info.name,
    mode: info.mode,
    profile: info.profile,
    verdict: info.expected.verdict,
    rules: expectedRules(r),
    vip: `${info.mode === 'nat' ? ADDR.natVip : ADDR.drVip}:${ADDR.port}`,
    realServers: { rs1: `${ADDR.rip1}:${rportOf(info.mode)}`, rs2: `${ADDR.rip2}:${rportOf(info.mode)}` },
    directorMacs: info.mode === 'nat' ? [MAC.directorWan, MAC.directorLan] : [MAC.directorWan],
    realServerMacs: { rs1: MAC.rs1, rs2: MAC.rs2 },
    captures: Object.fromEntries(Object.entries(r.captures).map(([p, f]) => [p, basename(f)])),
    connections: r.connections,
  };
}

/** Run `name` and write its fixture directory `<root>/<name>/` (stale files removed first). */
export async function writeScenarioFixture(name: string, root: string, opts: ScenarioOptions = {}): Promise<ScenarioResult> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) {
    if (f.endsWith('.pcap') || f === 'service.conf' || f === 'README.md' || f === 'expected.json' || f === 'case.json') rmSync(join(dir, f));
  }
  const r = await runScenario(name, dir, { directorPorts: true, ...opts });
  // The run's own record names temporary paths; README.md and expected.json say what it holds.
  rmSync(join(dir, 'case.json'), { force: true });
  writeFileSync(join(dir, 'README.md'), scenarioReadme(r));
  writeFileSync(join(dir, 'expected.json'), `${JSON.stringify(expectedJson(r), null, 2)}\n`);
  return r;
}

/** Index README for the fixture root. */
/** The IPv6 sets of fixtures/lab (scripts/lab-ipv6-fixtures.mjs; test/verify/ipv6-parity.test.ts). */
/** The DPVS sets (scripts/lab-dpvs-fixtures.mjs): real FullNAT captures, each with its README and expected.json. */
export const DPVS_FIXTURE_SETS: readonly string[] = ['dpvs-fullnat', 'dpvs-fullnat-wrr'];
/** The DPVS UDP sets (same script): UDP FullNAT with the client's address in UOA, per uoa_mode. */
export const DPVS_UDP_FIXTURE_SETS: readonly string[] = ['dpvs-udp-ipo', 'dpvs-udp-opp'];

/** The IPv6 DPVS sets (scripts/lab-dpvs-ipv6-fixtures.mjs): IPv6 FullNAT and NAT64 through DPVS. */
export const DPVS_IPV6_FIXTURE_SETS: readonly string[] = ['dpvs-fullnat-ipv6', 'dpvs-nat64'];

/** An IPv6 DPVS fault (test/lab/dpvs-ipv6.test.ts, test/verify/fullnat-ipv6-link.test.ts). */
export const DPVS_IPV6_FAULT_SETS: readonly string[] = ['dpvs-fullnat-ipv6-gateway-bypass'];

export const IPV6_FIXTURE_SETS: readonly string[] = ['dr-ipv6', 'dr-ipv6-l2', 'nat-ipv6', 'dr-ipv6-vip-not-bound', 'nat-ipv6-reply-bypass', 'ipvs-nat-ipv6-wrr'];

/** The IPv6 sets are named outside the table: test/verify/lab.test.ts reads its rows as IPv4 cases. */
const IPV6_NOTE = [
  'IPv6 sets (`node scripts/lab-ipv6-fixtures.mjs`, the same lab with the IPv6 address plan; each has its own',
  'README and expected.json, and they are kept out of the table above, whose rows are read as IPv4 cases):',
  'dr-ipv6 (routed DR: the director resolves the RIPs by NS/NA, pass), dr-ipv6-l2 (netdev L2 rewrite: no packet',
  'names a RIP, pass with dr.dst-mac and sched.* not evaluated unless the RS captures are named), nat-ipv6 (pass),',
  'dr-ipv6-vip-not-bound (fail: dr.vip-not-bound), nat-ipv6-reply-bypass (fail: nat.reply-bypass, nat.rip-leak);',
  'ipvs-nat-ipv6-wrr (real IPVS in the lab VM, `--ipvs`: pass, with the kernel\'s connection table).',
  '',
];

/** The DPVS sets, also kept out of the table (their director is DPVS, not the nftables kind). */
const DPVS_NOTE = [
  'DPVS sets (`node scripts/lab-dpvs-fixtures.mjs`, `lvsaudit lab run --director dpvs --mode fullnat`: iQIYI DPVS as a',
  'real FullNAT director, 8 connections; each has its own README and expected.json): dpvs-fullnat (rr) and',
  'dpvs-fullnat-wrr (wrr 3:1), both pass with profile dpvs and fail fnat.toa-placement with profile alibaba',
  '(made before the lab\'s FullNAT service became persistent: the script runs them with persistence 0).',
  'UDP sets (the same script, `lab run --director dpvs --mode fullnat --udp [--uoa-mode opp]`): dpvs-udp-ipo (the',
  'client\'s address in IP option 31 on the first 3 datagrams of each flow, all answered) and dpvs-udp-opp (DPVS\'s',
  'protocol 248, answered by the real servers with ICMP protocol unreachable); each README says byte by byte what',
  'DPVS put on the wire. verify passes both with the fnat.uoa-* rules evaluated (expected.json records which).',
  'IPv6 DPVS sets (`node scripts/lab-dpvs-ipv6-fixtures.mjs`, `--family 6` and `--nat64`): dpvs-fullnat-ipv6 (6→6:',
  'IPv6 real servers and LIP) and dpvs-nat64 (IPv6 client and VIP, IPv4 real servers and LIP), both pass with profile',
  'dpvs; TOA kind 254 length 20 carries the client\'s IPv6 address in both.',
  'dpvs-fullnat-ipv6-gateway-bypass (`--family 6 --fault rs2:gateway-bypass`): fail nat.reply-bypass, rs2\'s LIP legs',
  'tied to their IPv6 clients by the flow label DPVS keeps (see its README).',
  '',
];

export function fixturesIndex(): string {
  const lines = [
    '# Real-kernel lab captures',
    '',
    'Made by `node scripts/lab-fixtures.mjs` (needs root, iproute2, nftables, tcpdump, ethtool; run `npx tsc -p .` first).',
    'Each directory holds captures at every point, `service.conf` (ipvsadm-save -n of the equivalent IPVS service)',
    'and a README with the expected verdict. Addresses, MACs and client ports are fixed; timestamps, ISNs and',
    'TCP timestamps differ between runs. The director is the nftables kind of the one lab (src/lab/sequence.ts);',
    '`lvsaudit lab run --director nftables --mode M --fault F` runs the same case (faults column).',
    '',
    '| scenario | mode | faults | profile | expected | rules |',
    '|---|---|---|---|---|---|',
  ];
  for (const s of SCENARIOS) {
    lines.push(`| [${s.name}](${s.name}/README.md) | ${s.mode} | ${s.faults.join(', ') || 'none'} | ${s.profile} | ${s.expected.verdict} | ${s.expected.rules.join(', ')} |`);
  }
  lines.push('', ...IPV6_NOTE, ...DPVS_NOTE);
  return lines.join('\n');
}
