/**
 * scapy as an independent oracle for built packets (test support for test/replay/scapy*.test.ts).
 *
 * One python call dissects a batch of packets and, for each, rebuilds it with every length and
 * checksum field deleted so scapy recomputes them: if scapy's rebuilt bytes equal ours, scapy agrees
 * with every length and checksum we wrote. Layers quoted inside ICMP errors (scapy's *error classes)
 * keep their fields: a router may cut the quote, so their lengths are not meant to match the bytes.
 */
import { spawnSync } from 'node:child_process';

const PY = String.raw`
import sys, json
from scapy.all import Ether, IP, IPv6, CookedLinux, raw, defragment, defragment6, NoPayload, conf
from scapy.layers.l2 import CookedLinuxV2
from scapy.fields import FlagValue

# Application dissectors (DNS on 53 …) would re-encode payloads their own way: keep payloads Raw.
from scapy.layers.inet import TCP, UDP
TCP.payload_guess = []
UDP.payload_guess = []

AUTO = ('chksum', 'cksum', 'len', 'plen', 'ihl', 'dataofs')

def js(v):
    if isinstance(v, FlagValue): return str(v)
    if isinstance(v, bytes): return v.hex()
    if isinstance(v, bool) or v is None or isinstance(v, (int, float, str)): return v
    if isinstance(v, (list, tuple)): return [js(x) for x in v]
    if hasattr(v, 'fields_desc'): return {'layer': v.__class__.__name__, 'fields': {f.name: js(v.getfieldval(f.name)) for f in v.fields_desc}}
    try: return int(v)
    except Exception: return str(v)

def layers(p):
    out = []
    l = p
    while l is not None and not isinstance(l, NoPayload):
        out.append(l)
        l = l.payload
    return out

def dissect(h, link):
    b = bytes.fromhex(h)
    if link == 1: return Ether(b)
    if link == 113: return CookedLinux(b)
    if link == 276: return CookedLinuxV2(b)
    return IP(b) if b[0] >> 4 == 4 else IPv6(b)

def rebuilt(p, ip_only):
    q = p.copy()
    for l in layers(q):
        l.raw_packet_cache = None
        name = l.__class__.__name__
        if 'error' in name.lower(): break
        if ip_only and name not in ('IP', 'IPv6'): continue
        for f in AUTO:
            if f not in l.fields: continue
            if name == 'UDP' and f == 'chksum' and l.chksum == 0: continue  # 0 = no checksum
            delattr(l, f)
    return raw(q).hex()

res = []
for item in json.load(sys.stdin):
    p = dissect(item['hex'], item['link'])
    r = {'layers': [{'name': l.__class__.__name__, 'fields': {f.name: js(l.getfieldval(f.name)) for f in l.fields_desc}} for l in layers(p)]}
    r['rebuilt'] = rebuilt(p, item.get('ipOnly', False))
    res.append(r)
    if item.get('defrag'):
        frags = [IP(bytes.fromhex(x)) for x in item['defrag']]
        r['defragmented'] = [raw(x).hex() for x in defragment(frags)]
    if item.get('defrag6'):
        r['defragmented6'] = raw(defragment6([IPv6(bytes.fromhex(x)) for x in item['defrag6']])).hex()
json.dump(res, sys.stdout)
`;

export interface ScapyItem {
  hex: string;
  link: number;
  /** Only let scapy recompute IP-layer fields (fragments: the L4 header is not all there). */
  ipOnly?: boolean;
  /** Raw IP fragments to reassemble with scapy's defragment(). */
  defrag?: string[];
  /** Raw IPv6 fragments to reassemble with scapy's defragment6(). */
  defrag6?: string[];
}

export interface ScapyLayer {
  name: string;
  fields: Record<string, unknown>;
}

export interface ScapyResult {
  layers: ScapyLayer[];
  rebuilt: string;
  defragmented?: string[];
  defragmented6?: string;
}

let pythonCache: string | null | undefined;

/** A python3 that can import scapy (pyenv shims may hide the system one), or null. */
export function scapyPython(): string | null {
  if (pythonCache !== undefined) return pythonCache;
  pythonCache = null;
  for (const cand of ['python3', '/usr/bin/python3']) {
    const r = spawnSync(cand, ['-c', 'import scapy.all'], { stdio: 'ignore' });
    if (r.status === 0) {
      pythonCache = cand;
      break;
    }
  }
  return pythonCache;
}

export function scapyDissect(items: ScapyItem[]): ScapyResult[] {
  const py = scapyPython();
  if (!py) throw new Error('no python3 with scapy');
  const r = spawnSync(py, ['-c', PY], { input: JSON.stringify(items), maxBuffer: 64 << 20, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`scapy failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as ScapyResult[];
}

/** The n-th layer called `name` (0-based), or a thrown error listing what scapy saw. */
export function layer(res: ScapyResult, name: string, nth = 0): Record<string, unknown> {
  const found = res.layers.filter((l) => l.name === name);
  const l = found[nth];
  if (!l) throw new Error(`scapy saw no ${name}#${nth}; layers: ${res.layers.map((x) => x.name).join('/')}`);
  return l.fields;
}
