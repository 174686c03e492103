/**
 * Byte-level FullNAT rewrites (TOA insertion, option → NOPs) must give the same bytes as building
 * the rewritten packet from specs; lengths/checksums of that are checked against scapy and tshark
 * in the other builder tests, and here once more with the decoder.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PacketBuilder, insertTcpOption, nopTcpOption, encodeTcpOptions, type TcpOption, type TcpSpec, LinkType } from '../../src/replay/builder/index.js';
import { decodeBytes } from '../../src/decode/decoder.js';
import { arbTcp, arbIpv4, arbIpv6 } from './builder-arbitraries.js';

const ETH = { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' };

function build(v6: boolean, tcp: TcpSpec, payload: Uint8Array): Buffer {
  const b = PacketBuilder.eth(ETH).vlan({ id: 7 });
  if (v6) b.ipv6({ src: '2001:db8::1', dst: '2001:db8::100' });
  else b.ipv4({ src: '10.0.0.1', dst: '192.168.0.100', id: 5, df: true });
  return b.tcp(tcp).payload(payload).build();
}

describe('insertTcpOption (FullNAT TOA insertion)', () => {
  it('inserting a TOA right after the base header equals building with the TOA first; no room when options > 40 bytes', () => {
    fc.assert(
      fc.property(fc.boolean(), arbTcp, fc.oneof(arbIpv4, arbIpv6), fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 200 }), (v6, tcp, cip, cport, payload) => {
        const toa: TcpOption = { kind: 'toa', addr: cip, port: cport };
        const before = build(v6, tcp, payload);
        const r = insertTcpOption(before, 18, toa);
        const withToa = [toa, ...(tcp.options ?? [])];
        if (encodeTcpOptions(withToa, 'eol').length > 40) {
          expect(r).toEqual({ ok: false, reason: 'no-room' });
          return;
        }
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        expect(r.packet.equals(build(v6, { ...tcp, options: withToa }, payload))).toBe(true);
        const p = decodeBytes(r.packet, LinkType.ETHERNET);
        // The inserted TOA is option 0, unless it is TFO-shaped (ExID 0xF989 = port 63881 on a SYN), which the decoder reads as TFO.
        if (!(cport === 0xf989 && (p.net.tcp.flags & 2) !== 0)) {
          expect([p.net.tcp.toaIndex, p.net.tcp.toaPort, p.net.tcp.toaFamily]).toEqual([0, cport, cip.includes(':') ? 6 : 4]);
        }
        expect(p.net.tcp.checksumOk).toBe(true);
        if (!v6) expect(p.net.ip.checksumOk).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('inserts at a given option offset and refuses non-TCP and misaligned options', () => {
    const base: TcpSpec = { sport: 1, dport: 80, flags: 'A', options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'ts', val: 1, ecr: 2 }] };
    const toa: TcpOption = { kind: 'toa', addr: '10.0.0.2', port: 40000 };
    const r = insertTcpOption(build(false, base, Buffer.from('hi')), 18, toa, 12);
    expect(r.ok && r.packet.equals(build(false, { ...base, options: [...base.options!, toa] }, Buffer.from('hi')))).toBe(true);
    const udp = PacketBuilder.raw().ipv4({ src: '1.1.1.1', dst: '2.2.2.2' }).udp({ sport: 1, dport: 2 }).build();
    expect(insertTcpOption(udp, 0, toa)).toEqual({ ok: false, reason: 'not-tcp' });
    expect(() => insertTcpOption(build(false, base, Buffer.alloc(0)), 18, Buffer.from([1, 1, 1]))).toThrow(/multiple of 4/);
  });
});

describe('nopTcpOption (DPVS SYN timestamp removal)', () => {
  it('replaces the timestamp option with 10 NOPs and keeps the checksum valid', () => {
    const opts: TcpOption[] = [{ kind: 'mss', value: 1460 }, { kind: 'sackPermitted' }, { kind: 'ts', val: 99, ecr: 0 }, { kind: 'nop' }, { kind: 'ws', shift: 7 }];
    const syn: TcpSpec = { sport: 40000, dport: 80, seq: 1, flags: 'S', options: opts };
    for (const v6 of [false, true]) {
      const pkt = build(v6, syn, Buffer.alloc(0));
      expect(nopTcpOption(pkt, 18, 8)).toBe(1);
      const nops: TcpOption[] = Array.from({ length: 10 }, () => ({ kind: 'nop' }));
      expect(pkt.equals(build(v6, { ...syn, options: [opts[0]!, opts[1]!, ...nops, opts[3]!, opts[4]!] }, Buffer.alloc(0)))).toBe(true);
      expect(nopTcpOption(pkt, 18, 8)).toBe(0);
    }
  });
});
