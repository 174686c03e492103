/**
 * The reference director's DPVS UOA (lvs-behavior.md §3.3) on FullNAT UDP: the first
 * uoa_max_trail datagrams of each connection carry the client's address and port, as an IPv4
 * option (`ipo`) or in the protocol-248 shim (`opp`); later ones none; the stand-alone datagram
 * goes ahead where the option does not fit; the alibaba profile sends none. Checked on the raw
 * bytes with the harness's own checksum oracle.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PacketBuilder } from '../../src/replay/builder/index.js';
import { ReferenceDirector, type DirectorOutput, type DirectorProfile, type UoaMode } from '../../src/replay/director/index.js';
import { parseServiceConfig } from '../../src/verify/service/index.js';
import { CIP, DIP, LIP, MAC, RIP1, RIP2, VIP, ipv4Valid, l4Expected } from './director-harness.js';

const udpFnatConf = `-A -u ${VIP}:53 -s rr\n-a -u ${VIP}:53 -r ${RIP1}:5353 -b -w 1\n-a -u ${VIP}:53 -r ${RIP2}:5353 -b -w 1\n-P -u ${VIP}:53 -z ${LIP}\n`;

function udpDirector(profile: DirectorProfile, uoaMode?: UoaMode, faults: string[] = [], mtu?: number): ReferenceDirector {
  return new ReferenceDirector({
    services: parseServiceConfig(udpFnatConf, 'test.conf'),
    profile,
    macs: { director: MAC.dir, directorRs: MAC.dirRs, realServers: { [RIP1]: MAC.rs1, [RIP2]: MAC.rs2 } },
    directorIps: { dip: DIP, lips: [LIP] },
    faults,
    ...(uoaMode ? { uoaMode } : {}),
    ...(mtu ? { mtu } : {}),
    seed: 7,
  });
}

function datagram(sport: number, payload: Buffer, zeroChecksum = false, df = true): Buffer {
  return PacketBuilder.eth({ src: MAC.client, dst: MAC.dir })
    .ipv4({ src: CIP, dst: VIP, ttl: 61, id: 0x2222, df, tos: 0x10 })
    .udp({ sport, dport: 53, ...(zeroChecksum ? { checksum: 0 } : {}) })
    .payload(payload)
    .build();
}

const ip4 = (s: string): number => s.split('.').reduce((a, x) => a * 256 + Number(x), 0);

/** What one frame toward a real server carries, read byte by byte (not with the decoder). */
function uoaOf(f: Buffer): { mode: 'ipo' | 'opp' | null; port: number; addr: number; udpOff: number; shim: number[] } {
  const ihl = (f[14]! & 15) * 4;
  if (f[23] === 248) {
    const len = f.readUInt16BE(14 + ihl + 2);
    const o = 14 + ihl + 4;
    return { mode: 'opp', port: f.readUInt16BE(o + 2), addr: f.readUInt32BE(o + 4), udpOff: 14 + ihl + len, shim: [...f.subarray(14 + ihl, 14 + ihl + 4), f[o]!, f[o + 1]!] };
  }
  if (ihl === 28 && f[34] === 31) return { mode: 'ipo', port: f.readUInt16BE(36), addr: f.readUInt32BE(38), udpOff: 14 + ihl, shim: [f[34]!, f[35]!] };
  return { mode: null, port: 0, addr: 0, udpOff: 14 + ihl, shim: [] };
}

function rsFrames(out: DirectorOutput[]): Buffer[] {
  return out.filter((o) => o.side === 'rs').map((o) => o.frame);
}

describe('reference director, profile dpvs: UOA on FullNAT UDP (§3.3)', () => {
  for (const mode of ['ipo', 'opp'] as const) {
    it(`${mode}: the first 3 datagrams of each connection carry the client address and port, the rest none`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 4, max: 8 }), fc.integer({ min: 1024, max: 65535 }), fc.uint8Array({ minLength: 1, maxLength: 200 }), (n, sport, body) => {
          const d = udpDirector('dpvs', mode);
          const payload = Buffer.from(body);
          for (let i = 0; i < n; i++) {
            const sent = datagram(sport, payload, i === 1);
            const [f, ...more] = rsFrames(d.handle(sent, i * 10, 'client'));
            expect(more).toEqual([]);
            const u = uoaOf(f!);
            const grow = i < 3 ? (mode === 'ipo' ? 8 : 12) : 0;
            expect(u.mode).toBe(i < 3 ? mode : null);
            if (i < 3) {
              expect([u.port, u.addr]).toEqual([sport, ip4(CIP)]);
              expect(u.shim).toEqual(mode === 'ipo' ? [31, 8] : [0x10, 17, 0, 12, 31, 8]);
            }
            // Translated: LIP:lport → RIP:5353, the length grown by the UOA, TTL/TOS/ID/DF kept.
            expect(f!.readUInt32BE(26)).toBe(ip4(LIP));
            expect([RIP1, RIP2].map(ip4)).toContain(f!.readUInt32BE(30));
            expect(f!.readUInt16BE(f!.length - payload.length - 8 + 2)).toBe(5353);
            expect(f!.readUInt16BE(16)).toBe(sent.readUInt16BE(16) + grow);
            expect([f![22], f![15], f!.readUInt16BE(18), f!.readUInt16BE(20)]).toEqual([61, 0x10, 0x2222, 0x4000]);
            expect(f!.subarray(f!.length - payload.length).equals(payload)).toBe(true);
            expect(ipv4Valid(f!)).toBe(true);
            // DPVS leaves the UDP checksum 0 behind the IPv4 shim, and computes it otherwise
            // (also for a client datagram that had none).
            const csum = f!.readUInt16BE(u.udpOff + 6);
            if (u.mode === 'opp') expect(csum).toBe(0);
            else expect(csum).toBe(l4Expected(f!));
          }
        }),
        { numRuns: 40 },
      );
    });
  }

  it('every new client port is a new connection with its own trail', () => {
    const d = udpDirector('dpvs', 'opp');
    const marked = [40001, 40002, 40003].map((sport) => [0, 1, 2, 3].map((i) => uoaOf(rsFrames(d.handle(datagram(sport, Buffer.from('q')), i, 'client'))[0]!).mode));
    expect(marked).toEqual([0, 1, 2].map(() => ['opp', 'opp', 'opp', null]));
  });

  it('ipo puts the UOA first, before options the client sent; opp after them', () => {
    for (const mode of ['ipo', 'opp'] as const) {
      const sent = datagram(40001, Buffer.from('q'));
      // A client IPv4 header with one 4-byte option (router alert: 148, 4, 0, 0).
      const withOpt = Buffer.concat([sent.subarray(0, 34), Buffer.from([148, 4, 0, 0]), sent.subarray(34)]);
      withOpt[14] = 0x46;
      withOpt.writeUInt16BE(withOpt.readUInt16BE(16) + 4, 16);
      withOpt.writeUInt16BE(0, 24);
      let sum = 0;
      for (let i = 14; i < 38; i += 2) sum += withOpt.readUInt16BE(i);
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      withOpt.writeUInt16BE(~sum & 0xffff, 24);
      const f = rsFrames(udpDirector('dpvs', mode).handle(withOpt, 0, 'client'))[0]!;
      if (mode === 'ipo') {
        expect(f[14]).toBe(0x48);
        expect([...f.subarray(34, 46)]).toEqual([31, 8, 40001 >> 8, 40001 & 255, ...CIP.split('.').map(Number), 148, 4, 0, 0]);
      } else {
        expect(f[14]).toBe(0x46);
        expect([...f.subarray(34, 42)]).toEqual([148, 4, 0, 0, 0x10, 17, 0, 12]);
      }
      expect(ipv4Valid(f)).toBe(true);
    }
  });

  it('uoa-mode off, and the alibaba profile, send no UOA', () => {
    for (const d of [udpDirector('dpvs', 'off'), udpDirector('alibaba')]) {
      const f = rsFrames(d.handle(datagram(40001, Buffer.from('q')), 0, 'client'))[0]!;
      expect(uoaOf(f).mode).toBeNull();
      expect(f[23]).toBe(17);
      expect(f[14]).toBe(0x45);
    }
  });

  it('no room: a stand-alone empty UOA datagram goes ahead of the original, which has none', () => {
    for (const mode of ['ipo', 'opp'] as const) {
      const mtu = 1000;
      const d = udpDirector('dpvs', mode, [], mtu);
      // 28 bytes of headers + 968 = 996: fits the MTU, not with 8 or 12 more.
      const sent = datagram(40009, Buffer.alloc(968, 7));
      const out = rsFrames(d.handle(sent, 0, 'client'));
      expect(out.length).toBe(2);
      const [lone, orig] = out as [Buffer, Buffer];
      const u = uoaOf(lone);
      expect(u.mode).toBe(mode);
      expect([u.port, u.addr]).toEqual([40009, ip4(CIP)]);
      expect(lone.length).toBe(14 + 20 + (mode === 'ipo' ? 8 : 12) + 8);
      expect(lone.readUInt32BE(26)).toBe(orig.readUInt32BE(26));
      expect(lone.readUInt32BE(30)).toBe(orig.readUInt32BE(30));
      expect([lone.readUInt16BE(u.udpOff), lone.readUInt16BE(u.udpOff + 2)]).toEqual([orig.readUInt16BE(34), orig.readUInt16BE(36)]);
      expect([lone.readUInt16BE(u.udpOff + 4), lone.readUInt16BE(u.udpOff + 6)]).toEqual([8, 0]);
      expect([lone[22], lone[15], lone.readUInt16BE(20)]).toEqual([61, 0x10, 0]);
      expect(ipv4Valid(lone)).toBe(true);
      expect(uoaOf(orig).mode).toBeNull();
      expect(orig.length).toBe(sent.length);
      // The stand-alone datagram counts as one of the trail: two more carry UOA, then none.
      const next = [1, 2, 3].map((i) => uoaOf(rsFrames(d.handle(datagram(40009, Buffer.from('q')), i, 'client'))[0]!).mode);
      expect(next).toEqual([mode, mode, null]);
    }
  });

  it('faults break what they name', () => {
    const first = (faults: string[], mode: UoaMode = 'opp'): ReturnType<typeof uoaOf> =>
      uoaOf(rsFrames(udpDirector('dpvs', mode, faults).handle(datagram(40001, Buffer.from('q')), 0, 'client'))[0]!);
    expect(first(['uoa-missing']).mode).toBeNull();
    expect(first(['uoa-wrong-port']).port).toBe(40002);
    expect(first(['uoa-wrong-addr']).addr).toBe(ip4(LIP));
    expect(first(['uoa-shim-version']).shim[0]).toBe(0x20);
    const d = udpDirector('dpvs', 'ipo', ['uoa-every-datagram']);
    const modes = [0, 1, 2, 3, 4].map((i) => uoaOf(rsFrames(d.handle(datagram(40001, Buffer.from('q')), i, 'client'))[0]!).mode);
    expect(modes).toEqual(['ipo', 'ipo', 'ipo', 'ipo', 'ipo']);
  });
});
