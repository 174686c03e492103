/**
 * Reference director, FullNAT (lvs-behavior.md §2.1–2.4 Alibaba, §3.1 DPVS): addresses and
 * ports, TOA bytes and placement per profile, SYN timestamp → NOPs, constant seq delta, ack and
 * SACK shifted back, SYN-ACK MSS −8, sequential local ports from 5000, TTL untouched. Expected
 * bytes are written out by hand.
 */
import { describe, expect, it } from 'vitest';
import type { DirectorProfile } from '../../src/replay/director/index.js';
import type { TcpOption } from '../../src/replay/builder/index.js';
import { CIP, LIP, RIP1, RIP2, VIP, dec, director, fnatConf, fromClient, fromRs, ipv4Valid, l4Valid, tcpOptionBytes } from './director-harness.js';

const SYN_OPTS: TcpOption[] = [{ kind: 'mss', value: 1460 }, { kind: 'sackPermitted' }, { kind: 'ts', val: 111, ecr: 0 }, { kind: 'nop' }, { kind: 'ws', shift: 7 }];
// TOA for 198.51.100.7:40000 — kind 254, len 8, port 0x9c40, address c6 33 64 07 (§2.3).
const TOA = Buffer.from([254, 8, 0x9c, 0x40, 0xc6, 0x33, 0x64, 0x07]);
// The SYN's options with the timestamp overwritten by 10 NOPs (§2.2 step 1).
const SYN_OPTS_NO_TS = Buffer.from([2, 4, 0x05, 0xb4, 4, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 7]);

function ipNum(t: string): number {
  return t.split('.').reduce((a, x) => a * 256 + Number(x), 0);
}

/** Runs SYN / SYN-ACK and returns the director and the seq delta seen. */
function handshake(profile: DirectorProfile, faults: string[] = []) {
  const d = director(fnatConf(), profile, faults);
  const syn = d.handle(fromClient({ flags: 'S', seq: 1000, options: SYN_OPTS, ttl: 64 }), 0, 'client');
  const synOut = syn[0]!;
  const delta = (dec(synOut).net.tcp.seq - 1000) >>> 0;
  const synAck = d.handle(fromRs({ src: RIP1, dst: LIP, sport: 8080, dport: 5000, flags: 'SA', seq: 5000, ack: (1001 + delta) >>> 0, options: [{ kind: 'mss', value: 1460 }, { kind: 'nop' }, { kind: 'nop' }, { kind: 'sackPermitted' }] }), 1, 'rs');
  return { d, synOut, delta, synAckOut: synAck[0]! };
}

describe('FullNAT alibaba (§2.1–2.4)', () => {
  it('SYN toward the RS: LIP:5000 → RIP:8080, TOA first then the options with TS → NOPs, TTL/ID unchanged, checksums valid', () => {
    const { synOut } = handshake('alibaba');
    const f = synOut.frame;
    const p = dec(synOut);
    expect(synOut.side).toBe('rs');
    expect([p.net.ip.src4 >>> 0, p.net.ip.dst4 >>> 0]).toEqual([ipNum(LIP), ipNum(RIP1)]);
    expect([p.net.tcp.sport, p.net.tcp.dport]).toEqual([5000, 8080]);
    expect(tcpOptionBytes(f).equals(Buffer.concat([TOA, SYN_OPTS_NO_TS]))).toBe(true);
    expect(p.net.tcp.hdrLen).toBe(48);
    expect(p.net.ip.totalLen).toBe(68);
    expect(p.net.ip.ttl).toBe(64);
    expect(p.net.ip.id).toBe(0x1234);
    expect(ipv4Valid(f)).toBe(true);
    expect(l4Valid(f)).toBe(true);
  });

  it('SYN-ACK toward the client: VIP:80 → CIP:40000, ack back to ISN+1, MSS 1460 − 8 = 1452, RS seq unchanged', () => {
    const { synAckOut } = handshake('alibaba');
    const p = dec(synAckOut);
    expect(synAckOut.side).toBe('client');
    expect([p.net.ip.src4 >>> 0, p.net.ip.dst4 >>> 0]).toEqual([ipNum(VIP), ipNum(CIP)]);
    expect([p.net.tcp.sport, p.net.tcp.dport]).toEqual([80, 40000]);
    expect(p.net.tcp.ack).toBe(1001);
    expect(p.net.tcp.seq).toBe(5000);
    expect(p.net.tcp.mss).toBe(1452);
    expect(l4Valid(synAckOut.frame)).toBe(true);
  });

  it('TOA on the 3rd ACK and on the request (ack = RS_ISN+1), not after the RS data is acked, not on FIN; delta constant; SACK and ack shifted back', () => {
    const { d, delta } = handshake('alibaba');
    const ack = d.handle(fromClient({ flags: 'A', seq: 1001, ack: 5001 }), 2, 'client')[0]!;
    expect(tcpOptionBytes(ack.frame).equals(TOA)).toBe(true);
    expect(dec(ack).net.tcp.seq).toBe((1001 + delta) >>> 0);
    const req = d.handle(fromClient({ flags: 'PA', seq: 1001, ack: 5001, payload: 'GET / HTTP/1.0\r\n\r\n' }), 3, 'client')[0]!;
    expect(tcpOptionBytes(req.frame).subarray(0, 8).equals(TOA)).toBe(true);
    expect(dec(req).net.tcp.payloadLen).toBe(18);
    expect(dec(req).net.tcp.seq).toBe((1001 + delta) >>> 0);
    expect(l4Valid(req.frame)).toBe(true);
    // RS ACK with a SACK block, in the RS's view of the client's sequence space.
    const sack = d.handle(
      fromRs({ src: RIP1, dst: LIP, sport: 8080, dport: 5000, flags: 'A', seq: 5001, ack: (1001 + delta) >>> 0, options: [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[(1101 + delta) >>> 0, (1201 + delta) >>> 0]] }] }),
      4,
      'rs',
    )[0]!;
    const sp = dec(sack);
    expect(sp.net.tcp.ack).toBe(1001);
    expect([sp.net.tcp.sackLeft[0], sp.net.tcp.sackRight[0]]).toEqual([1101, 1201]);
    expect(l4Valid(sack.frame)).toBe(true);
    d.handle(fromRs({ src: RIP1, dst: LIP, sport: 8080, dport: 5000, flags: 'PA', seq: 5001, ack: (1019 + delta) >>> 0, payload: 'ok' }), 5, 'rs');
    const after = d.handle(fromClient({ flags: 'A', seq: 1019, ack: 5003 }), 6, 'client')[0]!;
    expect(tcpOptionBytes(after.frame).length).toBe(0);
    expect(dec(after).net.tcp.seq).toBe((1019 + delta) >>> 0);
    // A FIN that still acks RS_ISN+1 gets no TOA in the Alibaba code (FIN excluded).
    const d2 = handshake('alibaba').d;
    const fin = d2.handle(fromClient({ flags: 'FA', seq: 1001, ack: 5001 }), 2, 'client')[0]!;
    expect(tcpOptionBytes(fin.frame).length).toBe(0);
  });

  it('no TOA when the options already fill 40 bytes (FULLNAT_ADD_TOA_HEAD_FULL), packet forwarded as is', () => {
    const { d } = handshake('alibaba');
    const full: TcpOption[] = [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[1, 2], [3, 4], [5, 6], [7, 8]] }, { kind: 'nop' }, { kind: 'nop' }];
    const out = d.handle(fromClient({ flags: 'A', seq: 1001, ack: 5001, options: full }), 2, 'client')[0]!;
    const opts = tcpOptionBytes(out.frame);
    expect(opts.length).toBe(40);
    expect(opts[0]).toBe(1);
    expect(opts.includes(254)).toBe(false);
  });

  it('local ports are sequential from 5000 per local address; TTL never decremented (TTL 1 is forwarded)', () => {
    const d = director(fnatConf(), 'alibaba');
    const ports = [40000, 40001, 40002].map((sport) => dec(d.handle(fromClient({ flags: 'S', sport }), 0, 'client')[0]!).net.tcp.sport);
    expect(ports).toEqual([5000, 5001, 5002]);
    const ttl1 = d.handle(fromClient({ flags: 'S', sport: 40003, ttl: 1 }), 0, 'client');
    expect(ttl1[0]!.side).toBe('rs');
    expect(dec(ttl1[0]!).net.ip.ttl).toBe(1);
    expect(dec(ttl1[0]!).net.ip.dst4 >>> 0).toBe(ipNum(RIP2));
  });
});

describe('FullNAT dpvs (§3.1)', () => {
  it('no TOA in the SYN (since 30f421d1), TS still NOP-ed; TOA on the 3rd ACK and on a FIN acking RS_ISN+1', () => {
    const { d, synOut } = handshake('dpvs');
    expect(tcpOptionBytes(synOut.frame).equals(SYN_OPTS_NO_TS)).toBe(true);
    const ack = d.handle(fromClient({ flags: 'A', seq: 1001, ack: 5001 }), 2, 'client')[0]!;
    expect(tcpOptionBytes(ack.frame).equals(TOA)).toBe(true);
    const fin = d.handle(fromClient({ flags: 'FA', seq: 1001, ack: 5001 }), 3, 'client')[0]!;
    expect(tcpOptionBytes(fin.frame).equals(TOA)).toBe(true);
    expect(l4Valid(fin.frame)).toBe(true);
  });

  it('no room: NOPs and then unprotected options (SACK) are pruned so TOA fits (tcp_in_prune_options)', () => {
    const { d } = handshake('dpvs');
    const full: TcpOption[] = [{ kind: 'nop' }, { kind: 'nop' }, { kind: 'sack', blocks: [[1, 2], [3, 4], [5, 6], [7, 8]] }, { kind: 'nop' }, { kind: 'nop' }];
    const out = d.handle(fromClient({ flags: 'A', seq: 1001, ack: 5001, options: full }), 2, 'client')[0]!;
    expect(tcpOptionBytes(out.frame).equals(TOA)).toBe(true);
    expect(ipv4Valid(out.frame)).toBe(true);
    expect(l4Valid(out.frame)).toBe(true);
  });

  it('SYN-ACK MSS −8 and ack shifted like alibaba', () => {
    const { synAckOut } = handshake('dpvs');
    expect(dec(synAckOut).net.tcp.mss).toBe(1452);
    expect(dec(synAckOut).net.tcp.ack).toBe(1001);
  });
});
