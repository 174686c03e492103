// `npm run demo`: the main jobs on bundled captures, no root and no network needed.
//  1. decode a FullNAT capture: TOA shown as `toa CIP:CPORT`, which tcpdump and Wireshark cannot do;
//  2. verify a conformant DR deployment captured from real Linux stacks (client, director, 2 RS);
//  3. verify a broken one: a real server with arp_announce=0 poisons the router's ARP cache
//     and steals VIP traffic from the director.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'bin', 'lvsaudit.js');

function run(title, args) {
  const shown = args.join(' ');
  console.log(`\n\x1b[1m## ${title}\x1b[0m\n$ lvsaudit ${shown}\n`);
  const r = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit', cwd: root });
  console.log(`(exit code ${r.status})`);
  return r.status;
}

// Paths relative to the project root (the demo runs there), so output shows short names.
const fx = (...p) => path.join('fixtures', ...p);
const drSet = (dir) => [
  'verify', '--config', fx('lab', dir, 'service.conf'), '--profile', 'linux-legacy',
  '--client', fx('lab', dir, 'client.pcap'), '--director', fx('lab', dir, 'director.pcap'),
  '--rs-capture', `10.0.0.11=${fx('lab', dir, 'rs1.pcap')}`, '--rs-capture', `10.0.0.12=${fx('lab', dir, 'rs2.pcap')}`,
];

const codes = [
  run('Decode a FullNAT (Alibaba profile) real-server capture: the TOA option carries the client address', [
    'decode', '-c', '6', fx('replay', 'fullnat-alibaba', 'rs1.pcap'),
  ]),
  run('Verify a conformant DR deployment (real Linux TCP stacks, nftables DR director)', drSet('dr')),
  run('Verify a DR deployment where rs1 has arp_announce=0 (expect exit 1)', drSet('arp-announce0')),
];
// The demo succeeds when the conformant set passes and the broken one is caught.
process.exitCode = codes[0] === 0 && codes[1] === 0 && codes[2] === 1 ? 0 : 1;
