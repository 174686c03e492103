/**
 * Property tests: no input makes the decoder throw, and every offset it reports stays
 * inside the captured bytes [off, end] — for random bytes under every link type and for
 * random mutations and cuts of well-formed packets built by hand.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decoder } from '../../src/decode/decoder.js';
import type { Frame } from '../../src/decode/frame.js';
import { MAX_LEVELS, type NetLayers, type Packet } from '../../src/decode/packet.js';
import { encapFixtures } from '../differential/encap-fixtures.js';
import { eth, icmp, ipv4, ipv6, pseudo4, pseudo6, tcp, u16, u32, udp } from './build.js';

const LINK_TYPES = [0, 1, 101, 108, 113, 228, 229, 276, 9, 127];

function frameOf(buf: Buffer, off: number, caplen: number, len: number, linkType: number): Frame {
  return { capture: 'fuzz', frame: 1, buf, off, caplen, len, tsSec: 0, tsNsec: 0, linkType, interfaceId: 0, direction: null, comment: null, fileOffset: 0 };
}

/** Throws with a message naming the first offset outside [off, end]. */
function checkBounds(p: Packet): void {
  const lo = p.off;
  const hi = p.end;
  const inb = (what: string, o: number, n = 0): void => {
    if (!(o >= lo && o + n <= hi)) throw new Error(`${what}: ${o}+${n} outside [${lo}, ${hi}]`);
  };
  if (p.eth.present) inb('eth', p.eth.off, 14);
  if (p.sll.present) {
    inb('sll', p.sll.off, p.sll.version === 1 ? 16 : 20);
    inb('sll.addr', p.sll.addrOff, p.sll.addrLen);
  }
  if (p.arp.present) {
    inb('arp', p.arp.off, 8);
    if (p.arp.isEthIpv4) inb('arp.tpa', p.arp.tpaOff, 4);
  }
  const stack = (name: string, L: NetLayers): void => {
    if (!L.present) return;
    const ip = L.ip;
    inb(`${name}.ip`, ip.off, ip.version === 4 ? 20 : 40);
    inb(`${name}.ip.src`, ip.srcOff, ip.version === 4 ? 4 : 16);
    inb(`${name}.ip.payload`, ip.payloadOff, ip.payloadLen);
    if (ip.payloadLen < 0 || ip.hdrLen < 0) throw new Error('negative length');
    const t = L.tcp;
    if (t.present) {
      inb(`${name}.tcp`, t.off, t.hdrLen >= 20 ? 20 : 8);
      inb(`${name}.tcp.payload`, t.payloadOff, t.payloadLen);
      for (let i = 0; i < t.optCount; i++) inb(`${name}.tcp.opt${i}`, t.optOff[i]!, t.optLen[i]!);
      if (t.toaKind !== 0) inb(`${name}.toa`, t.toaAddrOff, t.toaFamily === 4 ? 4 : 16);
      if (t.payloadLen < 0) throw new Error('negative tcp payload');
    }
    if (L.udp.present) {
      inb(`${name}.udp`, L.udp.off, 4);
      inb(`${name}.udp.payload`, L.udp.payloadOff, L.udp.payloadLen);
    }
    if (L.icmp.present) inb(`${name}.icmp`, L.icmp.off, 4);
  };
  stack('net', p.net);
  stack('inner', p.inner);
  stack('quoted', p.quoted);
  if (p.tunnel !== null) inb('tunnel', p.tunnelHdrOff);
  if (p.depth < 0 || p.depth > MAX_LEVELS) throw new Error('depth ' + p.depth);
  for (let i = 0; i < p.depth; i++) {
    const lv = p.levels[i]!;
    inb(`level${i}.hdr`, lv.hdrOff, lv.hdrLen);
    if (lv.eth.present) inb(`level${i}.eth`, lv.eth.off, 14);
    for (let k = 0; k < lv.mpls.count; k++) inb(`level${i}.mpls`, lv.mpls.off + 4 * k, 4);
    if (lv.arp.present) inb(`level${i}.arp`, lv.arp.off, 8);
    stack(`level${i}`, lv.net);
  }
  for (let k = 0; k < p.mpls.count; k++) inb('mpls', p.mpls.off + 4 * k, 4);
  if (p.malformed.present && (p.malformed.offset < 0 || p.malformed.offset > p.end - p.off)) throw new Error('malformed offset');
}

const c4 = (l: number): Uint8Array => pseudo4('10.0.0.1', '10.0.0.2', 6, l);
const c6 = (l: number): Uint8Array => pseudo6('2001:db8::1', '2001:db8::2', 6, l);
const in4 = ipv4({ proto: 6, src: '10.0.0.1', dst: '10.0.0.2' }, tcp({ flags: 0x10, options: [254, 8, ...u16(1), 1, 2, 3, 4, 1, 1, 8, 10, ...u32(1), ...u32(2), 5, 10, ...u32(3), ...u32(4)], payload: [1, 2, 3] }, c4));
const in6 = ipv6({ nh: 0 }, [60, 0, 1, 4, 0, 0, 0, 0, 44, 0, 0, 0, ...u32(9), 6, 0, 0, 0, ...u32(1), ...tcp({ options: [253, 20, ...u16(7), ...Array(16).fill(1)] }, c6)]);

/** Well-formed seeds of every kind the decoder opens. */
const SEEDS: Array<{ lt: number; bytes: number[] }> = [
  { lt: 1, bytes: eth(0x0800, in4) },
  { lt: 1, bytes: eth(0x86dd, in6) },
  { lt: 1, bytes: eth(0x0800, in4, [[0x88a8, 5], [0x8100, 6]]) },
  { lt: 1, bytes: eth(0x0806, [0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1]) },
  { lt: 1, bytes: eth(0x0800, ipv4({ proto: 4 }, in4)) },
  { lt: 1, bytes: eth(0x0800, ipv4({ proto: 41 }, in6)) },
  { lt: 1, bytes: eth(0x0800, ipv4({ proto: 47 }, [0xb0, 0, 0x08, 0, 0, 0, 0, 0, ...u32(1), ...u32(2), ...in4])) },
  { lt: 1, bytes: eth(0x0800, ipv4({ proto: 17 }, udp(1, 6080, [0x00, 4, 0, 0, ...in4]))) },
  { lt: 1, bytes: eth(0x0800, ipv4({ proto: 1 }, icmp(3, 4, [0, 0, ...u16(1400)], in4.slice(0, 48)))) },
  { lt: 1, bytes: eth(0x86dd, ipv6({ nh: 58 }, icmp(2, 0, u32(1280), in6.slice(0, 80)))) },
  { lt: 113, bytes: [0, 4, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, 0x08, 0x00, ...in4] },
  { lt: 276, bytes: [0x86, 0xdd, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0, ...in6] },
  { lt: 0, bytes: [2, 0, 0, 0, ...in4] },
  { lt: 101, bytes: ipv6({ nh: 41 }, in6) },
  // Every encapsulation the decoder opens (nested tunnels, GRE variants, overlays, MPLS).
  ...encapFixtures().map((f) => ({ lt: 1, bytes: [...f.frame] })),
];

describe('decoder fuzzing', () => {
  it('random bytes under every link type never throw and stay in bounds', () => {
    const d = new Decoder({ toaKinds: [254, 253, 200, 201, 252], guePorts: [6080, 5555] });
    fc.assert(
      fc.property(fc.constantFrom(...LINK_TYPES), fc.uint8Array({ maxLength: 200 }), fc.nat(8), fc.boolean(), (lt, bytes, pad, cut) => {
        // The frame sits inside a larger buffer, so reads past `end` would find bytes, not undefined.
        const buf = Buffer.alloc(pad + bytes.length + 64, 0x45);
        buf.set(bytes, pad);
        const p = d.decode(frameOf(buf, pad, bytes.length, cut ? bytes.length + 100 : bytes.length, lt));
        checkBounds(p);
      }),
      { numRuns: 20000 },
    );
  });

  it('mutations and cuts of valid packets never throw and stay in bounds', () => {
    const d = new Decoder({ guePorts: [6080, 9886] });
    fc.assert(
      fc.property(
        fc.nat(SEEDS.length - 1),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.option(fc.nat(), { nil: undefined }),
        (si, muts, cutAt) => {
          const seed = SEEDS[si]!;
          const bytes = Buffer.from(seed.bytes);
          for (const [i, v] of muts) bytes[i % bytes.length] = v;
          const caplen = cutAt === undefined ? bytes.length : cutAt % (bytes.length + 1);
          const buf = Buffer.concat([bytes, Buffer.alloc(64, 0xff)]);
          const p = d.decode(frameOf(buf, 0, caplen, bytes.length, seed.lt));
          checkBounds(p);
        },
      ),
      { numRuns: 30000 },
    );
  });

  it('unmutated seeds decode cleanly (the mutation test starts from valid packets)', () => {
    const d = new Decoder({ guePorts: [6080, 9886] });
    for (const s of SEEDS) {
      const b = Buffer.from(s.bytes);
      const p = d.decode(frameOf(b, 0, b.length, b.length, s.lt));
      expect(p.malformed.present, `${p.malformed.layer} ${p.malformed.reason}`).toBe(false);
      expect(p.truncated).toBe(null);
      expect(p.net.present || p.arp.present).toBe(true);
    }
  });
});
