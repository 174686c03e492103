/**
 * scapy as a second, independent oracle for the encapsulation fixtures (tshark is the first,
 * tshark.test.ts): scapy dissects each frame, and the sequence of layers it finds — Ethernet,
 * VLAN, MPLS, IP/IPv6, TCP/UDP, GRE (v0 and PPTP's v1), PPP, ERSPAN II/III, VXLAN, Geneve — with
 * their fields must equal what `decode --json` says, level by level.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { decodeBytes } from '../../src/decode/decoder.js';
import { LinkType } from '../../src/decode/frame.js';
import { JsonPrinter } from '../../src/decode/print/json.js';
import { scapyPython } from '../replay/scapy-oracle.js';
import { encapFixtures, GUE_TEST_PORT } from './encap-fixtures.js';

const PY = String.raw`
import sys, json
from scapy.all import Ether, Dot1Q, IP, IPv6, TCP, UDP, bind_layers, NoPayload
from scapy.layers.l2 import GRE, GRE_PPTP
from scapy.layers.ppp import PPP
from scapy.layers.vxlan import VXLAN
from scapy.contrib.mpls import MPLS
from scapy.contrib.geneve import GENEVE
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III
TCP.payload_guess = []
gue_port = int(sys.argv[1])
bind_layers(UDP, IP, dport=gue_port)
bind_layers(UDP, GRE, dport=4754)
UDP.payload_guess = [g for g in UDP.payload_guess if g[1] in (IP, GRE, VXLAN, GENEVE)]

KEEP = {
  'Ether': ('src', 'dst'), 'Dot1Q': ('vlan',), 'MPLS': ('label', 'cos', 's', 'ttl'),
  'IP': ('src', 'dst', 'ttl', 'id'), 'IPv6': ('src', 'dst', 'hlim'),
  'TCP': ('sport', 'dport', 'seq', 'ack'), 'UDP': ('sport', 'dport'),
  'GRE': ('key', 'sequence_number', 'chksum'), 'GRE_PPTP': ('call_id', 'sequence_number', 'ack_number'),
  'PPP': ('proto',), 'ERSPAN_II': ('session_id', 'vlan', 'index'), 'ERSPAN_III': ('session_id', 'vlan', 'sgt_other'),
  'VXLAN': ('vni',), 'GENEVE': ('vni', 'optionlen', 'proto'),
}
out = []
for h in json.load(sys.stdin):
    p = Ether(bytes.fromhex(h))
    seq = []
    l = p
    while l is not None and not isinstance(l, NoPayload):
        n = l.__class__.__name__
        if n in KEEP:
            f = {}
            for k in KEEP[n]:
                v = l.getfieldval(k)
                if v is None: continue
                f[k] = v if isinstance(v, (int, str)) else int(v)
            seq.append([n, f])
        l = l.payload
    out.append(seq)
print(json.dumps(out))
`;

/** The members of one `decode --json` level object this test reads (docs/cli.md). */
interface Json {
  eth?: { src: string; dst: string };
  vlan?: Array<{ id: number }>;
  mpls?: Array<{ label: number; tc: number; s: number; ttl: number }>;
  ipv4?: { src: string; dst: string; ttl: number; id: number };
  ipv6?: { src: string; dst: string; hlim: number };
  tcp?: { sport: number; dport: number; seq: number; ack: number };
  udp?: { sport: number; dport: number };
  gre?: { version: number; callId: number; seq: number | null; ack: number | null; ppp: number | null; key: number | null; checksum: number | null };
  erspan?: { type: number; session: number; vlan: number; index: number; sgt: number };
  vxlan?: { vni: number };
  geneve?: { vni: number; optLen: number; proto: number };
  inner?: Json;
}
type Layer = [string, Record<string, number | string>];

/** Our decode as scapy's layer sequence (same names and field names). */
function ourLayers(o: Json): Layer[] {
  const seq: Layer[] = [];
  for (let c: Json | undefined = o; c; c = c.inner) {
    if (c.eth) seq.push(['Ether', { src: c.eth.src, dst: c.eth.dst }]);
    for (const v of c.vlan ?? []) seq.push(['Dot1Q', { vlan: v.id }]);
    for (const m of c.mpls ?? []) seq.push(['MPLS', { label: m.label, cos: m.tc, s: m.s, ttl: m.ttl }]);
    if (c.ipv4) seq.push(['IP', { src: c.ipv4.src, dst: c.ipv4.dst, ttl: c.ipv4.ttl, id: c.ipv4.id }]);
    if (c.ipv6) seq.push(['IPv6', { src: c.ipv6.src, dst: c.ipv6.dst, hlim: c.ipv6.hlim }]);
    if (c.tcp) seq.push(['TCP', { sport: c.tcp.sport, dport: c.tcp.dport, seq: c.tcp.seq, ack: c.tcp.ack }]);
    if (c.udp) seq.push(['UDP', { sport: c.udp.sport, dport: c.udp.dport }]);
    const g = c.gre;
    if (g && g.version === 1) {
      const f: Record<string, number> = { call_id: g.callId };
      if (g.seq !== null) f.sequence_number = g.seq;
      if (g.ack !== null) f.ack_number = g.ack;
      seq.push(['GRE_PPTP', f]);
      if (g.ppp !== null) seq.push(['PPP', { proto: g.ppp }]);
    } else if (g) {
      const f: Record<string, number> = {};
      if (g.key !== null) f.key = g.key;
      if (g.seq !== null) f.sequence_number = g.seq;
      if (g.checksum !== null) f.chksum = g.checksum;
      seq.push(['GRE', f]);
    }
    const e = c.erspan;
    if (e) seq.push(e.type === 2 ? ['ERSPAN_II', { session_id: e.session, vlan: e.vlan, index: e.index }] : ['ERSPAN_III', { session_id: e.session, vlan: e.vlan, sgt_other: e.sgt }]);
    if (c.vxlan) seq.push(['VXLAN', { vni: c.vxlan.vni }]);
    if (c.geneve) seq.push(['GENEVE', { vni: c.geneve.vni, optionlen: c.geneve.optLen / 4, proto: c.geneve.proto }]);
  }
  return seq;
}

const py = scapyPython();

describe('encapsulation fixtures: decode --json against scapy, layer by layer', () => {
  it.skipIf(py === null)('every level of every fixture has scapy’s layers and fields', () => {
    const fx = encapFixtures();
    const r = spawnSync(py!, ['-c', PY, String(GUE_TEST_PORT)], { input: JSON.stringify(fx.map((f) => f.frame.toString('hex'))), encoding: 'utf8', maxBuffer: 16 << 20 });
    expect(r.status, r.stderr).toBe(0);
    const theirs = JSON.parse(r.stdout) as Layer[][];
    const printer = new JsonPrinter();
    let levels = 0;
    fx.forEach((f, i) => {
      const p = decodeBytes(f.frame, LinkType.ETHERNET, { guePorts: [GUE_TEST_PORT] });
      expect(p.malformed.present || p.truncated !== null, f.name).toBe(false);
      levels += p.depth;
      const mine = ourLayers(JSON.parse(printer.format(p)) as Json);
      expect(mine, f.name).toEqual(theirs[i]);
    });
    expect(levels).toBeGreaterThanOrEqual(fx.length);
  });
});
