/**
 * Encapsulation levels: random chains of IPIP/SIT/6in6, GRE (plain, keyed, TEB), GRE-in-UDP,
 * VXLAN, Geneve, GUE and MPLS-in-UDP decode to the same chain of levels, to the innermost
 * ports; deeper than MAX_LEVELS is malformed at the header that would open level 9; a cut
 * anywhere never throws and decodes exactly the levels whose opening bytes were captured.
 * Also: the text and JSON printers show every level, and filters match at any or a chosen depth.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decoder, decodeBytes } from '../../src/decode/decoder.js';
import { compileFilter } from '../../src/decode/filter.js';
import type { Frame } from '../../src/decode/frame.js';
import { LinkType } from '../../src/decode/frame.js';
import { MAX_LEVELS, type Packet } from '../../src/decode/packet.js';
import { JsonPrinter } from '../../src/decode/print/json.js';
import { TextPrinter } from '../../src/decode/print/text.js';
import { DecodeSummary, type ProtocolCount } from '../../src/decode/summary.js';
import { encapFixtures } from '../differential/encap-fixtures.js';
import { eth, ipv4, ipv6, tcp, u16, udp } from './build.js';

type Wrap = 'ip' | 'gre' | 'gre-key' | 'teb' | 'gre-udp' | 'vxlan' | 'geneve' | 'gue' | 'mpls-udp';
const WRAPS: readonly Wrap[] = ['ip', 'gre', 'gre-key', 'teb', 'gre-udp', 'vxlan', 'geneve', 'gue', 'mpls-udp'];

interface Built {
  bytes: number[];
  version: 4 | 6;
  /** Per level, outermost first: the kind the decoder must name and the offset (from the frame
   *  start) the level opens at — every byte before it must be captured for it to open. */
  levels: Array<{ kind: string; need: number; hdrOff: number }>;
}

const ETH_HDR = 14;

function carrier(version: 4 | 6, proto: number, payload: number[]): number[] {
  return version === 4 ? ipv4({ proto, src: '10.0.0.1', dst: '10.0.0.2' }, payload) : ipv6({ nh: proto, src: '2001:db8::1', dst: '2001:db8::2' }, payload);
}

/**
 * The frame for `chain` (outermost wrap first) around a TCP segment to `dport`. Offsets are
 * computed outside-in: a level's header sits after its carrier's IP header (and UDP header).
 */
function build(chain: Array<{ wrap: Wrap; carrier: 4 | 6 }>, innerVersion: 4 | 6, dport: number): Built {
  let cur = innerVersion === 4 ? ipv4({ proto: 6, src: '192.0.2.1', dst: '192.0.2.2' }, tcp({ sport: 1234, dport })) : ipv6({ nh: 6 }, tcp({ sport: 1234, dport }));
  let curV: 4 | 6 = innerVersion;
  const kinds: string[] = [];
  // Per level, bytes between the carrier's IP header start and the opening point / header.
  const rel: Array<{ need: number; hdr: number; ipLen: number }> = [];
  for (let i = chain.length - 1; i >= 0; i--) {
    const { wrap, carrier: cv } = chain[i]!;
    const ipLen = cv === 4 ? 20 : 40;
    const et = curV === 4 ? 0x0800 : 0x86dd;
    const inEth = (): number[] => eth(et, cur);
    let body: number[];
    let proto: number;
    let kind: string;
    let need: number; // bytes after the carrier IP header that open the level
    let hdr: number; // offset of the level's header after the carrier IP header
    switch (wrap) {
      case 'ip':
        proto = curV === 4 ? 4 : 41;
        body = cur;
        kind = cv === 4 ? (curV === 4 ? 'ipip' : 'sit') : curV === 4 ? 'ip6ip' : 'ip6ip6';
        need = 0;
        hdr = 0;
        break;
      case 'gre':
      case 'gre-key':
      case 'teb': {
        proto = 47;
        const teb = wrap === 'teb';
        const head = wrap === 'gre-key' ? [0x30, 0, ...u16(et), 0, 0, 0, 42, 0, 0, 0, 7] : [0, 0, ...u16(teb ? 0x6558 : et)];
        body = [...head, ...(teb ? inEth() : cur)];
        kind = 'gre';
        need = 4;
        hdr = 0;
        break;
      }
      default: {
        proto = 17;
        const port = { 'gre-udp': 4754, vxlan: 4789, geneve: 6081, gue: 6080, 'mpls-udp': 6635 }[wrap];
        const head =
          wrap === 'gre-udp' ? [0, 0, ...u16(et)]
          : wrap === 'vxlan' ? [0x08, 0, 0, 0, 0, 0, 5, 0]
          : wrap === 'geneve' ? [0, 0, 0x65, 0x58, 0, 0, 6, 0]
          : wrap === 'gue' ? [0, curV === 4 ? 4 : 41, 0, 0]
          : [0, 0, 0x11, 9]; // MPLS label 0… bottom of stack, ttl 9
        const inner = wrap === 'vxlan' || wrap === 'geneve' ? inEth() : cur;
        body = udp(40000 + i, port, [...head, ...inner]);
        kind = wrap;
        need = 8 + head.length;
        hdr = 8;
        if (wrap === 'gue' || wrap === 'gre-udp' || wrap === 'mpls-udp') need = 8 + 4;
      }
    }
    cur = carrier(cv, proto, body);
    curV = cv;
    kinds.unshift(kind);
    rel.unshift({ need, hdr, ipLen });
  }
  const bytes = eth(curV === 4 ? 0x0800 : 0x86dd, cur);
  // Walk inwards: where each carrier IP header starts.
  const levels: Built['levels'] = [];
  let ipStart = ETH_HDR;
  for (let i = 0; i < chain.length; i++) {
    const r = rel[i]!;
    const hdrOff = ipStart + r.ipLen + r.hdr;
    levels.push({ kind: kinds[i]!, need: ipStart + r.ipLen + r.need, hdrOff });
    const w = chain[i]!.wrap;
    // The next carrier IP header: after this level's header (and a carried Ethernet header).
    const headLen = w === 'ip' ? 0 : w === 'gre' || w === 'teb' ? 4 : w === 'gre-key' ? 12 : w === 'vxlan' || w === 'geneve' ? 8 + 8 : 8 + 4;
    ipStart = ipStart + r.ipLen + headLen + (w === 'teb' || w === 'vxlan' || w === 'geneve' ? ETH_HDR : 0);
  }
  return { bytes, version: curV, levels };
}

const chainArb = fc.array(fc.record({ wrap: fc.constantFrom(...WRAPS), carrier: fc.constantFrom<4 | 6>(4, 6) }), { minLength: 1, maxLength: MAX_LEVELS + 3 });

function frameOf(buf: Buffer, caplen: number, len: number): Frame {
  return { capture: 'encap', frame: 1, buf, off: 0, caplen, len, tsSec: 0, tsNsec: 0, linkType: LinkType.ETHERNET, interfaceId: 0, direction: null, comment: null, fileOffset: 0 };
}

const kindsOf = (p: Packet): string[] => Array.from({ length: p.depth }, (_, i) => p.levels[i]!.kind);

describe('encapsulation levels', () => {
  it('random chains decode level by level to the innermost ports; past MAX_LEVELS is malformed at that header', () => {
    const d = new Decoder();
    const text = new TextPrinter();
    const json = new JsonPrinter();
    fc.assert(
      fc.property(chainArb, fc.constantFrom<4 | 6>(4, 6), fc.integer({ min: 1, max: 65535 }), (chain, iv, dport) => {
        const b = build(chain, iv, dport);
        const buf = Buffer.from(b.bytes);
        const p = d.decode(frameOf(buf, buf.length, buf.length));
        if (chain.length <= MAX_LEVELS) {
          expect(p.malformed.present, p.malformed.reason).toBe(false);
          expect(p.truncated).toBe(null);
          expect(kindsOf(p)).toEqual(b.levels.map((l) => l.kind));
          b.levels.forEach((l, i) => expect(p.levels[i]!.hdrOff).toBe(l.hdrOff));
          const last = p.levels[p.depth - 1]!.net;
          expect([last.ip.version, last.tcp.present, last.tcp.dport]).toEqual([iv, true, dport]);
          // Printers: one carrier per level in the text, one nested `inner` per level in the JSON.
          expect(text.format(p)).toContain('.1234 > ');
          let o = JSON.parse(json.format(p)) as { inner?: unknown; tunnel?: string; tcp?: { dport: number } };
          const tunnels: string[] = [];
          while (o.inner !== undefined) {
            tunnels.push(o.tunnel!);
            o = o.inner as typeof o;
          }
          expect(tunnels).toEqual(b.levels.map((l) => l.kind));
          expect(o.tcp?.dport).toBe(dport);
        } else {
          expect(p.depth).toBe(MAX_LEVELS);
          expect(kindsOf(p)).toEqual(b.levels.slice(0, MAX_LEVELS).map((l) => l.kind));
          expect(p.malformed.present).toBe(true);
          expect(p.malformed.reason).toMatch(/deeper than 8/);
          expect(p.malformed.offset).toBe(b.levels[MAX_LEVELS]!.hdrOff);
          const layer = { ip: b.version, gre: 'gre', 'gre-key': 'gre', teb: 'gre', 'gre-udp': 'gre', vxlan: 'vxlan', geneve: 'geneve', gue: 'gue', 'mpls-udp': 'mpls' }[chain[MAX_LEVELS]!.wrap];
          if (typeof layer === 'string') expect(p.malformed.layer).toBe(layer);
          else expect(p.malformed.layer).toMatch(/^ipv[46]$/);
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('a chain cut anywhere never throws, opens exactly the levels whose opening bytes were captured, and says where it stopped', () => {
    const d = new Decoder();
    fc.assert(
      fc.property(chainArb.filter((c) => c.length <= MAX_LEVELS), fc.constantFrom<4 | 6>(4, 6), fc.nat(), fc.boolean(), (chain, iv, cutSeed, snap) => {
        const b = build(chain, iv, 80);
        const full = Buffer.from(b.bytes);
        const cut = ETH_HDR + (cutSeed % (full.length - ETH_HDR));
        // Extra bytes after the cut prove no read goes past the captured end.
        const buf = Buffer.concat([full.subarray(0, cut), Buffer.alloc(64, 0x45)]);
        // snap: a snaplen cut (wire length kept); otherwise a frame whose headers claim more than it has.
        const p = d.decode(frameOf(buf, cut, snap ? full.length : cut));
        const expected = b.levels.filter((l) => l.need <= cut).map((l) => l.kind);
        expect(kindsOf(p)).toEqual(expected);
        for (let i = 0; i < p.depth; i++) expect(p.levels[i]!.hdrOff).toBeLessThanOrEqual(cut);
        if (snap) {
          expect(p.truncated).not.toBe(null);
          expect(p.malformed.present).toBe(false);
        } else {
          expect(p.malformed.present).toBe(true);
          expect(p.malformed.offset).toBeLessThanOrEqual(cut);
          expect(p.truncated).toBe(null);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('a reused Decoder leaves nothing of a deep packet in the next one', () => {
    const d = new Decoder();
    const deep = Buffer.from(build([{ wrap: 'vxlan', carrier: 4 }, { wrap: 'gre-key', carrier: 6 }, { wrap: 'ip', carrier: 4 }], 4, 99).bytes);
    const plain = Buffer.from(build([{ wrap: 'ip', carrier: 4 }], 6, 77).bytes);
    const json = new JsonPrinter();
    const bare = Buffer.from(eth(0x0800, ipv4({ proto: 6, src: '10.0.0.1', dst: '10.0.0.2' }, tcp({ sport: 1, dport: 80 }))));
    for (const next of [plain, bare]) {
      d.decode(frameOf(deep, deep.length, deep.length));
      const afterDeep = json.format(d.decode(frameOf(next, next.length, next.length)));
      expect(afterDeep).toBe(json.format(new Decoder().decode(frameOf(next, next.length, next.length))));
    }
    expect(d.packet.depth).toBe(0);
  });
});

describe('filters at any depth and at a chosen depth', () => {
  const fx = encapFixtures();
  const byName = (re: RegExp): Packet => {
    const f = fx.find((x) => re.test(x.name))!;
    return decodeBytes(f.frame, LinkType.ETHERNET, { guePorts: [9886] });
  };
  it('host and port match the innermost packet of GRE in GRE, and depth N limits the match', () => {
    const p = byName(/GRE in GRE/);
    expect(compileFilter('host 203.0.113.5')(p)).toBe(true);
    expect(compileFilter('udp port 9999')(p)).toBe(true);
    expect(compileFilter('depth 0 host 203.0.113.5')(p)).toBe(false);
    expect(compileFilter('depth 2 host 203.0.113.5')(p)).toBe(true);
    expect(compileFilter('depth 1 host 203.0.113.5')(p)).toBe(false);
    expect(compileFilter('depth 1 host 10.1.0.1')(p)).toBe(true);
    expect(compileFilter('depth 3 host 203.0.113.5')(p)).toBe(false);
    expect(compileFilter('depth 0 host 10.0.0.1 and depth 2 udp')(p)).toBe(true);
    expect(compileFilter('tunnel')(p)).toBe(true);
  });
  it('overlays: the TCP segment inside VXLAN → IPIP is found by port, host, flags', () => {
    const p = byName(/IPIP inside VXLAN/);
    expect(compileFilter('tcp port 4006 and syn')(p)).toBe(true);
    expect(compileFilter('depth 2 src host 198.51.100.3')(p)).toBe(true);
    expect(compileFilter('depth 1 src host 198.51.100.3')(p)).toBe(false);
    expect(compileFilter('depth 0 tcp')(p)).toBe(false);
    expect(p.tunnel).toBe(null); // an overlay first: not an IPVS TUN packet by itself
  });
  it('an untunnelled packet: depth 1 matches nothing, depth 0 is tcpdump’s reading', () => {
    const plain = decodeBytes(Buffer.from(eth(0x0800, ipv4({ proto: 6, src: '10.0.0.1', dst: '10.0.0.2' }, tcp({ sport: 1, dport: 80 })))), LinkType.ETHERNET);
    expect(compileFilter('depth 0 port 80')(plain)).toBe(true);
    expect(compileFilter('depth 1 port 80')(plain)).toBe(false);
    expect(compileFilter('port 80')(plain)).toBe(true);
    expect(compileFilter('tunnel')(plain)).toBe(false);
  });
});

describe('decode --summary hierarchy through the levels', () => {
  /** Every root-to-leaf path of the hierarchy, names joined by '>'. */
  function paths(nodes: ProtocolCount[], prefix = ''): string[] {
    return nodes.flatMap((n) => (n.children.length === 0 ? [prefix + n.name] : paths(n.children, prefix + n.name + '>')));
  }
  it('each level adds its header node, a carried Ethernet frame and the stack inside', () => {
    const sum = new DecodeSummary();
    for (const f of encapFixtures()) sum.add(decodeBytes(f.frame, LinkType.ETHERNET, { guePorts: [9886] }));
    const all = paths(sum.report().protocols);
    for (const want of [
      'eth>ipv4>gre>ipv4>gre>ipv4>udp',
      'eth>ipv6>ipv6>ipv6>tcp',
      'eth>ipv4>udp>vxlan>eth>vlan>ipv4>udp',
      'eth>ipv4>udp>vxlan>eth>ipv4>ipv4>tcp',
      'eth>ipv4>udp>geneve>eth>ipv4>udp',
      'eth>ipv4>gre>erspan>eth>vlan>ipv4>udp',
      'eth>ipv4>udp>gue>ipv4>tcp',
      'eth>ipv4>udp>gre>ipv4>tcp',
      'eth>mpls>ipv4>tcp',
      'eth>ipv4>gre>mpls>ipv6>udp',
    ]) {
      expect(all, want).toContain(want);
    }
  });
});

describe('text lines of levels that carry no IP', () => {
  it('VXLAN carrying a non-IP frame ends with its EtherType; GRE of an unknown protocol names it', () => {
    const lldp = [...eth(0x88cc, [2, 7, 4, 0, 0, 0, 0, 0, 1])];
    const vx = Buffer.from(eth(0x0800, ipv4({ proto: 17, src: '10.0.0.1', dst: '10.0.0.2' }, udp(1, 4789, [0x08, 0, 0, 0, 0, 0, 3, 0, ...lldp]))));
    const t = new TextPrinter().format(decodeBytes(vx, LinkType.ETHERNET));
    expect(t).toMatch(/: VXLAN, vni 3, 02:00:00:00:00:02 > 02:00:00:00:00:01, ethertype 0x88cc$/);
    const wccp = Buffer.from(eth(0x0800, ipv4({ proto: 47, src: '10.0.0.1', dst: '10.0.0.2' }, [0, 0, 0x88, 0x3e, 1, 2, 3, 4])));
    expect(new TextPrinter().format(decodeBytes(wccp, LinkType.ETHERNET))).toMatch(/IP 10\.0\.0\.1 > 10\.0\.0\.2 \(ttl 64, id \d+\): GRE, proto 0x883e, length 8$/);
  });
});
