/**
 * IP fragment reassembly (src/decode/reassembly): datagrams built with the project's builder,
 * fragmented by its fragmenters, fed back in every order; the kernel's rules for duplicates,
 * overlaps (RFC 5722), lengths, the timeout and the memory caps; random cuts never throw.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Decoder } from '../../src/decode/decoder.js';
import { LinkType } from '../../src/decode/frame.js';
import type { Packet } from '../../src/decode/packet.js';
import { DEFAULT_REASSEMBLY_LIMITS, Reassembler, type ReassemblyLimits } from '../../src/decode/reassembly/reassembler.js';
import { PacketBuilder } from '../../src/replay/builder/index.js';
import { fragmentIpv4, fragmentIpv6 } from '../../src/replay/builder/fragment.js';

function payloadOf(n: number, seed = 7): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 255;
  return b;
}

/** A raw IPv4 UDP datagram (no DF) and its fragments for `mtu`. */
function udp4(len: number, mtu: number, id = 0x1234, sport = 5353): { whole: Buffer; frags: Buffer[] } {
  const whole = PacketBuilder.raw().ipv4({ src: '192.0.2.1', dst: '198.51.100.2', id }).udp({ sport, dport: 53 }).payload(payloadOf(len)).build();
  return { whole, frags: fragmentIpv4(whole, mtu) };
}

/** A raw IPv6 UDP datagram and its fragments for `mtu`. */
function udp6(len: number, mtu: number, id = 0xabcdef, sport = 5353): { whole: Buffer; frags: Buffer[] } {
  const whole = PacketBuilder.raw().ipv6({ src: '2001:db8::1', dst: '2001:db8::2' }).udp({ sport, dport: 53 }).payload(payloadOf(len)).build();
  return { whole, frags: fragmentIpv6(whole, mtu, { id }) };
}

/** Feeds raw IP frames (numbered from 1, `step` seconds apart) and records what completes where. */
function feed(frames: Buffer[], r = new Reassembler(), step = 0.001, caplens?: number[]): {
  done: { at: number; frames: number[]; bytes: Buffer; sport: number; dport: number; checksumOk: boolean | null }[];
  r: Reassembler;
} {
  const d = new Decoder();
  r.startCapture('t.pcap');
  const done: { at: number; frames: number[]; bytes: Buffer; sport: number; dport: number; checksumOk: boolean | null }[] = [];
  frames.forEach((bytes, i) => {
    const t = i * step;
    const caplen = caplens?.[i] ?? bytes.length;
    const p: Packet = d.decode({
      capture: 't.pcap', frame: i + 1, buf: bytes, off: 0, caplen, len: bytes.length,
      tsSec: Math.floor(t), tsNsec: Math.round((t - Math.floor(t)) * 1e9), linkType: LinkType.RAW,
      interfaceId: 0, direction: null, comment: null, fileOffset: 0,
    });
    const got = r.offer(p);
    if (got !== null) {
      const q = got.packet;
      done.push({
        at: i + 1, frames: [...got.frames], bytes: Buffer.from(q.buf.subarray(q.off, q.end)),
        sport: q.net.udp.sport, dport: q.net.udp.dport, checksumOk: q.net.udp.checksumOk,
      });
    }
  });
  return { done, r };
}

describe('reassembly of builder-made datagrams', () => {
  it.each([
    ['IPv4', udp4(4000, 1500)],
    ['IPv6', udp6(4000, 1280)],
  ])('%s in order: the last fragment completes the datagram, bytes and ports as sent', (_, { whole, frags }) => {
    expect(frags.length).toBeGreaterThan(2);
    const { done, r } = feed(frags);
    expect(done).toHaveLength(1);
    expect(done[0]!.at).toBe(frags.length);
    expect(done[0]!.frames).toEqual(frags.map((_f, i) => i + 1));
    expect(done[0]!.bytes.equals(whole)).toBe(true);
    expect([done[0]!.sport, done[0]!.dport, done[0]!.checksumOk]).toEqual([5353, 53, true]);
    expect(r.finish()).toEqual([]);
    expect(r.held).toEqual({ datagrams: 0, bytes: 0 });
  });

  it('IPv6 with extension headers: hop-by-hop stays before the fragment header, destination options travel in the data', () => {
    const whole = PacketBuilder.raw()
      .ipv6({ src: '2001:db8::1', dst: '2001:db8::2', ext: [{ kind: 'hop', options: Buffer.alloc(6) }, { kind: 'dest', options: Buffer.alloc(14) }] })
      .udp({ sport: 7, dport: 8 }).payload(payloadOf(3000)).build();
    const frags = fragmentIpv6(whole, 1280);
    expect(frags.length).toBeGreaterThan(2);
    const { done } = feed([...frags].reverse());
    expect(done).toHaveLength(1);
    expect(done[0]!.bytes.equals(whole)).toBe(true);
    expect([done[0]!.sport, done[0]!.dport, done[0]!.checksumOk]).toEqual([7, 8, true]);
  });

  it('a frame that is not a fragment is never held', () => {
    const small = PacketBuilder.raw().ipv4({ src: '192.0.2.1', dst: '198.51.100.2' }).udp({ sport: 1, dport: 2 }).payload('x').build();
    const atomic = fragmentIpv6(udp6(100, 1280).whole, 1280); // fits: no fragment header at all
    const { done, r } = feed([small, ...atomic]);
    expect(done).toEqual([]);
    expect(r.held.datagrams).toBe(0);
  });

  it('interleaved datagrams of two flows with the same id stay apart (IPv4 key has the protocol, IPv6 the addresses)', () => {
    const a = udp4(3000, 1000, 7, 1111);
    const b = PacketBuilder.raw().ipv4({ src: '192.0.2.1', dst: '198.51.100.2', id: 7 }).tcp({ sport: 2222, dport: 80, flags: 'PA' }).payload(payloadOf(3000, 3)).build();
    const bf = fragmentIpv4(b, 1000);
    const mixed: Buffer[] = [];
    for (let i = 0; i < Math.max(a.frags.length, bf.length); i++) {
      if (a.frags[i]) mixed.push(a.frags[i]!);
      if (bf[i]) mixed.push(bf[i]!);
    }
    const { done } = feed(mixed);
    expect(done.map((d) => d.bytes.equals(a.whole) || d.bytes.equals(b))).toEqual([true, true]);
  });
});

describe('property: any order, any duplication', () => {
  const cases = fc.record({
    v6: fc.boolean(),
    len: fc.integer({ min: 1, max: 9000 }),
    mtu: fc.integer({ min: 200, max: 1500 }),
    seed: fc.integer({ min: 0, max: 255 }),
  });
  it('every permutation of the fragments, with duplicates, reassembles to the same bytes once, on the frame bringing the last piece', () => {
    fc.assert(fc.property(cases, fc.array(fc.nat(), { maxLength: 40 }), fc.array(fc.nat(), { maxLength: 8 }), ({ v6, len, mtu, seed }, order, dups) => {
      const whole = v6
        ? PacketBuilder.raw().ipv6({ src: '2001:db8::1', dst: '2001:db8::2' }).udp({ sport: 9, dport: 10 }).payload(payloadOf(len, seed)).build()
        : PacketBuilder.raw().ipv4({ src: '192.0.2.1', dst: '198.51.100.2', id: 99 }).udp({ sport: 9, dport: 10 }).payload(payloadOf(len, seed)).build();
      const frags = v6 ? fragmentIpv6(whole, Math.max(mtu, 1280)) : fragmentIpv4(whole, mtu);
      if (frags.length < 2) return;
      // A permutation from `order` (Fisher–Yates driven by the generated numbers), then copies.
      const seq = frags.map((_f, i) => i);
      for (let i = seq.length - 1; i > 0; i--) {
        const j = (order[i % Math.max(order.length, 1)] ?? i) % (i + 1);
        [seq[i], seq[j]] = [seq[j]!, seq[i]!];
      }
      const withDups = [...seq];
      for (const d of dups) withDups.splice(d % (withDups.length + 1), 0, seq[d % seq.length]!);
      // Copies that come after the datagram completed start a new one: only judge up to it.
      const have = new Set<number>();
      let completeAt = -1;
      withDups.forEach((k, i) => {
        have.add(k);
        if (completeAt < 0 && have.size === frags.length) completeAt = i + 1;
      });
      const upTo = withDups.slice(0, completeAt);
      const { done } = feed(upTo.map((k) => frags[k]!));
      expect(done).toHaveLength(1);
      expect(done[0]!.at).toBe(completeAt);
      expect(done[0]!.bytes.equals(whole)).toBe(true);
      expect(done[0]!.frames).toHaveLength(frags.length);
    }), { numRuns: 300 });
  });

  it('random cuts (snaplen) and random byte damage never throw, and never report more bytes than exist', () => {
    fc.assert(fc.property(cases, fc.array(fc.nat(), { maxLength: 20 }), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 6 }), ({ v6, len, mtu, seed }, cuts, damage) => {
      const whole = v6
        ? PacketBuilder.raw().ipv6({ src: '2001:db8::1', dst: '2001:db8::2' }).udp({ sport: 9, dport: 10 }).payload(payloadOf(len, seed)).build()
        : PacketBuilder.raw().ipv4({ src: '192.0.2.1', dst: '198.51.100.2', id: 99 }).udp({ sport: 9, dport: 10 }).payload(payloadOf(len, seed)).build();
      const frags = (v6 ? fragmentIpv6(whole, Math.max(mtu, 1280)) : fragmentIpv4(whole, mtu)).map((f) => Buffer.from(f));
      for (const [at, v] of damage) {
        const f = frags[at % frags.length]!;
        f[(at >> 3) % f.length] = v;
      }
      const caplens = frags.map((f, i) => (cuts[i] === undefined ? f.length : cuts[i]! % (f.length + 1)));
      const r = new Reassembler();
      const { done } = feed(frags, r, 0.001, caplens);
      for (const d of done) expect(d.bytes.length).toBeLessThanOrEqual(whole.length + 40);
      const reports = r.finish();
      for (const rep of reports) expect(rep.have).toBeLessThanOrEqual(65535);
    }), { numRuns: 400 });
  });
});

describe('the kernel\'s rules', () => {
  it('a duplicate fragment is ignored; the datagram completes when the missing piece comes', () => {
    const { whole, frags } = udp4(2000, 1000);
    expect(frags).toHaveLength(3);
    const { done, r } = feed([frags[0]!, frags[0]!, frags[2]!, frags[1]!]);
    expect(done.map((d) => [d.at, d.frames])).toEqual([[4, [1, 3, 4]]]);
    expect(done[0]!.bytes.equals(whole)).toBe(true);
    expect(r.duplicates).toBe(1);
  });

  it.each([['IPv4', false], ['IPv6', true]])('%s: overlapping fragments drop the whole datagram (RFC 5722) and are reported', (_, v6) => {
    const whole = v6
      ? PacketBuilder.raw().ipv6({ src: '2001:db8::1', dst: '2001:db8::2' }).udp({ sport: 9, dport: 10 }).payload(payloadOf(3000)).build()
      : PacketBuilder.raw().ipv4({ src: '192.0.2.1', dst: '198.51.100.2', id: 5 }).udp({ sport: 9, dport: 10 }).payload(payloadOf(3000)).build();
    const big = v6 ? fragmentIpv6(whole, 1280) : fragmentIpv4(whole, 1200);
    const small = v6 ? fragmentIpv6(whole, 1000) : fragmentIpv4(whole, 900);
    // small[1] starts inside big[0] and ends past it: a partial overlap.
    const { done, r } = feed([big[0]!, small[1]!, ...big.slice(1)]);
    expect(done).toEqual([]);
    const reports = r.finish();
    expect(reports[0]).toMatchObject({ reason: 'overlap', at: 2, frames: [1], version: v6 ? 6 : 4 });
    // What came after the drop started a new datagram, which lacks its first piece.
    expect(reports[1]).toMatchObject({ reason: 'incomplete', frames: big.slice(1).map((_f, i) => i + 3) });
  });

  it('a missing piece leaves the datagram incomplete, reported at the end with what it holds', () => {
    const { frags } = udp6(4000, 1280);
    expect(frags.length).toBeGreaterThan(2);
    const { done, r } = feed([frags[0]!, frags[frags.length - 1]!]);
    expect(done).toEqual([]);
    const [rep] = r.finish();
    expect(rep).toMatchObject({ reason: 'incomplete', frames: [1, 2], proto: 17, version: 6, src: '2001:db8::1', dst: '2001:db8::2', id: 0xabcdef });
    expect(rep!.length).toBe(4008);
    expect(rep!.have).toBeLessThan(4008);
  });

  it('a second last fragment with another end drops the datagram', () => {
    const { frags } = udp4(3000, 1000);
    const short = fragmentIpv4(udp4(2500, 1000).whole, 1000);
    const { done, r } = feed([frags[frags.length - 1]!, short[short.length - 1]!, ...frags.slice(0, -1)]);
    expect(done).toEqual([]);
    expect(r.finish()[0]).toMatchObject({ reason: 'length', at: 2 });
  });

  it('a datagram not complete within 30 s of capture time is dropped and reported', () => {
    const { frags } = udp4(3000, 1000);
    const { done, r } = feed(frags, new Reassembler(), 15.5); // the third comes at 31 s
    expect(done).toEqual([]);
    const reports = r.finish();
    expect(reports[0]).toMatchObject({ reason: 'timeout', frames: [1, 2] });
    // With a 60 s timeout the same frames make the datagram.
    expect(feed(frags, new Reassembler({ ...DEFAULT_REASSEMBLY_LIMITS, timeoutSec: 60 }), 15.5).done).toHaveLength(1);
  });

  it('memory stays within the caps: fragments past them are refused and reported', () => {
    const limits: ReassemblyLimits = { ...DEFAULT_REASSEMBLY_LIMITS, maxDatagrams: 3, maxBytes: 5000 };
    const r = new Reassembler(limits);
    // First fragments of 10 datagrams that never complete, then a datagram that fits.
    const firsts = Array.from({ length: 10 }, (_v, i) => udp4(3000, 1000, 100 + i).frags[0]!);
    const { r: after } = feed(firsts, r);
    expect(after.held.datagrams).toBeLessThanOrEqual(3);
    expect(after.held.bytes).toBeLessThanOrEqual(5000);
    const reports = after.finish();
    expect(reports.filter((x) => x.reason === 'cap').map((x) => x.at)).toEqual([4, 5, 6, 7, 8, 9, 10]);
    expect(reports.filter((x) => x.reason === 'incomplete')).toHaveLength(3);
    // The caps hold under any mix: held never exceeds them after any frame.
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.nat(3)), { maxLength: 60 }), (picks) => {
      const rr = new Reassembler(limits);
      const d = new Decoder();
      rr.startCapture('t');
      picks.forEach(([id, k], i) => {
        const fr = udp4(3000, 1000, id).frags;
        const b = fr[k % fr.length]!;
        rr.offer(d.decode({ capture: 't', frame: i + 1, buf: b, off: 0, caplen: b.length, len: b.length, tsSec: i, tsNsec: 0, linkType: LinkType.RAW, interfaceId: 0, direction: null, comment: null, fileOffset: 0 }));
        expect(rr.held.datagrams).toBeLessThanOrEqual(3);
        expect(rr.held.bytes).toBeLessThanOrEqual(5000);
      });
    }), { numRuns: 100 });
  });

  it('held memory follows the bytes held, not the offsets fragments claim', () => {
    // 4096 datagrams of one 8-byte fragment near the 64 KiB end: a buffer per datagram sized by
    // offset would hold 256 MiB; the fragments themselves are 32 KiB.
    const r = new Reassembler();
    const d = new Decoder();
    r.startCapture('t');
    const frag = (id: number): Buffer => PacketBuilder.raw().ipv4({ src: '192.0.2.1', dst: '198.51.100.2', id, mf: true, fragOffset: 65000, proto: 17 }).payload(Buffer.alloc(8, 1)).build();
    const before = process.memoryUsage();
    for (let id = 0; id < 4096; id++) {
      const b = frag(id);
      r.offer(d.decode({ capture: 't', frame: id + 1, buf: b, off: 0, caplen: b.length, len: b.length, tsSec: 0, tsNsec: 0, linkType: LinkType.RAW, interfaceId: 0, direction: null, comment: null, fileOffset: 0 }));
    }
    const after = process.memoryUsage();
    expect(r.held).toEqual({ datagrams: 4096, bytes: 4096 * 8 });
    expect(after.arrayBuffers - before.arrayBuffers + (after.heapUsed - before.heapUsed)).toBeLessThan(64 << 20);
    expect(r.finish()).toHaveLength(4096);
  });

  it('a fragment the capture cut still places its bytes: the datagram is decoded up to the cut', () => {
    const { frags } = udp4(3000, 1000);
    const caplens = frags.map((f, i) => (i === 1 ? 100 : f.length));
    const { done } = feed(frags, new Reassembler(), 0.001, caplens);
    expect(done).toHaveLength(1);
    expect(done[0]!.sport).toBe(5353);
    expect(done[0]!.checksumOk).toBeNull();
    expect(done[0]!.bytes.length).toBe(20 + 976 + 80);
  });
});
