#!/usr/bin/env node
// Regenerate fixtures/lab/dpvs-* from the DPVS lab (`lvsaudit lab run --director dpvs`): iQIYI
// DPVS on DPDK af_packet ports as a real FullNAT director, real Linux client and real servers.
// Needs root, iproute2, tcpdump, hugepages and DPVS (built into the cache on first use, see
// `lvsaudit lab dpvs-build`), and a build: `npm run build` first.
// Usage: node scripts/lab-dpvs-fixtures.mjs [--out DIR] [--dpvs-bin DIR] [NAME...]
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { dpvsCase, runDpvsCase } = await import(join(repoRoot, 'dist/lab/dpvs/director.js'));
const { dpvsBinaries } = await import(join(repoRoot, 'dist/lab/dpvs/build.js'));
const { errorRules } = await import(join(repoRoot, 'dist/lab/sequence.js'));
const { ADDR, MAC } = await import(join(repoRoot, 'dist/lab/plan.js'));

// The TCP sets were made before the lab's FullNAT service became persistent: persistence 0
// makes them again as they are.
const CASES = [
  { name: 'dpvs-fullnat', scheduler: 'rr', what: 'round robin over rs1 and rs2 (weights 1:1), one local address' },
  { name: 'dpvs-fullnat-wrr', scheduler: 'wrr', what: 'weighted round robin, rs1 weight 3, rs2 weight 1, one local address' },
  { name: 'dpvs-udp-ipo', scheduler: 'rr', udp: true, uoaMode: 'ipo', what: 'UDP, round robin over rs1 and rs2, one local address, UOA in an IP option' },
  { name: 'dpvs-udp-opp', scheduler: 'rr', udp: true, uoaMode: 'opp', what: "UDP, round robin over rs1 and rs2, one local address, UOA in DPVS's private protocol" },
];
const KEEP = ['client.pcap', 'director-eth0.pcap', 'director-eth1.pcap', 'rs1.pcap', 'rs2.pcap', 'service.conf', 'dpvs-commands.txt', 'ipvsadm-list.txt', 'ipvsadm-conns.txt'];

const args = process.argv.slice(2);
let outRoot = join(repoRoot, 'fixtures', 'lab');
let bin;
const names = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--out') outRoot = resolve(args[++i]);
  else if (args[i] === '--dpvs-bin') bin = args[++i];
  else names.push(args[i]);
}
const binaries = await dpvsBinaries(bin !== undefined ? { bin } : {});

for (const c of CASES.filter((x) => names.length === 0 || names.includes(x.name))) {
  const work = mkdtempSync(join(tmpdir(), 'lvsa-dpvs-fixture-'));
  const lc = c.udp ? dpvsCase('fullnat', { scheduler: c.scheduler, udp: true }) : dpvsCase('fullnat', { scheduler: c.scheduler, connections: 8, persistence: 0 });
  const r = await runDpvsCase(binaries, lc, work, { verify: true, ...(c.uoaMode ? { uoaMode: c.uoaMode } : {}) });
  const dir = join(outRoot, c.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const f of KEEP) if (existsSync(join(work, f))) copyFileSync(join(work, f), join(dir, f));
  rmSync(work, { recursive: true, force: true });
  const verdict = r.verify.verdict;
  const rules = errorRules(r.verify);
  const sched = r.verify.rules.filter((t) => t.rule.startsWith('sched.')).map((t) => `${t.rule}: ${t.status}`);
  if (c.udp) {
    writeUdpFixture(c, lc, r, dir, verdict, rules);
    continue;
  }
  const expected = {
    scenario: c.name,
    director: 'dpvs',
    dpvs: 'iQIYI DPVS v1.10.2 with the DPDK 22.11 back-port patch (../shared/dpvs)',
    mode: 'fullnat',
    profile: 'dpvs',
    scheduler: c.scheduler,
    weights: lc.weights,
    verdict,
    rules,
    vip: `${ADDR.natVip}:${ADDR.port}`,
    lip: ADDR.lip,
    directorMacs: [MAC.directorWan, MAC.directorLan],
    realServerMacs: { rs1: MAC.rs1, rs2: MAC.rs2 },
    connections: r.connections.map(({ localPort, ok, body, error }) => ({ localPort, ok, body, error })),
  };
  writeFileSync(join(dir, 'expected.json'), JSON.stringify(expected, null, 2) + '\n');
  const size = KEEP.filter((f) => existsSync(join(dir, f))).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  writeFileSync(
    join(dir, 'README.md'),
    `# ${c.name}: a real FullNAT director (DPVS)

Made by \`node scripts/lab-dpvs-fixtures.mjs ${c.name}\` — the lab of
\`lvsaudit lab run --director dpvs --mode fullnat --scheduler ${c.scheduler} --connections 8\`:
iQIYI DPVS v1.10.2 (built against DPDK 22.11 with the back-port patch of \`../shared/dpvs\`) in
the director namespace on DPDK \`net_af_packet\` ports over the director's two veths, configured
with its own \`dpip\`/\`ipvsadm\` from \`service.conf\` (the commands are in \`dpvs-commands.txt\`;
\`ipvsadm-list.txt\` and \`ipvsadm-conns.txt\` are what DPVS reported after the traffic).

Service: ${c.what}.

- client ${ADDR.client} (${MAC.client}), VIP ${ADDR.natVip}:${ADDR.port} on the client LAN
- director: DPVS dpdk0 = eth0 (${MAC.directorWan}, VIP), dpdk1 = eth1 (${MAC.directorLan}, DIP ${ADDR.dip}, LIP ${ADDR.lip})
- rs1 ${ADDR.rip1} (${MAC.rs1}), rs2 ${ADDR.rip2} (${MAC.rs2}), HTTP on :${ADDR.natRport}; route to ${ADDR.lipNet} via the DIP
- captures: client eth0, director-eth0 and director-eth1 (each DPVS port, both directions: the
  af_packet ports send with qdisc_bypass=0 so the veth taps see what DPVS sent), rs1 and rs2 eth0

Expected: \`verify --profile dpvs\` **${verdict}**${rules.length ? ` (${rules.join(', ')})` : ''}, every fnat.* rule evaluated.
What DPVS does on the wire here: TOA (kind 254, length 8, client port and address) on the
handshake's ACK and the first data packet towards the real server, never on the SYN; the real
server's MSS lowered by 8 in the SYN-ACK to the client; the client's timestamp option replaced by
NOPs in the SYN; the client's sequence numbers shifted by a per-connection delta; local ports
from 1025, counted per real server. With \`--profile alibaba\` the same captures fail on
fnat.toa-placement (Alibaba's TOA is on the SYN).
sched.* when made: ${sched.join('; ')}.
Size of the set: ${Math.round(size / 1024)} KB.
`,
  );
  process.stdout.write(`${c.name}: ${verdict}${rules.length ? ` (${rules.join(', ')})` : ''}, ${r.connections.filter((x) => x.ok).length}/${r.connections.length} answered -> ${dir}\n`);
}

/** expected.json and README.md of a UDP set: what DPVS put on the wire, and what verify says of it. */
function writeUdpFixture(c, lc, r, dir, verdict, rules) {
  const evaluated = r.verify.rules.filter((t) => (t.rule.startsWith('fnat.') || t.rule.startsWith('sched.')) && t.status !== 'not-evaluated').map((t) => t.rule);
  const expected = {
    scenario: c.name,
    director: 'dpvs',
    dpvs: 'iQIYI DPVS v1.10.2 with the DPDK 22.11 back-port patch (../shared/dpvs)',
    mode: 'fullnat',
    protocol: 'udp',
    uoaMode: c.uoaMode,
    uoaMaxTrail: 3,
    profile: 'dpvs',
    scheduler: c.scheduler,
    verdict,
    rules,
    verifyEvaluated: evaluated,
    vip: `${ADDR.natVip}:${ADDR.udpPort}`,
    rport: ADDR.udpRport,
    lip: ADDR.lip,
    client: ADDR.client,
    datagrams: lc.udp.datagrams,
    connections: r.connections.map(({ localPort, ok, body, answered, error }) => ({ localPort, ok, body, answered, error })),
  };
  writeFileSync(join(dir, 'expected.json'), JSON.stringify(expected, null, 2) + '\n');
  const size = KEEP.filter((f) => existsSync(join(dir, f))).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  const wire =
    c.uoaMode === 'ipo'
      ? `The first 3 datagrams of each flow (uoa_max_trail 3) reach the real server with an 8-byte IP
option: type 31 (0x1f: not copied on fragmentation, class 0), length 8, the client's port (2
bytes), the client's IPv4 address (4 bytes), e.g. \`1f 08 9c 40 ac 10 00 02\` for
172.16.0.2:40000. The header length is then 7 words (28 bytes) and the total length 8 more than
the client's; the UDP checksum is recomputed for LIP:lport → RIP:rport and correct; TTL (64, not
decremented), IP ID and DF are the client's. The datagrams after the third carry no option (header
length 5). Replies leave the director from VIP:${ADDR.udpPort} to the client's address and port. Every
datagram is answered: a stock kernel ignores an unknown IP option.`
      : `The first 3 datagrams of each flow (uoa_max_trail 3) reach the real server as IP protocol 248
(DPVS's private "opp"): after the 20-byte IP header a 12-byte header — \`10\` (version), the
original protocol \`11\` (UDP), length \`00 0c\`, then the same 8 bytes an ipo option holds
(\`1f 08\`, client port, client address) — and then the UDP header, its checksum 0. Total length 12
more than the client's; TTL, IP ID and DF are the client's. A real server without DPVS's uoa
module answers each with ICMP destination unreachable, protocol unreachable (type 3 code 2), which
DPVS does not pass on: the client's first 3 datagrams per flow go unanswered (its timeouts), the
later ones (plain UDP) are answered.`;
  writeFileSync(
    join(dir, 'README.md'),
    `# ${c.name}: UDP through a real FullNAT director (DPVS, uoa_mode ${c.uoaMode})

Made by \`node scripts/lab-dpvs-fixtures.mjs ${c.name}\` — the lab of
\`lvsaudit lab run --director dpvs --mode fullnat --udp${c.uoaMode !== 'ipo' ? ` --uoa-mode ${c.uoaMode}` : ''}\`:
DPVS v1.10.2 on DPDK \`net_af_packet\` ports in the director namespace (as in \`dpvs-fullnat\`),
dpvs.conf \`uoa_mode ${c.uoaMode}\`, \`uoa_max_trail 3\`; a UDP echo server on each real server
answers \`<name> <datagram>\`; the client sends ${lc.udp.datagrams} datagrams from each of ${lc.connections} local ports
(${ADDR.clientBasePort}…), each after the answer to the one before (or a 1.5 s timeout).

Service: ${c.what} (\`service.conf\`; DPVS's commands in \`dpvs-commands.txt\`).

- client ${ADDR.client}, VIP ${ADDR.natVip}:${ADDR.udpPort}; LIP ${ADDR.lip}
- rs1 ${ADDR.rip1}, rs2 ${ADDR.rip2}, UDP echo on :${ADDR.udpRport}; route to ${ADDR.lipNet} via the DIP
- captures: client eth0, director-eth0 and director-eth1 (each DPVS port), rs1 and rs2 eth0

## What DPVS put on the wire

${wire}

## What verify says today

\`verify --profile dpvs\` **${verdict}**${rules.length ? ` (${rules.join(', ')})` : ''}; fnat.*/sched.* rules evaluated: ${evaluated.length ? evaluated.join(', ') : 'none'}.
Each client flow is linked to its LIP leg by a datagram's payload and IP ID; the fnat.uoa-* rules
check the UOA DPVS inserted against the client's address and port.${c.uoaMode === 'opp' ? ` The first datagrams of each flow die at
the real servers (no uoa module: ICMP protocol unreachable): fnat.uoa-rejected names each one and
the real server's ICMP error.` : ''}
Size of the set: ${Math.round(size / 1024)} KB.
`,
  );
  process.stdout.write(`${c.name}: ${verdict}${rules.length ? ` (${rules.join(', ')})` : ''}, ${r.connections.filter((x) => x.ok).length}/${r.connections.length} answered -> ${dir}\n`);
}
