#!/usr/bin/env node
// Regenerate fixtures/lab/dpvs-fullnat-ipv6 and dpvs-nat64 from the DPVS lab
// (`lvsaudit lab run --director dpvs --mode fullnat --family 6` and `--nat64`): iQIYI DPVS on DPDK
// af_packet ports as a real IPv6 FullNAT / NAT64 director, real Linux client and real servers.
// Needs root, iproute2, tcpdump, hugepages and DPVS (built into the cache on first use, see
// `lvsaudit lab dpvs-build`), and a build: `npm run build` first.
// Usage: node scripts/lab-dpvs-ipv6-fixtures.mjs [--out DIR] [--dpvs-bin DIR] [NAME...]
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { dpvsCase, runDpvsCase } = await import(join(repoRoot, 'dist/lab/dpvs/director.js'));
const { dpvsBinaries } = await import(join(repoRoot, 'dist/lab/dpvs/build.js'));
const { errorRules, planOfCase } = await import(join(repoRoot, 'dist/lab/sequence.js'));
const { ADDR, MAC, hostPort } = await import(join(repoRoot, 'dist/lab/plan.js'));

const CASES = [
  {
    name: 'dpvs-fullnat-ipv6',
    flags: '--family 6',
    nat64: false,
    what: 'IPv6 FullNAT (6→6): IPv6 client, VIP, real servers and local address; round robin over rs1 and rs2',
    mss: 'the real server\'s MSS lowered by 20 in the SYN-ACK to the client (the TOA length for an IPv6 client)',
  },
  {
    name: 'dpvs-nat64',
    flags: '--nat64',
    nat64: true,
    what: 'NAT64 FullNAT (6→4): IPv6 client and VIP, IPv4 real servers and local address; round robin over rs1 and rs2',
    mss: 'the real server\'s MSS lowered by 20 in the SYN-ACK to the client (by the client\'s family, although the real-server leg is IPv4)',
  },
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
  const lc = dpvsCase('fullnat', { connections: 8, family: 6, nat64: c.nat64 });
  const a = planOfCase(lc);
  const r = await runDpvsCase(binaries, lc, work, { verify: true });
  const dir = join(outRoot, c.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const f of KEEP) if (existsSync(join(work, f))) copyFileSync(join(work, f), join(dir, f));
  rmSync(work, { recursive: true, force: true });
  const verdict = r.verify.verdict;
  const rules = errorRules(r.verify);
  const expected = {
    scenario: c.name,
    director: 'dpvs',
    dpvs: 'iQIYI DPVS v1.10.2 with the DPDK 22.11 back-port patch (../shared/dpvs)',
    mode: 'fullnat',
    profile: 'dpvs',
    family: 6,
    nat64: c.nat64,
    scheduler: 'rr',
    weights: lc.weights,
    verdict,
    rules,
    client: a.client,
    vip: hostPort(a.natVip, ADDR.port),
    lip: a.lip,
    rips: { rs1: a.rip1, rs2: a.rip2 },
    toaLength: 20,
    directorMacs: [MAC.directorWan, MAC.directorLan],
    realServerMacs: { rs1: MAC.rs1, rs2: MAC.rs2 },
    connections: r.connections.map(({ localPort, ok, body, error }) => ({ localPort, ok, body, error })),
  };
  writeFileSync(join(dir, 'expected.json'), JSON.stringify(expected, null, 2) + '\n');
  const size = KEEP.filter((f) => existsSync(join(dir, f))).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
  writeFileSync(
    join(dir, 'README.md'),
    `# ${c.name}: a real ${c.nat64 ? 'NAT64' : 'IPv6'} FullNAT director (DPVS)

Made by \`node scripts/lab-dpvs-ipv6-fixtures.mjs ${c.name}\` — the lab of
\`lvsaudit lab run --director dpvs --mode fullnat ${c.flags} --connections 8\`:
iQIYI DPVS v1.10.2 (built against DPDK 22.11 with the back-port patch of \`../shared/dpvs\`) in
the director namespace on DPDK \`net_af_packet\` ports over the director's two veths, IPv6 on in
its dpvs.conf, configured with its own \`dpip\`/\`ipvsadm\` from \`service.conf\` (the commands
are in \`dpvs-commands.txt\`; \`ipvsadm-list.txt\` and \`ipvsadm-conns.txt\` are what DPVS
reported after the traffic). DPVS answers neighbour solicitations for the VIP and the DIP itself.

Service: ${c.what}.

- client ${a.client} (${MAC.client}), VIP ${hostPort(a.natVip, ADDR.port)} on the client LAN
- director: DPVS dpdk0 = eth0 (${MAC.directorWan}, VIP), dpdk1 = eth1 (${MAC.directorLan}, DIP ${a.dip}, LIP ${a.lip})
- rs1 ${a.rip1} (${MAC.rs1}), rs2 ${a.rip2} (${MAC.rs2}), HTTP on :${ADDR.natRport}; route to ${a.lipNet} via the DIP
- captures: client eth0, director-eth0 and director-eth1 (each DPVS port; af_packet does not
  show DPVS's own output there), rs1 and rs2 eth0

Expected: \`verify --profile dpvs\` **${verdict}**${rules.length ? ` (${rules.join(', ')})` : ''}, every fnat.* rule evaluated.
What DPVS does on the wire here: TOA kind 254, length 20 (client port, then the client's IPv6
address${c.nat64 ? ', inside the IPv4 TCP header towards the IPv4 real server' : ''}) on the
handshake's ACK and the first data packet towards the real server, never on the SYN;
${c.mss}; the client's timestamp option replaced by NOPs in the SYN; the client's sequence
numbers shifted by a per-connection delta; local ports from 1025.
Size of the set: ${Math.round(size / 1024)} KB.
`,
  );
  process.stdout.write(`${c.name}: ${verdict}${rules.length ? ` (${rules.join(', ')})` : ''}, ${r.connections.filter((x) => x.ok).length}/${r.connections.length} answered, ${Math.round(size / 1024)} KB -> ${dir}\n`);
}
