#!/usr/bin/env node
// Regenerate fixtures/lab/*-ipv6* from the real-kernel lab with IPv6 services (src/lab/plan.ts
// addressPlan(6); the nftables director kind). Needs root, iproute2, nftables, tcpdump, ethtool,
// and a build: `npx tsc -p .` first.
// Usage: node scripts/lab-ipv6-fixtures.mjs [--out DIR] [NAME...]   (default: every case below)
//        node scripts/lab-ipv6-fixtures.mjs --ipvs [--out DIR]   the IPVS VM sets (one boot, qemu;
//        minutes under an emulated CPU): ipvs-dr-ipv6-wrr, ipvs-nat-ipv6-wrr
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { nftablesCase, nftablesDriver } = await import(join(repoRoot, 'dist/lab/scenarios.js'));
const { runLabCase } = await import(join(repoRoot, 'dist/lab/sequence.js'));
const { ADDR6, MAC } = await import(join(repoRoot, 'dist/lab/plan.js'));

const ROUTED =
  'The director forwards through the kernel\'s IPv6 routing: nftables (prerouting, raw priority, notrack) marks VIP:80 packets by client source-port parity, policy routing (ip -6 rule) sends mark 1/2 to tables whose default route is RIP1/RIP2 on the LAN, net.ipv6.conf.all.forwarding=1. So the director resolves each RIP with a neighbor solicitation and the real server answers with a neighbor advertisement (target RIP, target link-layer option = its MAC), as IPVS DR does; the hop limit drops by one (profile linux).';
const L2 =
  'The director rewrites the Ethernet addresses in nftables netdev ingress (ip6 daddr VIP tcp dport 80) and sends the frame back out of eth0: it never resolves a RIP, so no Neighbor Discovery packet names a RIP (the real servers solicit the router from their link-local address). Hop limit unchanged (profile linux-legacy).';
const NAT =
  'Director: nftables (table ip6) dnat VIP:80 -> RIP1/RIP2:8080 by a numgen round robin, conntrack un-NATs the replies, net.ipv6.conf.all.forwarding=1. Real servers: default route via the DIP.';

const CASES = [
  { name: 'dr-ipv6', mode: 'dr', faults: ['routed'], verdict: 'pass', rules: [], what: ROUTED },
  { name: 'dr-ipv6-l2', mode: 'dr', faults: [], verdict: 'pass', rules: [], what: L2 },
  { name: 'nat-ipv6', mode: 'nat', faults: [], verdict: 'pass', rules: [], what: NAT },
  {
    name: 'dr-ipv6-vip-not-bound',
    mode: 'dr',
    faults: ['routed', 'rs1:no-vip'],
    verdict: 'fail',
    rules: ['dr.vip-not-bound', 'flow.syn-retransmit'],
    what: `${ROUTED} Fault: rs1 has no VIP on lo; Linux (forwarding off) drops the forwarded SYNs silently.`,
  },
  {
    name: 'nat-ipv6-reply-bypass',
    mode: 'nat',
    faults: ['rs1:gateway-bypass'],
    verdict: 'fail',
    rules: ['nat.reply-bypass', 'nat.rip-leak'],
    what: `${NAT} Fault: rs1's default route is a second router (2001:db8::254 / 2001:db8:1::254), so its replies reach the client from RIP1:8080 without the un-NAT.`,
  },
];

const args = process.argv.slice(2);
let out = join(repoRoot, 'fixtures/lab');
const names = [];
let ipvs = false;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--out') out = resolve(args[++i] ?? '');
  else if (args[i] === '--ipvs') ipvs = true;
  else names.push(args[i]);
}

/** Real IPVS in the lab VM: wrr 3:1 over IPv6, DR and NAT; the kernel's own connection table
 *  (ipvsadm -Lnc) is kept beside the captures as the oracle of every scheduling decision. */
async function ipvsSets() {
  const { runIpvsLab } = await import(join(repoRoot, 'dist/lab/vm/run.js'));
  const { ipvsCase } = await import(join(repoRoot, 'dist/lab/ipvs-director.js'));
  const cases = [ipvsCase('dr', 'wrr', [], 8, 6), ipvsCase('nat', 'wrr', [], 8, 6)];
  const r = await runIpvsLab({ cases, onProgress: (l) => console.log(`  ${l}`) });
  let bad = 0;
  for (const c of r.cases) {
    const name = `ipvs-${c.case.mode}-ipv6-wrr`;
    if (c.error !== null) {
      bad++;
      console.error(`${name}: FAILED: ${c.error}`);
      continue;
    }
    const dir = join(out, name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const files = ['client.pcap', 'director.pcap', 'rs1.pcap', 'rs2.pcap', 'service.conf', 'ipvsadm-conns.txt', 'ipvsadm-stats.txt'];
    for (const f of files) if (existsSync(join(c.dir, f))) copyFileSync(join(c.dir, f), join(dir, f));
    const expected = {
      scenario: name,
      mode: c.case.mode,
      family: 6,
      profile: 'linux',
      kernel: r.guestKernel,
      verdict: 'pass',
      rules: [],
      realServers: { rs1: ADDR6.rip1, rs2: ADDR6.rip2 },
      realServerMacs: { rs1: MAC.rs1, rs2: MAC.rs2 },
      kernelSchedule: c.kernelSchedule,
      connections: c.connections.map(({ localPort, ok, body, error }) => ({ localPort, ok, body, error })),
    };
    writeFileSync(join(dir, 'expected.json'), JSON.stringify(expected, null, 2) + '\n');
    writeFileSync(
      join(dir, 'README.md'),
      [
        `# ${name}: real IPVS (${r.guestKernel}), IPv6 ${c.case.mode.toUpperCase()}, wrr 3:1, conformant`,
        '',
        `The kernel's ip_vs in the lab VM (\`lvsaudit lab run --director ipvs\`'s sequence with the IPv6 address plan), made by \`node scripts/lab-ipv6-fixtures.mjs --ipvs\`. service.conf is \`ipvsadm -Sn\` of the configured director; ipvsadm-conns.txt is its connection table after the run (\`ipvsadm -Lnc\`): the kernel's decision for every client port, the oracle the test compares verify's real server of each connection with.`,
        '',
        c.case.mode === 'dr'
          ? 'DR: the director resolves each RIP by neighbor solicitation; the real servers answer with advertisements naming their MACs (what verify learns them from). Captures: client, director eth0, rs1, rs2.'
          : 'NAT: the director captured on `any` (LINUX_SLL2: both legs, no Ethernet header). Captures: client, director, rs1, rs2.',
        '',
        `Client: ${c.connections.length} sequential HTTP/1.0 connections from ports ${c.connections[0]?.localPort}+i; kernel schedule ${Object.entries(c.kernelSchedule).map(([p, rs]) => `${p}→${rs}`).join(', ')}.`,
        '',
        'Expected verdict: **pass**, with dr.dst-mac (DR) and sched.unknown-rs, sched.weight0, sched.distribution evaluated.',
        '',
        '```',
        'lvsaudit verify --config service.conf --client client.pcap --director director.pcap --rs-capture rs1.pcap --rs-capture rs2.pcap',
        '```',
        '',
      ].join('\n'),
    );
    console.log(`${name}: ${c.connections.filter((x) => x.ok).length}/${c.connections.length} connections ok, verify ${c.verify?.verdict ?? '-'}${c.mismatches.length ? ` (${c.mismatches.join('; ')})` : ''}`);
  }
  return bad;
}

if (ipvs) {
  process.exitCode = (await ipvsSets()) > 0 ? 1 : 0;
  process.exit();
}
const selected = names.length > 0 ? CASES.filter((c) => names.includes(c.name)) : CASES;
let failed = 0;
for (const k of selected) {
  const dir = join(out, k.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  try {
    const c = nftablesCase(k.mode, k.faults, 6, 6);
    const r = await runLabCase(nftablesDriver, c, dir, { verify: false, directorPorts: k.mode === 'nat' });
    rmSync(join(dir, 'case.json'), { force: true });
    const captures = Object.fromEntries(Object.entries(r.captures).map(([p, f]) => [p, f.split('/').pop()]));
    const expected = {
      scenario: k.name,
      mode: k.mode,
      family: 6,
      profile: c.profile,
      faults: k.faults,
      verdict: k.verdict,
      rules: k.rules,
      vip: `[${k.mode === 'nat' ? ADDR6.natVip : ADDR6.drVip}]:80`,
      realServers: { rs1: ADDR6.rip1, rs2: ADDR6.rip2 },
      realServerMacs: { rs1: MAC.rs1, rs2: MAC.rs2 },
      captures,
      connections: r.connections.map(({ localPort, ok, body, error }) => ({ localPort, ok, body, error })),
    };
    writeFileSync(join(dir, 'expected.json'), JSON.stringify(expected, null, 2) + '\n');
    const sizes = readdirSync(dir).filter((f) => f.endsWith('.pcap')).map((f) => `| ${f} | ${statSync(join(dir, f)).size} |`);
    const director = k.mode === 'nat' ? '--director director-eth0.pcap --director director-eth1.pcap' : '--director director.pcap';
    writeFileSync(
      join(dir, 'README.md'),
      [
        `# ${k.name}: IPv6 ${k.mode.toUpperCase()}${k.verdict === 'pass' ? ', conformant' : ''}`,
        '',
        `Real Linux stacks in network namespaces with IPv6 addresses only (plan: client ${ADDR6.client}, VIP ${expected.vip}, RIPs ${ADDR6.rip1} and ${ADDR6.rip2} with MACs ${MAC.rs1} and ${MAC.rs2}; duplicate address detection off). Made by \`node scripts/lab-ipv6-fixtures.mjs ${k.name}\`; lab faults: ${k.faults.length > 0 ? k.faults.join(', ') : 'none'}.`,
        '',
        k.what,
        '',
        `The client makes ${r.connections.length} sequential HTTP/1.0 connections from ports 40000+i; the director alternates rs1/rs2 by port parity (round robin from rs1). Outcome: ${r.connections.map((x) => `${x.localPort} ${x.ok ? x.body : x.error}`).join(', ')}.`,
        '',
        `Expected verdict: **${k.verdict}**${k.rules.length > 0 ? ` with ${k.rules.join(', ')}` : ''}; profile \`${c.profile}\`.`,
        '',
        '| file | bytes |',
        '|---|---|',
        ...sizes,
        '',
        '```',
        `lvsaudit verify --config service.conf --profile ${c.profile} --client client.pcap ${director} --rs-capture rs1.pcap --rs-capture rs2.pcap`,
        '```',
        '',
      ].join('\n'),
    );
    console.log(`${k.name}: ${r.connections.filter((x) => x.ok).length}/${r.connections.length} connections ok`);
  } catch (err) {
    failed++;
    console.error(`${k.name}: FAILED: ${err instanceof Error ? err.message : String(err)}`);
  }
}
process.exitCode = failed > 0 ? 1 : 0;
