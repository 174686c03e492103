/**
 * DPVS's UOA (lvs-behavior.md §3.3) in the decoder: the IPv4 option (`ipo`) and the protocol-248
 * shim (`opp`), IPv4 and IPv6 client addresses. Two oracles: scapy builds and dissects the frames
 * (its IP option list for `ipo`; the shim's fields and the UDP behind it for `opp`), and tshark
 * shows the raw option / shim bytes at their offsets. Malformed shims and options are notes
 * naming layer and offset; random bytes never throw.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBytes } from '../../src/decode/decoder.js';
import { compileFilter } from '../../src/decode/filter.js';
import { LinkType } from '../../src/decode/frame.js';
import { UoaMode } from '../../src/decode/packet.js';
import { JsonPrinter } from '../../src/decode/print/json.js';
import { TextPrinter } from '../../src/decode/print/text.js';
import { DecodeSummary, type ProtocolCount } from '../../src/decode/summary.js';
import { scapyPython } from '../replay/scapy-oracle.js';
import { eth, ip4, ip6, ipv4, ipv6, udp } from './build.js';
import { readLite } from './pcap-lite.js';

/** scapy builds each case, writes them to argv[1] as a pcap, and prints what it dissects back. */
const PY = String.raw`
import sys, json, struct, socket
from scapy.all import Ether, IP, IPv6, UDP, IPOption, Raw, wrpcap, raw
UDP.payload_guess = []

def uoa(port, addr):
    fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
    a = socket.inet_pton(fam, addr)
    return bytes([31, 4 + len(a)]) + struct.pack('!H', port) + a

def shim(version, opt):
    return bytes([version << 4, 17]) + struct.pack('!H', 4 + len(opt)) + opt

cases = []
def udp_bytes(sport, dport, data, src, dst, v6):
    # DPVS leaves an IPv4 opp datagram's UDP checksum 0 and computes the IPv6 one over the UDP
    # pseudo-header (ip_vs_proto_udp.c udp_send_csum); scapy computes the same for IPv6.
    if v6:
        return raw(IPv6(src=src, dst=dst) / UDP(sport=sport, dport=dport) / data)[40:]
    return raw(UDP(sport=sport, dport=dport, chksum=0) / data)

cases.append(('ipo-v4', Ether() / IP(src='10.0.0.100', dst='10.0.1.11', options=[IPOption(uoa(40123, '198.51.100.7'))]) / UDP(sport=1025, dport=5353) / b'query'))
cases.append(('ipo-after-nop', Ether() / IP(src='10.0.0.101', dst='10.0.1.12', options=[IPOption(b'\x01\x01\x01\x01'), IPOption(uoa(53, '203.0.113.9'))]) / UDP(sport=1026, dport=53) / (b'x' * 40)))
u = udp_bytes(1025, 5353, b'hello', '10.0.0.100', '10.0.1.11', False)
cases.append(('opp-v4', Ether() / IP(src='10.0.0.100', dst='10.0.1.11', proto=248) / Raw(shim(1, uoa(40001, '198.51.100.7')) + u)))
u = udp_bytes(1027, 8053, b'over six', '2001:db8:1::100', '2001:db8:2::11', True)
cases.append(('opp-v6', Ether() / IPv6(src='2001:db8:1::100', dst='2001:db8:2::11', nh=248) / Raw(shim(2, uoa(40002, '2001:db8:ffff::7')) + u)))
u = udp_bytes(1028, 53, b'nat64', '10.0.0.100', '10.0.1.11', False)
cases.append(('opp-nat64', Ether() / IP(src='10.0.0.100', dst='10.0.1.11', proto=248) / Raw(shim(2, uoa(40003, '2001:db8:ffff::8')) + u)))

out = []
for name, p in cases:
    q = Ether(raw(p))
    ipl = q[IP] if IP in q else q[IPv6]
    exp = {'name': name, 'frame': raw(p).hex()}
    if IP in q and q[IP].options:
        opt = [o for o in q[IP].options if o.option == 31][0]
        v = bytes(opt.value)
        exp.update(mode='ipo', code=opt.option, len=opt.length, port=struct.unpack('!H', v[:2])[0], addr=socket.inet_ntop(socket.AF_INET, v[2:]))
        ud = q[UDP]
    else:
        body = bytes(ipl.payload)
        ver, proto, slen = body[0] >> 4, body[1], struct.unpack('!H', body[2:4])[0]
        o = body[4:slen]
        fam = socket.AF_INET6 if o[1] == 20 else socket.AF_INET
        exp.update(mode='opp', code=o[0], len=o[1], port=struct.unpack('!H', o[2:4])[0], addr=socket.inet_ntop(fam, o[4:o[1]]),
                   shim={'version': ver, 'proto': proto, 'len': slen})
        ud = UDP(body[slen:])
    exp['udp'] = {'sport': ud.sport, 'dport': ud.dport, 'len': ud.len, 'checksum': ud.chksum}
    out.append(exp)
wrpcap(sys.argv[1], [p for _, p in cases])
print(json.dumps(out))
`;

interface Expected {
  name: string;
  frame: string;
  mode: 'ipo' | 'opp';
  code: number;
  len: number;
  port: number;
  addr: string;
  shim?: { version: number; proto: number; len: number };
  udp: { sport: number; dport: number; len: number; checksum: number };
}
interface UoaJson {
  mode: string;
  code: number | null;
  len: number | null;
  port: number | null;
  addr: string | null;
  shim?: { version: number; rsvd: number; proto: number; len: number };
}
interface FrameJson {
  udp?: { sport: number; dport: number; len: number; checksum: number; checksumOk: boolean };
  uoa?: UoaJson;
  malformed: { layer: string; offset: number; reason: string } | null;
}

const py = scapyPython();
const hasTshark = spawnSync('tshark', ['-v'], { encoding: 'utf8' }).status === 0;

function scapyCases(): { file: string; cases: Expected[] } {
  const file = join(mkdtempSync(join(tmpdir(), 'lvsaudit-uoa-')), 'uoa.pcap');
  const r = spawnSync(py!, ['-c', PY, file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return { file, cases: JSON.parse(r.stdout) as Expected[] };
}

function decodeJson(frame: Buffer): FrameJson {
  return JSON.parse(new JsonPrinter().format(decodeBytes(frame, LinkType.ETHERNET))) as FrameJson;
}

describe('UOA decode against scapy and tshark', () => {
  it.skipIf(py === null)('every scapy-built UOA frame decodes to scapy’s option, shim and UDP fields', () => {
    const { cases } = scapyCases();
    expect(cases.map((c) => c.name)).toEqual(['ipo-v4', 'ipo-after-nop', 'opp-v4', 'opp-v6', 'opp-nat64']);
    for (const c of cases) {
      const j = decodeJson(Buffer.from(c.frame, 'hex'));
      expect(j.malformed, c.name).toBeNull();
      expect(j.uoa, c.name).toMatchObject({ mode: c.mode, code: c.code, len: c.len, port: c.port, addr: c.addr });
      if (c.shim) expect(j.uoa!.shim, c.name).toEqual({ ...c.shim, rsvd: 0 });
      else expect(j.uoa!.shim, c.name).toBeUndefined();
      expect(j.udp, c.name).toMatchObject(c.udp);
      // IPv4 opp carries checksum 0 ("none"); the others are real and must verify.
      expect(j.udp!.checksumOk, c.name).toBe(true);
    }
  });

  it.skipIf(py === null || !hasTshark)('tshark shows the option (code 0x1f) and the shim bytes where the decoder found them', () => {
    const { file, cases } = scapyCases();
    const pdml = spawnSync('tshark', ['-r', file, '-n', '-T', 'pdml'], { encoding: 'utf8', maxBuffer: 64 << 20 }).stdout;
    const packets = pdml.split('<packet>').slice(1);
    expect(packets.length).toBe(cases.length);
    const frames = readLite(readFileSync(file)).frames;
    packets.forEach((pk, i) => {
      const c = cases[i]!;
      const f = frames[i]!;
      const p = decodeBytes(f.buf.subarray(f.off, f.off + f.caplen), LinkType.ETHERNET);
      const u = p.net.uoa;
      if (c.mode === 'ipo') {
        // tshark does not know option 31: it lists it as "Unknown (0x1f)" with its bytes.
        const m = /show="Unknown \(0x1f\) \((\d+) bytes\)" size="(\d+)" pos="(\d+)" value="([0-9a-f]+)"/.exec(pk);
        expect(m, c.name).not.toBeNull();
        expect(Number(m![3]), c.name).toBe(u.optOff - p.off);
        const bytes = Buffer.from(m![4]!, 'hex');
        expect(bytes.readUInt8(0)).toBe(u.code);
        expect(bytes.readUInt8(1)).toBe(u.len);
        expect(bytes.readUInt16BE(2)).toBe(u.port);
        expect(bytes.readUInt32BE(4)).toBe(u.addr4);
      } else {
        expect(pk, c.name).toMatch(/name="(ip\.proto|ipv6\.nxt)"[^>]* show="248"/);
        const m = /name="data.data"[^>]* pos="(\d+)"[^>]* value="([0-9a-f]+)"/.exec(pk);
        expect(m, c.name).not.toBeNull();
        expect(Number(m![1]), c.name).toBe(u.shimOff - p.off);
        const bytes = Buffer.from(m![2]!, 'hex');
        expect(bytes[0]! >> 4).toBe(u.shimVersion);
        expect(bytes[1]).toBe(u.shimProto);
        expect(bytes.readUInt16BE(2)).toBe(u.shimLen);
        expect(bytes.subarray(4, 4 + u.len).equals(p.buf.subarray(u.optOff, u.optOff + u.len))).toBe(true);
        // The UDP header the decoder read starts right after the shim's length.
        expect(bytes.readUInt16BE(u.shimLen)).toBe(p.net.udp.sport);
        expect(p.net.udp.off).toBe(u.shimOff + u.shimLen);
      }
    });
  });
});

const CLIENT = '198.51.100.7';
const uoaOpt = (port: number, addr: number[]): number[] => [31, 4 + addr.length, port >> 8, port & 255, ...addr];
const shimOf = (version: number, opt: number[], proto = 17): number[] => [version << 4, proto, (4 + opt.length) >> 8, (4 + opt.length) & 255, ...opt];
const dgram = udp(1025, 5353, [1, 2, 3]);
const frameOf = (ipBytes: number[]): Buffer => Buffer.from(eth(0x0800, ipBytes));

describe('UOA text and JSON', () => {
  it('text prints `uoa ADDR:PORT [mode]`, IPv6 bracketed', () => {
    const t = new TextPrinter();
    const v4 = decodeBytes(frameOf(ipv4({ proto: 17, options: uoaOpt(40123, ip4(CLIENT)) }, dgram)), LinkType.ETHERNET);
    expect(t.format(v4)).toContain('UDP, length 3, uoa 198.51.100.7:40123 [ipo]');
    const v6 = decodeBytes(Buffer.from(eth(0x86dd, ipv6({ nh: 248 }, [...shimOf(2, uoaOpt(7, ip6('2001:db8::7'))), ...dgram]))), LinkType.ETHERNET);
    expect(t.format(v6)).toContain('UDP, length 3, uoa [2001:db8::7]:7 [opp]');
  });

  it('--summary counts UOA-carrying datagrams below their udp node, either carrier', () => {
    const sum = new DecodeSummary();
    sum.add(decodeBytes(frameOf(ipv4({ proto: 17, options: uoaOpt(1, ip4(CLIENT)) }, dgram)), LinkType.ETHERNET));
    sum.add(decodeBytes(frameOf(ipv4({ proto: 248 }, [...shimOf(1, uoaOpt(2, ip4(CLIENT))), ...dgram])), LinkType.ETHERNET));
    sum.add(decodeBytes(frameOf(ipv4({ proto: 17 }, dgram)), LinkType.ETHERNET));
    const find = (nodes: ProtocolCount[], path: string[]): ProtocolCount | undefined => {
      const n = nodes.find((x) => x.name === path[0]);
      return path.length === 1 || !n ? n : find(n.children, path.slice(1));
    };
    const top = sum.report().protocols;
    expect(find(top, ['eth', 'ipv4', 'udp'])?.packets).toBe(3);
    expect(find(top, ['eth', 'ipv4', 'udp', 'uoa'])?.packets).toBe(2);
  });

  it('a shim without a UOA option is shown as such, its UDP still decoded', () => {
    const j = decodeJson(frameOf(ipv4({ proto: 248 }, [...shimOf(1, []), ...dgram])));
    expect(j.malformed).toBeNull();
    expect(j.uoa).toEqual({ mode: 'opp', code: null, len: null, port: null, addr: null, shim: { version: 1, rsvd: 0, proto: 17, len: 4 } });
    expect(j.udp?.sport).toBe(1025);
  });
});

describe('the uoa filter word', () => {
  it('matches either carrier, by client address and port; tcpdump words keep libpcap byte semantics', () => {
    const ipo = decodeBytes(frameOf(ipv4({ proto: 17, options: uoaOpt(40123, ip4(CLIENT)) }, dgram)), LinkType.ETHERNET);
    const opp = decodeBytes(frameOf(ipv4({ proto: 248 }, [...shimOf(1, uoaOpt(53, ip4('203.0.113.9'))), ...dgram])), LinkType.ETHERNET);
    const v6 = decodeBytes(Buffer.from(eth(0x86dd, ipv6({ nh: 248 }, [...shimOf(2, uoaOpt(7, ip6('2001:db8::7'))), ...dgram]))), LinkType.ETHERNET);
    const plain = decodeBytes(frameOf(ipv4({ proto: 17 }, dgram)), LinkType.ETHERNET);
    const all = { ipo, opp, v6, plain };
    const hits = (expr: string): string[] => {
      const f = compileFilter(expr);
      return Object.entries(all).filter(([, p]) => f(p)).map(([k]) => k);
    };
    expect(hits('uoa')).toEqual(['ipo', 'opp', 'v6']);
    expect(hits('uoa host 198.51.100.7')).toEqual(['ipo']);
    expect(hits('uoa host 2001:db8::7')).toEqual(['v6']);
    expect(hits('uoa port 53')).toEqual(['opp']);
    expect(hits('udp')).toEqual(['ipo', 'plain']);
    expect(hits('proto 248')).toEqual(['opp', 'v6']);
  });
});

describe('UOA malformed: a note naming layer and offset', () => {
  const cases: Array<[string, number[], string, number, RegExp]> = [
    ['shim length below 4', ipv4({ proto: 248 }, [0x10, 17, 0, 2, ...dgram]), 'uoa', 34, /below its 4-byte header/],
    ['shim length beyond payload', ipv4({ proto: 248 }, [0x10, 17, 0, 200, ...dgram]), 'uoa', 34, /beyond the IP payload/],
    ['UOA length 12 in the shim', ipv4({ proto: 248 }, [...shimOf(1, [31, 12, 0, 1, ...ip4(CLIENT), 0, 0, 0, 0]), ...dgram]), 'uoa', 38, /not 8 or 20/],
    ['option running past the shim', ipv4({ proto: 248 }, [0x10, 17, 0, 8, 31, 8, 0, 1, ...dgram]), 'uoa', 38, /runs past/],
    ['IPv4 option length 1', ipv4({ proto: 17, options: [0x44, 1, 0, 0] }, dgram), 'ipv4-options', 34, /below 2/],
    ['UOA length 6 in the IP header', ipv4({ proto: 17, options: [31, 6, 0, 1, 0, 0, 1, 0] }, dgram), 'uoa', 34, /not 8 or 20/],
  ];
  for (const [name, ipBytes, layer, offset, reason] of cases) {
    it(name, () => {
      const j = decodeJson(frameOf(ipBytes));
      expect(j.malformed).not.toBeNull();
      expect(j.malformed!.layer).toBe(layer);
      expect(j.malformed!.offset).toBe(offset);
      expect(j.malformed!.reason).toMatch(reason);
    });
  }
});

describe('UOA shim with options that do not parse', () => {
  it('still hands the UDP after the shim on, as the RS module strips the shim regardless (uoa_opp_rcv)', () => {
    // The option code turned into NOP: the option's length byte (8) is then read as a type
    // whose length, the port's high byte, runs past the shim.
    const j = decodeJson(frameOf(ipv4({ proto: 248 }, [...shimOf(1, [1, 8, 0x9c, 0x41, ...ip4(CLIENT)]), ...dgram])));
    expect(j.malformed).toMatchObject({ layer: 'uoa', offset: 39 });
    expect(j.udp).toBeDefined();
    expect(j.udp!.len).toBe(dgram.length);
    expect(j.uoa).toMatchObject({ mode: 'opp', code: null });
  });
});

describe('UOA properties', () => {
  it('random bytes in the IPv4 options, the shim and the UOA never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 40 }), fc.uint8Array({ minLength: 0, maxLength: 48 }), fc.boolean(), (opts, shim, v6) => {
        const padded = [...opts, ...new Array<number>((4 - (opts.length % 4)) % 4).fill(1)];
        const a = frameOf(ipv4({ proto: 17, options: padded }, dgram));
        const b = v6 ? Buffer.from(eth(0x86dd, ipv6({ nh: 248 }, [...shim, ...dgram]))) : frameOf(ipv4({ proto: 248 }, [...shim, ...dgram]));
        for (const f of [a, b]) {
          const p = decodeBytes(f, LinkType.ETHERNET);
          new JsonPrinter().format(p);
          new TextPrinter().format(p);
          // Cut anywhere: still no throw.
          decodeBytes(f.subarray(0, f.length >> 1), LinkType.ETHERNET, undefined, f.length);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('any client address and port written by either carrier reads back, and the UDP behind it is the same', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.boolean(), fc.constantFrom('ipo', 'opp'), fc.nat(3),
        (port, addr, six, mode, nops) => {
          const a = six ? [...addr] : [...addr.subarray(0, 4)];
          const opt = uoaOpt(port, a);
          let frame: Buffer;
          if (mode === 'ipo') {
            const pre = new Array<number>(nops).fill(1);
            const all = [...pre, ...opt];
            const body = [...all, ...new Array<number>((4 - (all.length % 4)) % 4).fill(0)];
            frame = frameOf(ipv4({ proto: 17, options: body }, dgram));
          } else {
            frame = frameOf(ipv4({ proto: 248 }, [...shimOf(six ? 2 : 1, opt), ...dgram]));
          }
          const p = decodeBytes(frame, LinkType.ETHERNET);
          expect(p.malformed.present).toBe(false);
          const u = p.net.uoa;
          expect(u.mode).toBe(mode === 'ipo' ? UoaMode.IPO : UoaMode.OPP);
          expect(u.port).toBe(port);
          expect(u.family).toBe(six ? 6 : 4);
          expect([...p.buf.subarray(u.addrOff, u.addrOff + a.length)]).toEqual(a);
          expect(p.net.l4).toBe('udp');
          expect([p.net.udp.sport, p.net.udp.dport, p.net.udp.payloadLen]).toEqual([1025, 5353, 3]);
        }),
      { numRuns: 500 },
    );
  });
});
