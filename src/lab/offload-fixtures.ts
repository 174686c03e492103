/**
 * fixtures/offload: captures from real kernels with the offloads a production host has
 * (`lab run --offloads on`: TSO/GSO and TX checksum offload on senders, GRO on receivers, one
 * forwarding hop that segments in software, 300 KB responses). The same cases as fixtures/lab,
 * from the nftables director on the host kernel and from real IPVS in the lab VM, so a checker
 * can be tested on super-segments, partial checksums and GRO-merged packets that a correct
 * checker must not mistake for errors.
 *
 * Each fixture directory has the layout of fixtures/lab (captures gzip'd: the capture reader
 * recognises gzip by content), plus expected.json and a README whose observation table is what
 * tshark reads in the committed captures (observeCapture).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ADDR, MAC, REAL_SERVERS, rportOf, vipOf, type LabMode } from './plan.js';
import { RS_FAULTS, parseLabFaults } from './faults.js';
import { OFFLOAD_RESPONSE_BYTES, type DeviceOffloads, type LabCase, type LabOffloads } from './sequence.js';
import type { ConnectionResult } from './services.js';
import { directorBypassed, nftablesCase } from './scenarios.js';
import { ipvsCase, kernelConnections } from './ipvs-director.js';

export type OffloadDirector = 'nftables' | 'ipvs';

export interface OffloadFixture {
  /** Directory name under fixtures/offload. */
  name: string;
  director: OffloadDirector;
  mode: LabMode;
  /** `--fault` words (lab vocabulary, faults.ts). */
  faults: readonly string[];
  title: string;
}

/** Client connections per fixture: 8 × 300 KB responses, two rounds of each real server per rr. */
export const OFFLOAD_CONNECTIONS = 8;

export const OFFLOAD_FIXTURES: readonly OffloadFixture[] = [
  { name: 'nftables-nat', director: 'nftables', mode: 'nat', faults: [], title: 'NAT through nftables dnat, conformant' },
  { name: 'nftables-dr', director: 'nftables', mode: 'dr', faults: [], title: 'DR through an nftables netdev rewrite, conformant' },
  { name: 'nftables-dr-rs1-arp_ignore0', director: 'nftables', mode: 'dr', faults: ['rs1:arp_ignore=0'], title: 'DR, rs1 answers who-has VIP (arp_ignore=0)' },
  { name: 'nftables-nat-rs1-gateway-bypass', director: 'nftables', mode: 'nat', faults: ['rs1:gateway-bypass'], title: "NAT, rs1's default route skips the director" },
  { name: 'ipvs-nat', director: 'ipvs', mode: 'nat', faults: [], title: 'NAT through real IPVS, conformant' },
  { name: 'ipvs-dr', director: 'ipvs', mode: 'dr', faults: [], title: 'DR through real IPVS, conformant' },
  { name: 'ipvs-tun', director: 'ipvs', mode: 'tun', faults: [], title: 'TUN (IPIP) through real IPVS, conformant' },
  { name: 'ipvs-dr-rs1-arp_ignore0', director: 'ipvs', mode: 'dr', faults: ['rs1:arp_ignore=0'], title: 'DR through real IPVS, rs1 answers who-has VIP (arp_ignore=0)' },
  { name: 'ipvs-nat-rs1-gateway-bypass', director: 'ipvs', mode: 'nat', faults: ['rs1:gateway-bypass'], title: "NAT through real IPVS, rs1's default route skips the director" },
];

export function offloadFixture(name: string): OffloadFixture {
  const f = OFFLOAD_FIXTURES.find((x) => x.name === name);
  if (!f) throw new Error(`unknown offload fixture ${name} (known: ${OFFLOAD_FIXTURES.map((x) => x.name).join(', ')})`);
  return f;
}

/** The lab case a fixture runs. */
export function offloadFixtureCase(f: OffloadFixture): LabCase {
  return f.director === 'nftables' ? nftablesCase(f.mode, f.faults, OFFLOAD_CONNECTIONS) : ipvsCase(f.mode, 'rr', f.faults, OFFLOAD_CONNECTIONS);
}

/** Further error rules a fault causes on the wire (consequences), which a checker may report beside the required ones. */
const CONSEQUENCES: Readonly<Record<string, readonly string[]>> = {
  'gateway-bypass': ['flow.syn-retransmit', 'flow.unexpected-rst'],
};

/** A real server that claims the VIP pulls the router's VIP traffic away from the director. */
const WHEN_BYPASSED = ['arp.client-poisoned', 'flow.bypassed-director'];

export interface OffloadExpectation {
  verdict: 'pass' | 'fail';
  /** Error rules a correct checker must report. */
  rules: string[];
  /** Further error rules it may report (consequences of the same fault); nothing else. */
  allowed: string[];
}

/**
 * Whether a run shows VIP traffic that skipped the director: nftables picks by source-port
 * parity (scenarios.ts directorBypassed); IPVS's own connection table says which server each
 * client port was sent to, so an answer from another server, or a port the kernel never
 * scheduled, came around it.
 */
export function runBypassed(f: OffloadFixture, connections: readonly ConnectionResult[], ipvsConns: string | null, clientBasePort: number): boolean {
  if (f.director === 'nftables') return directorBypassed(connections);
  const schedule = kernelConnections(ipvsConns ?? '', ADDR.client, clientBasePort, connections.length);
  const ripOf: Record<string, string> = Object.fromEntries(REAL_SERVERS.map((r) => [r.name, r.rip]));
  return connections.some((c) => c.ok && !(schedule[c.localPort] ?? '').startsWith(`${ripOf[c.body] ?? '?'}:`));
}

/** What a correct checker concludes on a fixture's captures (healthy → pass; a fault → its rules). */
export function offloadExpectation(f: OffloadFixture, bypassed: boolean): OffloadExpectation {
  const faults = parseLabFaults(f.director, f.mode, f.faults);
  if (faults.rs.length === 0 && faults.director.length === 0) return { verdict: 'pass', rules: [], allowed: [] };
  const rules = new Set<string>();
  const allowed = new Set<string>();
  for (const x of faults.rs) {
    for (const r of RS_FAULTS[x.kind].rules) rules.add(r);
    for (const r of CONSEQUENCES[x.kind] ?? []) allowed.add(r);
    if (x.kind === 'arp_ignore=0' || x.kind === 'arp_announce=0') for (const r of WHEN_BYPASSED) (bypassed ? rules : allowed).add(r);
  }
  return { verdict: 'fail', rules: [...rules], allowed: [...allowed].filter((r) => !rules.has(r)) };
}

/** What tshark reads in one capture (the README's observation table). */
export interface CaptureObservation {
  packets: number;
  tcp: number;
  /** TCP packets longer than an Ethernet MTU (IP total length > 1500) this host sent: super-segments. */
  bigSent: number;
  /** … that this host received: GRO-merged packets (or super-segments handed on whole by veth). */
  bigReceived: number;
  maxIpLen: number;
  /** TCP checksums tshark (tcp.check_checksum on) calls bad. */
  badChecksum: number;
  /** Of those, the ones equal to the pseudo-header sum of their packet: partial (TX offload). */
  partialChecksum: number;
}

/** The folded, uncomplemented pseudo-header sum a TX-offload stack leaves in the TCP checksum. */
export function pseudoHeaderSum(src: string, dst: string, tcpLen: number): number {
  let sum = 6 + tcpLen;
  for (const a of [src, dst]) {
    const b = a.split('.').map(Number);
    sum += ((b[0]! << 8) | b[1]!) + ((b[2]! << 8) | b[3]!);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * Read a capture with tshark as an oracle independent of our decoder. `ownMacs`: the capture
 * point's own MACs (a packet from one of them was sent by this host); a LINUX_SLL2 capture says
 * the direction itself (packet type 4, outgoing). Encapsulated (IPIP) packets are judged by
 * their inner header, which the TCP checksum covers.
 */
export function observeCapture(file: string, ownMacs: readonly string[]): CaptureObservation {
  const r = spawnSync(
    'tshark',
    ['-r', file, '-n', '-o', 'tcp.check_checksum:TRUE', '-T', 'fields', '-E', 'occurrence=l',
      '-e', 'sll.pkttype', '-e', 'eth.src', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'ip.len', '-e', 'ip.hdr_len',
      '-e', 'tcp.checksum', '-e', 'tcp.checksum.status', '-e', 'frame.protocols'],
    { encoding: 'utf8', maxBuffer: 1 << 28 },
  );
  if (r.status !== 0) throw new Error(`tshark -r ${file} failed: ${r.stderr}`);
  const o: CaptureObservation = { packets: 0, tcp: 0, bigSent: 0, bigReceived: 0, maxIpLen: 0, badChecksum: 0, partialChecksum: 0 };
  for (const line of r.stdout.split('\n')) {
    if (line.length === 0) continue;
    o.packets++;
    const [pkttype, ethSrc, src, dst, ipLen, hdrLen, check, status, protocols] = line.split('\t');
    if (!(protocols ?? '').split(':').includes('tcp')) continue;
    o.tcp++;
    // The outer header's length for an IPIP packet is the inner one plus 20: both over 1500 or not.
    const len = Number(ipLen);
    o.maxIpLen = Math.max(o.maxIpLen, len);
    const sent = pkttype ? pkttype === '4' : ownMacs.includes(ethSrc ?? '');
    if (len > 1500) {
      if (sent) o.bigSent++;
      else o.bigReceived++;
    }
    if (status === '0') {
      o.badChecksum++;
      if (Number.parseInt(check ?? '', 16) === pseudoHeaderSum(src!, dst!, len - Number(hdrLen))) o.partialChecksum++;
    }
  }
  return o;
}

/** The MACs of the interface a capture point is on (point names of sequence.ts). */
export function pointMacs(point: string, mode: LabMode): string[] {
  switch (point) {
    case 'client':
      return [MAC.client];
    case 'rs1':
      return [MAC.rs1];
    case 'rs2':
      return [MAC.rs2];
    case 'director':
      return [MAC.directorWan, MAC.directorLan];
    case 'router':
      return mode === 'nat' ? [MAC.gwLan] : [MAC.routerLan];
    default:
      return [];
  }
}

/** What a lab run left in its case directory (case.json of sequence.ts), as far as fixtures need it. */
export interface OffloadRun {
  case: LabCase;
  captures: Record<string, string>;
  connections: ConnectionResult[];
  serviceConfig: string;
  clientBasePort: number;
  offloadState: Record<string, DeviceOffloads> | null;
  shape: { offloads: LabOffloads; responseBytes: number };
  facts: Record<string, unknown>;
}

export function readOffloadRun(dir: string): OffloadRun {
  const saved = JSON.parse(readFileSync(join(dir, 'case.json'), 'utf8')) as OffloadRun;
  // The guest of the VM lab wrote guest paths: the files are in `dir` all the same.
  const captures: Record<string, string> = {};
  for (const point of Object.keys(saved.captures)) captures[point] = join(dir, `${point}.pcap`);
  return { ...saved, captures };
}

const POINT_TEXT: Record<string, string> = {
  client: 'client eth0 (host offloads)',
  router: 'router LAN leg eth1 (forwarder: GRO in, software GSO out)',
  director: 'director (kernel: GRO in, software GSO out); NAT: `-i any` LINUX_SLL2, both legs; DR/TUN: eth0, its one leg',
  rs1: 'rs1 eth0 (host offloads)',
  rs2: 'rs2 eth0 (host offloads)',
};

function onOff(d: DeviceOffloads): string {
  return `tx ${d.tx ? 'on' : 'off'}, tso ${d.tso ? 'on' : 'off'}, gso ${d.gso ? 'on' : 'off'}, gro ${d.gro ? 'on' : 'off'}`;
}

function directorText(f: OffloadFixture, kernel: string | null): string {
  if (f.director === 'ipvs') {
    return `real IPVS (\`ipvsadm -R\` of service.conf, kernel ${kernel ?? '?'}) in the lab VM (QEMU), profile \`linux\``;
  }
  return f.mode === 'nat'
    ? 'the host kernel\'s nftables: `dnat` to numgen inc mod 2 {RIP1, RIP2}:8080 with conntrack, profile `linux`'
    : 'the host kernel\'s nftables: netdev ingress rewrites the MACs and `fwd`s the frame back out (rs by client port parity), profile `linux-legacy` (TTL unchanged)';
}

export interface OffloadFixtureDoc {
  fixture: OffloadFixture;
  run: OffloadRun;
  expected: OffloadExpectation;
  observed: Record<string, CaptureObservation>;
  /** Capture file names in the fixture directory, by point. */
  files: Record<string, string>;
  /** Their sizes. */
  bytes: Record<string, number>;
  kernel: string | null;
}

function lvsauditCommand(d: OffloadFixtureDoc): string {
  const rs = REAL_SERVERS.filter((r) => d.files[r.name]).map((r) => `--rs-capture ${r.rip}=${d.files[r.name]}`);
  return `lvsaudit verify --config service.conf --profile ${d.run.case.profile} --client ${d.files.client} --director ${d.files.director} ${rs.join(' ')}`;
}

export function offloadReadme(d: OffloadFixtureDoc): string {
  const { fixture: f, run, expected } = d;
  const L: string[] = [];
  L.push(`# ${f.name}: ${f.title}`, '');
  L.push(
    `Mode ${f.mode.toUpperCase()}, service VIP ${vipOf(f.mode)}:${ADDR.port} → rs1/rs2 :${rportOf(f.mode)} (service.conf); director: ${directorText(f, d.kernel)}.`,
    `Faults: ${f.faults.length ? f.faults.map((x) => `\`${x}\``).join(', ') : 'none'}.`,
    '',
  );
  L.push('## Expected verdict', '');
  if (expected.verdict === 'pass') {
    L.push('**pass**: no error finding. Super-segments, partial TCP checksums and GRO-merged packets are what every capture of a host with default offloads shows; none of them is a fault.', '');
  } else {
    L.push(`**fail** with exactly these error rules: ${expected.rules.map((r) => `\`${r}\``).join(', ')}${expected.allowed.length ? `; a checker may also report their consequences ${expected.allowed.map((r) => `\`${r}\``).join(', ')}` : ''}, and nothing else (in particular no \`checksum.l4\` and no \`flow.lost-in-transit\`: those would be offload artifacts).`, '');
  }
  if (f.faults.some((x) => x.includes('arp_ignore'))) {
    L.push(
      `Which ARP reply the router keeps is a race. In this run the director was ${
        expected.rules.includes('flow.bypassed-director') ? 'bypassed (rs1 won: VIP traffic went straight to rs1), so `arp.client-poisoned` and `flow.bypassed-director` are required' : 'not bypassed (the director\'s reply won), so the poisoning rules may but need not appear'
      }.`,
      '',
    );
  }
  L.push('## How it was made', '');
  L.push(
    `\`node scripts/offload-fixtures.mjs ${f.name}\`, i.e. \`lvsaudit lab run --director ${f.director} --mode ${f.mode}${f.faults.map((x) => ` --fault ${x}`).join('')} --offloads on --connections ${run.case.connections}\`:`,
    `real Linux TCP stacks in network namespaces${f.director === 'ipvs' ? ' inside the QEMU VM (the Debian kernel with IPVS)' : ' on the host kernel'}; the client makes ${run.case.connections} sequential`,
    `HTTP/1.0 connections (local ports ${run.clientBasePort}+i), each answered with ${run.shape.responseBytes} bytes (numbered lines, so every segment's payload differs).`,
    'tcpdump -U -s 0 -B 65536 at every point, stopped once its file is quiet; the run fails if tcpdump reports a packet dropped by the kernel, so nothing is missing from the captures.',
    'Captures are gzip\'d (lvsaudit reads them as they are).',
    ...(f.director === 'ipvs'
      ? [
          'ipvsadm-conns.txt, ipvsadm-stats.txt, ipvsadm-list.txt: the kernel\'s own tables after the run (`ipvsadm -Lnc`, `-Ln --stats`, `-Ln`);',
          'cases of one mode share a VM lab session, so the connection table also lists the earlier cases\' client ports.',
        ]
      : []),
    '',
    'Offloads (`ethtool -k` as the kernel reported them after the lab was set up; sequence.ts offloadPlan):',
    '',
  );
  const state = run.offloadState ?? {};
  for (const key of Object.keys(state).sort()) L.push(`- ${key}: ${onOff(state[key]!)}`);
  L.push(
    '',
    'Senders (client, real servers) have TX checksum offload, TSO/GSO and GRO; forwarders (the kernel director, the router) have GRO in and TSO off with GSO on, so',
    'they cut the super-segments in software after GRO merged them; bridge ports act as a switch (TSO and GRO off: wire-size segments).',
    '',
  );
  L.push('## What tshark sees in these captures', '');
  L.push(
    '`tshark -o tcp.check_checksum:TRUE`; "big" = TCP packets with IP total length > 1500 (no Ethernet frame carries them), split by whether this host sent (super-segment) or received (GRO-merged) them; "partial" = bad checksums equal to the pseudo-header sum of their own packet (TX checksum offload, capture-artifacts.md §1).',
    '',
    '| point | file | bytes | packets | TCP | big sent | big received | max IP length | bad TCP checksum | of them partial | what |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const point of Object.keys(d.files).sort()) {
    const o = d.observed[point]!;
    L.push(`| ${point} | ${d.files[point]} | ${d.bytes[point] ?? ''} | ${o.packets} | ${o.tcp} | ${o.bigSent} | ${o.bigReceived} | ${o.maxIpLen} | ${o.badChecksum} | ${o.partialChecksum} | ${POINT_TEXT[point] ?? ''} |`);
  }
  L.push('');
  L.push('## Client outcome (this run)', '', '| local port | ok | answered by | body bytes | error |', '|---|---|---|---|---|');
  for (const c of run.connections) L.push(`| ${c.localPort} | ${c.ok} | ${c.body || '-'} | ${c.bytes ?? '-'} | ${c.error ?? ''} |`);
  L.push('', '## Check it', '', '```', lvsauditCommand(d), '```', '');
  return L.join('\n');
}

export function offloadExpectedJson(d: OffloadFixtureDoc): Record<string, unknown> {
  const { fixture: f, run } = d;
  return {
    fixture: f.name,
    director: f.director,
    mode: f.mode,
    faults: f.faults,
    profile: run.case.profile,
    offloads: run.shape.offloads,
    responseBytes: run.shape.responseBytes,
    verdict: d.expected.verdict,
    rules: d.expected.rules,
    allowed: d.expected.allowed,
    vip: `${vipOf(f.mode)}:${ADDR.port}`,
    realServers: Object.fromEntries(REAL_SERVERS.map((r) => [r.name, `${r.rip}:${rportOf(f.mode)}`])),
    captures: d.files,
    observed: d.observed,
    offloadState: run.offloadState,
    connections: run.connections,
  };
}

/**
 * Turn the case directory of a lab run into fixture directory `<root>/<name>/`: gzip'd captures,
 * service.conf, the director's own facts (ipvsadm outputs), expected.json and README.md.
 */
export function writeOffloadFixture(f: OffloadFixture, runDir: string, root: string, kernel: string | null = null): OffloadFixtureDoc {
  const run = readOffloadRun(runDir);
  const dir = join(root, f.name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const files: Record<string, string> = {};
  const bytes: Record<string, number> = {};
  const observed: Record<string, CaptureObservation> = {};
  for (const [point, file] of Object.entries(run.captures)) {
    const name = `${point}.pcap.gz`;
    writeFileSync(join(dir, name), gzipSync(readFileSync(file), { level: 9 }));
    files[point] = name;
    bytes[point] = statSync(join(dir, name)).size;
    observed[point] = observeCapture(join(dir, name), pointMacs(point, f.mode));
  }
  writeFileSync(join(dir, 'service.conf'), run.serviceConfig);
  for (const extra of readdirSync(runDir).filter((x) => /^ipvsadm-.*\.txt$/.test(x))) copyFileSync(join(runDir, extra), join(dir, extra));
  const ipvsConns = existsSync(join(runDir, 'ipvsadm-conns.txt')) ? readFileSync(join(runDir, 'ipvsadm-conns.txt'), 'utf8') : null;
  const expected = offloadExpectation(f, runBypassed(f, run.connections, ipvsConns, run.clientBasePort));
  const doc: OffloadFixtureDoc = { fixture: f, run, expected, observed, files, kernel, bytes };
  writeFileSync(join(dir, 'README.md'), offloadReadme(doc));
  writeFileSync(join(dir, 'expected.json'), `${JSON.stringify(offloadExpectedJson(doc), null, 2)}\n`);
  return doc;
}

/** Index README for fixtures/offload (from each committed fixture's expected.json). */
export function offloadFixturesIndex(root: string): string {
  const L = [
    '# Real-kernel captures with production offloads',
    '',
    'Made by `node scripts/offload-fixtures.mjs [NAME...]` (root, iproute2, nftables, tcpdump, ethtool, tshark; the ipvs ones also',
    'qemu-system-x86, linux-image-amd64, busybox-static, ipvsadm; build first). Each is `lvsaudit lab run --offloads on`: the lab',
    'of fixtures/lab with a host\'s default offloads on the veths (TSO/GSO and TX checksum offload on senders, GRO on receivers, the',
    `forwarders segmenting in software) and ${OFFLOAD_RESPONSE_BYTES}-byte responses, ${OFFLOAD_CONNECTIONS} connections per case.`,
    'So the captures hold super-segments, partial TCP checksums and GRO-merged packets, as production captures do',
    '(../../../shared/spec/capture-artifacts.md). Expected verdicts are what a correct checker concludes: healthy → pass, a fault →',
    'exactly its rules (plus the listed consequences). Each README has the tshark observations of its captures.',
    '',
    '| fixture | director | mode | faults | profile | expected | rules | super-segments sent | GRO-merged received | partial checksums |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  const totals = { bad: 0, partial: 0 };
  for (const f of OFFLOAD_FIXTURES) {
    const file = join(root, f.name, 'expected.json');
    if (!existsSync(file)) continue;
    const e = JSON.parse(readFileSync(file, 'utf8')) as { profile: string; verdict: string; rules: string[]; allowed: string[]; observed: Record<string, CaptureObservation> };
    const obs = Object.values(e.observed);
    const sum = (k: keyof CaptureObservation): number => obs.reduce((a, o) => a + o[k], 0);
    const rules = [...e.rules, ...e.allowed.map((r) => `(${r})`)].join(', ');
    totals.bad += sum('badChecksum');
    totals.partial += sum('partialChecksum');
    L.push(`| [${f.name}](${f.name}/README.md) | ${f.director} | ${f.mode} | ${f.faults.join(', ') || 'none'} | ${e.profile} | ${e.verdict} | ${rules} | ${sum('bigSent')} | ${sum('bigReceived')} | ${sum('partialChecksum')}/${sum('badChecksum')} |`);
  }
  L.push('', 'Rules in parentheses: consequences of the same fault a checker may report. Counts over all capture points of the fixture.', '');
  if (totals.bad > 0) {
    L.push(`Every TCP checksum tshark calls bad in these captures is the partial pseudo-header sum: ${totals.partial} of ${totals.bad}. Super-segments appear only where a host sends (the real servers), GRO-merged packets only where a host or a forwarder receives.`, '');
  }
  return L.join('\n');
}

/** Fixture dirs present under `root` (for FIXTURES_READY and the index). */
export function presentOffloadFixtures(root: string): string[] {
  return OFFLOAD_FIXTURES.filter((f) => existsSync(join(root, f.name, 'expected.json'))).map((f) => f.name);
}
