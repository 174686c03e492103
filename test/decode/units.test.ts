/** Hand-built packets (RFC layouts) through the decoder, one protocol at a time. */
import { describe, expect, it } from 'vitest';
import { decodeBytes, Decoder } from '../../src/decode/decoder.js';
import { internetChecksum, pseudoHeaderSum4 } from '../../src/decode/checksum.js';
import { LinkType } from '../../src/decode/frame.js';
import { TcpFlag } from '../../src/decode/packet.js';
import { isSyn, isSynAck } from '../../src/decode/proto/tcp.js';
import { OPT_BAD_LENGTH, OPT_NO_LENGTH, OPT_OVERRUN, tcpOptionLength } from '../../src/decode/proto/tcp-options.js';
import { eth, icmp, ip4, ip6, ipv4, ipv6, pseudo4, pseudo6, refChecksum, tcp, u16, u32, udp } from './build.js';

const B = (a: number[]): Buffer => Buffer.from(a);
const ETH = LinkType.ETHERNET;
const ps4 = (len: number): Uint8Array => pseudo4('10.0.0.1', '10.0.0.2', 6, len);
const ps6 = (len: number): Uint8Array => pseudo6('2001:db8::1', '2001:db8::2', 6, len);

describe('checksum', () => {
  it('matches the RFC 1071 worked example (00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2)', () => {
    const b = Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(internetChecksum(b, 0, 8)).toBe(~0xddf2 & 0xffff);
  });
  it('handles odd lengths, offsets and a pseudo-header like the reference', () => {
    const b = Uint8Array.from([9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(internetChecksum(b, 1, 11)).toBe(refChecksum(b.subarray(1, 12)));
    const ip = Uint8Array.from([...ip4('10.0.0.1'), ...ip4('10.0.0.2')]);
    expect(internetChecksum(b, 1, 11, pseudoHeaderSum4(ip, 0, 4, 6, 11))).toBe(refChecksum(pseudo4('10.0.0.1', '10.0.0.2', 6, 11), b.subarray(1, 12)));
  });
});

describe('link layers', () => {
  const ipPkt = ipv4({ proto: 17 }, udp(1, 2, [1, 2, 3]));
  it('Ethernet with an 802.1ad + 802.1Q stack', () => {
    const p = decodeBytes(B(eth(0x88a8, [], [])), ETH);
    expect(p.eth.present).toBe(true);
    const q = decodeBytes(B([...eth(0x88a8, []).slice(0, 12), 0x88, 0xa8, ...u16(0x2064), 0x81, 0x00, ...u16(0x00c8), 0x08, 0x00, ...ipPkt]), ETH);
    expect(q.vlan.count).toBe(2);
    expect([q.vlan.tpid[0], q.vlan.id[0], q.vlan.pcp[0], q.vlan.tpid[1], q.vlan.id[1]]).toEqual([0x88a8, 100, 1, 0x8100, 200]);
    expect(q.eth.etherType).toBe(0x0800);
    expect(q.net.udp.present).toBe(true);
  });
  it('more than 4 VLAN tags is malformed at vlan', () => {
    const tags = Array.from({ length: 5 }, () => [0x81, 0x00, 0, 1]).flat();
    const p = decodeBytes(B([...Array(12).fill(0), ...tags, 0x08, 0x00, ...ipPkt]), ETH);
    expect(p.malformed.present).toBe(true);
    expect(p.malformed.layer).toBe('vlan');
    expect(p.net.present).toBe(false);
  });
  it('LINUX_SLL: packet type 4 is outgoing, hatype and protocol kept', () => {
    const sll = [0, 4, 0, 1, 0, 6, 2, 0, 0, 0, 0, 9, 0, 0, 0x08, 0x00];
    const p = decodeBytes(B([...sll, ...ipPkt]), LinkType.LINUX_SLL);
    expect(p.sll.present && p.sll.version === 1).toBe(true);
    expect([p.sll.pktType, p.sll.hatype, p.sll.addrLen, p.sll.ifIndex, p.sll.protocol]).toEqual([4, 1, 6, -1, 0x0800]);
    expect(p.direction).toBe('out');
    expect(p.net.ip.version).toBe(4);
  });
  it('LINUX_SLL2: interface index, packet type 0 is incoming; a pcapng direction wins', () => {
    const sll2 = [0x86, 0xdd, 0, 0, ...u32(7), 0, 1, 0, 6, 2, 0, 0, 0, 0, 9, 0, 0];
    const bytes = B([...sll2, ...ipv6({ nh: 59 }, [])]);
    const p = decodeBytes(bytes, LinkType.LINUX_SLL2);
    expect([p.sll.version, p.sll.ifIndex, p.sll.pktType, p.direction]).toEqual([2, 7, 0, 'in']);
    expect(p.net.ip.version).toBe(6);
    const d = new Decoder();
    const q = d.decode({ capture: 'x', frame: 1, buf: bytes, off: 0, caplen: bytes.length, len: bytes.length, tsSec: 0, tsNsec: 0,
      linkType: LinkType.LINUX_SLL2, interfaceId: 0, direction: 'out', comment: null, fileOffset: 0 });
    expect(q.direction).toBe('out');
  });
  it('NULL/LOOP accept the address family in either byte order', () => {
    expect(decodeBytes(B([2, 0, 0, 0, ...ipPkt]), LinkType.NULL).net.ip.version).toBe(4);
    expect(decodeBytes(B([0, 0, 0, 2, ...ipPkt]), LinkType.LOOP).net.ip.version).toBe(4);
    for (const af of [24, 28, 30]) {
      expect(decodeBytes(B([af, 0, 0, 0, ...ipv6({ nh: 59 }, [])]), LinkType.NULL).net.ip.version).toBe(6);
      expect(decodeBytes(B([0, 0, 0, af, ...ipv6({ nh: 59 }, [])]), LinkType.LOOP).net.ip.version).toBe(6);
    }
  });
  it('RAW, IPV4 and IPV6 link types', () => {
    expect(decodeBytes(B(ipPkt), LinkType.RAW).net.ip.version).toBe(4);
    expect(decodeBytes(B(ipv6({ nh: 59 }, [])), LinkType.RAW).net.ip.version).toBe(6);
    expect(decodeBytes(B(ipPkt), LinkType.IPV4).net.udp.dport).toBe(2);
    expect(decodeBytes(B(ipv6({ nh: 59 }, [])), LinkType.IPV6).net.ip.proto).toBe(59);
  });
  it('a cut Ethernet header is truncated at link', () => {
    expect(decodeBytes(B([1, 2, 3]), ETH, undefined, 60).truncated).toBe('link');
  });
});

describe('ARP', () => {
  const arp = (op: number, spa: string, tpa: string): number[] =>
    [0, 1, 8, 0, 6, 4, 0, op, 2, 0, 0, 0, 0, 1, ...ip4(spa), 0, 0, 0, 0, 0, 0, ...ip4(tpa)];
  it('request fields, offsets and IPv4 numbers', () => {
    const p = decodeBytes(B(eth(0x0806, arp(1, '10.0.0.5', '10.0.0.9'))), ETH);
    const a = p.arp;
    expect([a.present, a.isEthIpv4, a.op, a.htype, a.ptype, a.hlen, a.plen]).toEqual([true, true, 1, 1, 0x0800, 6, 4]);
    expect([a.shaOff, a.spaOff, a.thaOff, a.tpaOff]).toEqual([22, 28, 32, 38]);
    expect([a.spa, a.tpa]).toEqual([0x0a000005, 0x0a000009]);
    expect([a.gratuitous, a.probe]).toEqual([false, false]);
  });
  it('gratuitous (spa == tpa) in request and reply form; probe (spa 0)', () => {
    expect(decodeBytes(B(eth(0x0806, arp(1, '10.0.0.5', '10.0.0.5'))), ETH).arp.gratuitous).toBe(true);
    expect(decodeBytes(B(eth(0x0806, arp(2, '10.0.0.5', '10.0.0.5'))), ETH).arp.gratuitous).toBe(true);
    const probe = decodeBytes(B(eth(0x0806, arp(1, '0.0.0.0', '10.0.0.5'))), ETH).arp;
    expect([probe.probe, probe.gratuitous]).toEqual([true, false]);
    expect(decodeBytes(B(eth(0x0806, arp(1, '0.0.0.0', '0.0.0.0'))), ETH).arp.gratuitous).toBe(false);
  });
  it('cut addresses: truncated at arp, no IPv4 verdicts', () => {
    const p = decodeBytes(B(eth(0x0806, arp(1, '10.0.0.5', '10.0.0.5')).slice(0, 40)), ETH, undefined, 42);
    expect(p.truncated).toBe('arp');
    expect(p.arp.isEthIpv4).toBe(false);
  });
});

describe('IPv4', () => {
  it('header fields, flags, checksum verdicts', () => {
    const good = decodeBytes(B(eth(0x0800, ipv4({ proto: 6, ttl: 7, id: 0xbeef, df: true, tos: 0x10, src: '192.0.2.1', dst: '198.51.100.2' }, tcp({}, (l) => pseudo4('192.0.2.1', '198.51.100.2', 6, l))))), ETH);
    const ip = good.net.ip;
    expect([ip.version, ip.ttl, ip.id, ip.df, ip.mf, ip.tos, ip.hdrLen, ip.totalLen, ip.proto]).toEqual([4, 7, 0xbeef, true, false, 0x10, 20, 40, 6]);
    expect([ip.src4, ip.dst4]).toEqual([0xc0000201, 0xc6336402]);
    expect(ip.checksumOk).toBe(true);
    expect(good.net.tcp.checksumOk).toBe(true);
    const bad = decodeBytes(B(eth(0x0800, ipv4({ proto: 6, badChecksum: true }, tcp({})))), ETH);
    expect(bad.net.ip.checksumOk).toBe(false);
    const off = decodeBytes(B(eth(0x0800, ipv4({ proto: 6 }, tcp({})))), ETH, { checksums: false });
    expect(off.net.ip.checksumOk).toBe(null);
    expect(off.net.tcp.checksumOk).toBe(null);
  });
  it('options are counted into hdrLen', () => {
    const p = decodeBytes(B(ipv4({ proto: 17, options: [0x94, 4, 0, 0] }, udp(1, 2, []))), LinkType.RAW);
    expect([p.net.ip.hdrLen, p.net.ip.optionsLen, p.net.ip.checksumOk, p.net.udp.sport]).toEqual([24, 4, true, 1]);
  });
  it('first fragment: L4 decoded, checksum not verified; later fragment: no L4', () => {
    const seg = tcp({ payload: Array(40).fill(1) }, ps4);
    const first = decodeBytes(B(ipv4({ proto: 6, mf: true }, seg.slice(0, 32))), LinkType.RAW);
    expect([first.net.ip.isFragment, first.net.tcp.present, first.net.tcp.checksumOk, first.truncated, first.malformed.present]).toEqual([true, true, null, null, false]);
    const later = decodeBytes(B(ipv4({ proto: 6, fragOffset8: 4 }, seg.slice(32))), LinkType.RAW);
    expect([later.net.ip.isFragment, later.net.ip.fragOffset, later.net.tcp.present, later.net.l4]).toEqual([true, 32, false, 'other']);
  });
  it('tot_len beyond the capture is truncated; below the header is malformed', () => {
    const full = ipv4({ proto: 6 }, tcp({ payload: Array(100).fill(0) }, ps4));
    const cut = decodeBytes(B(full.slice(0, 60)), LinkType.RAW, undefined, full.length);
    expect(cut.truncated).toBe('ipv4');
    expect([cut.net.ip.payloadLen, cut.net.ip.payloadWireLen, cut.net.tcp.present, cut.net.tcp.checksumOk]).toEqual([40, 120, true, null]);
    expect([cut.net.tcp.payloadLen, cut.net.tcp.payloadWireLen]).toEqual([20, 100]);
    const m = decodeBytes(B(ipv4({ proto: 6, totLen: 12 }, tcp({}))), LinkType.RAW);
    expect([m.malformed.present, m.malformed.layer]).toEqual([true, 'ipv4']);
  });
  it('tot_len beyond a frame captured whole is malformed, not truncated; TCP checksum not judged', () => {
    const full = ipv4({ proto: 6, totLen: 820 }, tcp({ payload: Array(12).fill(0) }, ps4));
    const p = decodeBytes(B(full), LinkType.RAW);
    expect([p.truncated, p.malformed.present, p.malformed.layer, p.malformed.offset]).toEqual([null, true, 'ipv4', full.length]);
    expect([p.net.tcp.present, p.net.tcp.checksumOk]).toEqual([true, null]);
  });
  it('tot_len 0 on the outer header (TSO / BIG TCP) takes the frame length, as tcpdump and tshark do', () => {
    const seg = tcp({ flags: 0x10, payload: Array(300).fill(3) }, ps4);
    const bytes = ipv4({ proto: 6, totLen: 0 }, seg);
    const p = decodeBytes(B(bytes), LinkType.RAW);
    expect([p.malformed.present, p.truncated, p.net.ip.totalLen, p.net.tcp.payloadWireLen, p.net.tcp.checksumOk]).toEqual([false, null, 340, 300, true]);
    const cut = decodeBytes(B(bytes.slice(0, 100)), LinkType.RAW, undefined, bytes.length);
    expect([cut.truncated, cut.net.ip.totalLen, cut.net.tcp.payloadWireLen]).toEqual(['ipv4', 340, 300]);
    const inner = decodeBytes(B(ipv4({ proto: 4 }, bytes)), LinkType.RAW);
    expect([inner.malformed.present, inner.malformed.layer]).toEqual([true, 'ipv4']);
  });
  it('Ethernet padding after tot_len is not payload', () => {
    const p = decodeBytes(B(eth(0x0800, [...ipv4({ proto: 17 }, udp(5, 6, [], (l) => pseudo4('10.0.0.1', '10.0.0.2', 17, l))), 0, 0, 0, 0, 0, 0])), ETH);
    expect([p.net.ip.payloadLen, p.net.udp.payloadLen, p.net.udp.checksumOk, p.truncated]).toEqual([8, 0, true, null]);
  });
});

describe('IPv6', () => {
  it('fixed header and extension chain (hop-by-hop, dest-opts, routing) to TCP', () => {
    const seg = tcp({}, ps6);
    const dst = [6, 0, 1, 4, 0, 0, 0, 0];
    const hbh = [60, 0, 1, 4, 0, 0, 0, 0];
    const p = decodeBytes(B(ipv6({ nh: 0, hlim: 9, flow: 0x12345, tc: 0xb8 }, [...hbh, ...dst, ...seg])), LinkType.RAW);
    const ip = p.net.ip;
    expect([ip.version, ip.ttl, ip.flowLabel, ip.tos, ip.hdrLen, ip.proto, ip.totalLen]).toEqual([6, 9, 0x12345, 0xb8, 56, 6, 76]);
    expect(p.net.tcp.checksumOk).toBe(true);
  });
  it('routing header with segments left: pseudo-header uses the final destination', () => {
    const finalDst = '2001:db8::99';
    const seg = tcp({}, (l) => pseudo6('2001:db8::1', finalDst, 6, l));
    const rh = [6, 2, 0, 1, 0, 0, 0, 0, ...ip6(finalDst)]; // type 0, one address
    const p = decodeBytes(B(ipv6({ nh: 43 }, [...rh, ...seg])), LinkType.RAW);
    expect(p.net.tcp.checksumOk).toBe(true);
  });
  it('fragment header: id, offset, first fragment decodes L4 without checksum, later does not', () => {
    const seg = tcp({ payload: Array(16).fill(2) }, ps6);
    const f1 = decodeBytes(B(ipv6({ nh: 44 }, [6, 0, 0, 1, ...u32(0xabcdef01), ...seg.slice(0, 24)])), LinkType.RAW);
    expect([f1.net.ip.isFragment, f1.net.ip.id, f1.net.ip.mf, f1.net.tcp.present, f1.net.tcp.checksumOk]).toEqual([true, 0xabcdef01, true, true, null]);
    const f2 = decodeBytes(B(ipv6({ nh: 44 }, [6, 0, 0, 24, ...u32(0xabcdef01), ...seg.slice(24)])), LinkType.RAW);
    expect([f2.net.ip.fragOffset, f2.net.tcp.present, f2.net.ip.proto, f2.net.l4]).toEqual([24, false, 6, 'other']);
  });
  it('AH length counts in 4-byte units; no-next-header stops', () => {
    const ah = [59, 4, 0, 0, ...Array(20).fill(0)]; // (4+2)*4 = 24
    const p = decodeBytes(B(ipv6({ nh: 51 }, ah)), LinkType.RAW);
    expect([p.net.ip.hdrLen, p.net.ip.proto, p.net.l4]).toEqual([64, 59, 'other']);
  });
  it('an extension header past payload_len is malformed at ipv6-ext', () => {
    const p = decodeBytes(B(ipv6({ nh: 60, plen: 8 }, [6, 3, 0, 0, 0, 0, 0, 0, ...Array(24).fill(0)])), LinkType.RAW);
    expect([p.malformed.present, p.malformed.layer]).toEqual([true, 'ipv6-ext']);
  });
});

describe('TCP', () => {
  it('base header fields and all nine flags', () => {
    const p = decodeBytes(B(ipv4({ proto: 6 }, tcp({ sport: 1234, dport: 443, seq: 0xfffffff0, ack: 0x80000001, flags: 0x1ff, win: 512 }, ps4))), LinkType.RAW);
    const t = p.net.tcp;
    expect([t.sport, t.dport, t.seq, t.ack, t.flags, t.window, t.hdrLen, t.checksumOk]).toEqual([1234, 443, 0xfffffff0, 0x80000001, 0x1ff, 512, 20, true]);
    expect(t.flags & TcpFlag.NS).toBe(TcpFlag.NS);
  });
  it('every option kind into optKind/optOff/optLen with parsed values', () => {
    const opts = [2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10, ...u32(111), ...u32(222), 5, 10, ...u32(5), ...u32(9)];
    const p = decodeBytes(B(ipv4({ proto: 6 }, tcp({ options: opts }, ps4))), LinkType.RAW);
    const t = p.net.tcp;
    expect(Array.from(t.optKind.subarray(0, t.optCount))).toEqual([2, 1, 3, 4, 8, 5, 0]);
    expect(Array.from(t.optLen.subarray(0, t.optCount))).toEqual([4, 1, 3, 2, 10, 10, 1]);
    expect(t.optOff[0]).toBe(40);
    expect([t.mss, t.wscale, t.sackPermitted, t.tsPresent, t.tsVal, t.tsEcr, t.sackCount, t.sackLeft[0], t.sackRight[0]]).toEqual([1460, 7, true, true, 111, 222, 1, 5, 9]);
    expect(p.malformed.present).toBe(false);
  });
  it('MD5, MPTCP, TFO and unknown kinds are kept raw', () => {
    const opts = [19, 18, ...Array(16).fill(0xaa), 30, 4, 0x10, 0, 34, 2, 99, 3, 1];
    const t = decodeBytes(B(ipv4({ proto: 6 }, tcp({ options: opts }))), LinkType.RAW).net.tcp;
    expect(Array.from(t.optKind.subarray(0, t.optCount))).toEqual([19, 30, 34, 99, 0]);
    expect(Array.from(t.optLen.subarray(0, t.optCount))).toEqual([18, 4, 2, 3, 1]);
  });
  it('a bad option length is malformed at tcp-options, header still decoded', () => {
    const p = decodeBytes(B(ipv4({ proto: 6 }, tcp({ sport: 7, options: [1, 2, 9, 0] }))), LinkType.RAW);
    expect([p.malformed.present, p.malformed.layer, p.net.tcp.present, p.net.tcp.sport, p.net.tcp.optCount]).toEqual([true, 'tcp-options', true, 7, 1]);
    const z = decodeBytes(B(ipv4({ proto: 6 }, tcp({ options: [8, 0, 0, 0] }))), LinkType.RAW);
    expect(z.malformed.layer).toBe('tcp-options');
  });
  it('the shared option step: sizes, and why it stops, without reading past the end', () => {
    const b = Uint8Array.from([0, 1, 2, 4, 5, 0xb4, 8, 1, 8, 10, 9]);
    expect([tcpOptionLength(b, 0, b.length), tcpOptionLength(b, 1, b.length), tcpOptionLength(b, 2, b.length)]).toEqual([1, 1, 4]);
    expect(tcpOptionLength(b, 6, b.length)).toBe(OPT_BAD_LENGTH);
    expect(tcpOptionLength(b, 8, b.length)).toBe(OPT_OVERRUN);
    expect(tcpOptionLength(b, 2, 3)).toBe(OPT_NO_LENGTH);
    expect(tcpOptionLength(b, 2, 5)).toBe(OPT_OVERRUN);
  });
  it('isSyn and isSynAck read the SYN and ACK bits only', () => {
    const f = (flags: number) => [isSyn({ flags }), isSynAck({ flags })];
    expect([f(TcpFlag.SYN), f(TcpFlag.SYN | TcpFlag.ECE | TcpFlag.CWR), f(TcpFlag.SYN | TcpFlag.ACK), f(TcpFlag.ACK), f(0)]).toEqual([
      [true, false],
      [true, false],
      [false, true],
      [false, false],
      [false, false],
    ]);
  });
  it('data offset below 5 is malformed at tcp', () => {
    const p = decodeBytes(B(ipv4({ proto: 6 }, tcp({ doff: 3 }))), LinkType.RAW);
    expect([p.malformed.layer, p.net.tcp.present]).toEqual(['tcp', true]);
  });
  it('a wrong checksum is false', () => {
    const seg = tcp({}, ps4);
    seg[17]! ^= 1;
    expect(decodeBytes(B(ipv4({ proto: 6 }, seg)), LinkType.RAW).net.tcp.checksumOk).toBe(false);
  });
});

describe('TOA', () => {
  const toa4 = [254, 8, ...u16(51000), ...ip4('203.0.113.7')];
  const toa6 = [253, 20, ...u16(443), ...ip6('2001:db8:ffff::42')];
  it('IPv4 TOA (kind 254 len 8) right after the base header', () => {
    const p = decodeBytes(B(ipv4({ proto: 6 }, tcp({ flags: TcpFlag.ACK, options: [...toa4, 1, 1, 8, 10, ...u32(1), ...u32(2)] }, ps4))), LinkType.RAW);
    const t = p.net.tcp;
    expect([t.toaKind, t.toaLen, t.toaFamily, t.toaPort, t.toaAddr4, t.toaIndex, t.toaAddrOff]).toEqual([254, 8, 4, 51000, 0xcb007107, 0, 44]);
    expect(t.checksumOk).toBe(true);
  });
  it('IPv6 TOA (kind 253 len 20) and DPVS kind 254 len 20 (NAT64 in an IPv4 packet)', () => {
    const t6 = decodeBytes(B(ipv6({ nh: 6 }, tcp({ flags: TcpFlag.ACK, options: toa6 }, ps6))), LinkType.RAW).net.tcp;
    expect([t6.toaKind, t6.toaLen, t6.toaFamily, t6.toaPort, t6.toaIndex]).toEqual([253, 20, 6, 443, 0]);
    const nat64 = [254, 20, ...u16(443), ...ip6('2001:db8::7')];
    const t4 = decodeBytes(B(ipv4({ proto: 6 }, tcp({ flags: TcpFlag.ACK, options: nat64 }))), LinkType.RAW).net.tcp;
    expect([t4.toaKind, t4.toaFamily, t4.toaAddrOff]).toEqual([254, 6, 44]);
  });
  it('TOA at an index above 0', () => {
    const t = decodeBytes(B(ipv4({ proto: 6 }, tcp({ flags: TcpFlag.ACK, options: [1, 1, 8, 10, ...u32(1), ...u32(2), ...toa4] }))), LinkType.RAW).net.tcp;
    expect([t.toaKind, t.toaIndex, t.toaPort]).toEqual([254, 3, 51000]);
  });
  it('kind 200 only when opts.toaKinds has it', () => {
    const jup = [200, 8, ...u16(1), ...ip4('1.2.3.4')];
    const bytes = B(ipv4({ proto: 6 }, tcp({ flags: TcpFlag.ACK, options: jup })));
    expect(decodeBytes(bytes, LinkType.RAW).net.tcp.toaKind).toBe(0);
    const t = decodeBytes(bytes, LinkType.RAW, { toaKinds: [200] }).net.tcp;
    expect([t.toaKind, t.toaAddr4, t.toaIndex]).toEqual([200, 0x01020304, 0]);
    const t254 = decodeBytes(B(ipv4({ proto: 6 }, tcp({ flags: TcpFlag.ACK, options: toa4 }))), LinkType.RAW, { toaKinds: [200] }).net.tcp;
    expect(t254.toaKind).toBe(0);
  });
  it('wrong TOA lengths are not TOA', () => {
    const t = decodeBytes(B(ipv4({ proto: 6 }, tcp({ flags: TcpFlag.ACK, options: [254, 10, 1, 2, 3, 4, 5, 6, 7, 8] }))), LinkType.RAW).net.tcp;
    expect(t.toaKind).toBe(0);
  });
  it('TFO experimental option (ExID 0xF989) in a SYN is not TOA, even at len 8 and 20', () => {
    for (const len of [4, 8, 12, 20]) {
      const opt = [254, len, 0xf9, 0x89, ...Array(len - 4).fill(0x09)];
      const t = decodeBytes(B(ipv4({ proto: 6 }, tcp({ flags: TcpFlag.SYN, options: opt }))), LinkType.RAW).net.tcp;
      expect(t.toaKind, `len ${len}`).toBe(0);
      expect(t.optKind[0]).toBe(254);
    }
  });
  it('the same bytes on a non-SYN segment are TOA from client port 63881 (TFO lives only on SYNs, RFC 7413)', () => {
    const opt = [254, 8, 0xf9, 0x89, ...ip4('10.9.9.9')];
    const t = decodeBytes(B(ipv4({ proto: 6 }, tcp({ flags: TcpFlag.ACK, options: opt }))), LinkType.RAW).net.tcp;
    expect([t.toaKind, t.toaPort]).toEqual([254, 0xf989]);
  });
  it('AccECN experimental options (ExID 0xACC0/0xACC1, len 4+3n) are not TOA, also with 253/254 accepted at other lengths', () => {
    for (const [exid, len] of [[0xacc0, 10], [0xacc1, 13], [0xacc0, 4]] as const) {
      const opt = [254, len, exid >> 8, exid & 255, ...Array(len - 4).fill(0)];
      const t = decodeBytes(B(ipv4({ proto: 6 }, tcp({ flags: TcpFlag.ACK, options: opt }))), LinkType.RAW).net.tcp;
      expect(t.toaKind).toBe(0);
    }
  });
  it('only the first TOA counts', () => {
    const second = [254, 8, ...u16(2), ...ip4('9.9.9.9')];
    const t = decodeBytes(B(ipv4({ proto: 6 }, tcp({ flags: TcpFlag.ACK, options: [...toa4, ...second] }))), LinkType.RAW).net.tcp;
    expect([t.toaPort, t.toaIndex, t.optCount]).toEqual([51000, 0, 2]);
  });
});

describe('UDP', () => {
  const pu4 = (l: number): Uint8Array => pseudo4('10.0.0.1', '10.0.0.2', 17, l);
  it('ports, length, checksum good/bad; IPv4 zero checksum means none', () => {
    const good = decodeBytes(B(ipv4({ proto: 17 }, udp(53, 5353, [1, 2, 3], pu4))), LinkType.RAW).net.udp;
    expect([good.sport, good.dport, good.length, good.payloadLen, good.checksumOk]).toEqual([53, 5353, 11, 3, true]);
    const d = udp(53, 5353, [1, 2, 3], pu4);
    d[7]! ^= 0x10;
    expect(decodeBytes(B(ipv4({ proto: 17 }, d)), LinkType.RAW).net.udp.checksumOk).toBe(false);
    expect(decodeBytes(B(ipv4({ proto: 17 }, udp(53, 5353, [1, 2, 3]))), LinkType.RAW).net.udp.checksumOk).toBe(true);
  });
  it('IPv6: pseudo-header verified; zero checksum is not OK', () => {
    const pu6 = (l: number): Uint8Array => pseudo6('2001:db8::1', '2001:db8::2', 17, l);
    expect(decodeBytes(B(ipv6({ nh: 17 }, udp(1, 2, [7], pu6))), LinkType.RAW).net.udp.checksumOk).toBe(true);
    expect(decodeBytes(B(ipv6({ nh: 17 }, udp(1, 2, [7]))), LinkType.RAW).net.udp.checksumOk).toBe(false);
  });
  it('length below 8 is malformed', () => {
    const d = udp(1, 2, []);
    d[5] = 4;
    expect(decodeBytes(B(ipv4({ proto: 17 }, d)), LinkType.RAW).malformed.layer).toBe('udp');
  });
});

describe('ICMP', () => {
  it('echo id/seq and checksum', () => {
    const p = decodeBytes(B(ipv4({ proto: 1 }, icmp(8, 0, [...u16(0x77), ...u16(3)], [1, 2, 3]))), LinkType.RAW);
    const c = p.net.icmp;
    expect([p.net.l4, c.type, c.code, c.echoId, c.echoSeq, c.checksumOk, c.hasQuoted]).toEqual(['icmp', 8, 0, 0x77, 3, true, false]);
  });
  it('frag-needed: MTU and the quoted (cut) packet, nothing truncated or malformed', () => {
    const orig = ipv4({ proto: 6, src: '10.0.0.2', dst: '10.0.0.1', df: true }, tcp({ sport: 80, dport: 40000, seq: 77, payload: Array(1400).fill(0) }));
    const quote = orig.slice(0, 28);
    const p = decodeBytes(B(ipv4({ proto: 1 }, icmp(3, 4, [0, 0, ...u16(1400)], quote))), LinkType.RAW);
    expect([p.net.icmp.mtu, p.net.icmp.hasQuoted, p.net.icmp.checksumOk]).toEqual([1400, true, true]);
    const q = p.quoted;
    expect([q.ip.version, q.ip.src4, q.ip.checksumOk, q.l4, q.tcp.present, q.tcp.sport, q.tcp.dport, q.tcp.seq, q.tcp.hdrLen]).toEqual([4, 0x0a000002, true, 'tcp', true, 80, 40000, 77, 0]);
    expect([p.truncated, p.malformed.present]).toEqual([null, false]);
  });
  it('ICMPv6 packet too big: 32-bit MTU, pseudo-header checksum, quoted IPv6', () => {
    const orig = ipv6({ nh: 17, src: '2001:db8::2', dst: '2001:db8::1' }, udp(53, 9, Array(1300).fill(0), (l) => pseudo6('2001:db8::2', '2001:db8::1', 17, l)));
    const quote = orig.slice(0, 48);
    const body = icmp(2, 0, u32(1280), quote, pseudo6('2001:db8::1', '2001:db8::2', 58, 8 + quote.length));
    const p = decodeBytes(B(ipv6({ nh: 58 }, body)), LinkType.RAW);
    expect([p.net.l4, p.net.icmp.version, p.net.icmp.mtu, p.net.icmp.checksumOk]).toEqual(['icmpv6', 6, 1280, true]);
    expect([p.quoted.ip.version, p.quoted.udp.sport, p.quoted.udp.dport, p.quoted.udp.checksumOk, p.truncated]).toEqual([6, 53, 9, null, null]);
  });
  it('ICMPv6 echo request id/seq', () => {
    const body = icmp(128, 0, [...u16(5), ...u16(6)], [], pseudo6('2001:db8::1', '2001:db8::2', 58, 8));
    const c = decodeBytes(B(ipv6({ nh: 58 }, body)), LinkType.RAW).net.icmp;
    expect([c.echoId, c.echoSeq, c.checksumOk]).toEqual([5, 6, true]);
  });
});

describe('tunnels', () => {
  const inner4 = ipv4({ proto: 6, src: '192.0.2.10', dst: '192.0.2.20', ttl: 63 }, tcp({ sport: 5555, dport: 80 }, (l) => pseudo4('192.0.2.10', '192.0.2.20', 6, l)));
  const inner6 = ipv6({ nh: 6 }, tcp({ sport: 6666 }, ps6));
  it('IPIP and SIT over IPv4, IPv4/IPv6 over IPv6', () => {
    const a = decodeBytes(B(ipv4({ proto: 4, ttl: 63 }, inner4)), LinkType.RAW);
    expect([a.tunnel, a.inner.ip.version, a.inner.tcp.sport, a.inner.tcp.checksumOk, a.transport === a.inner, a.tunnelHdrOff]).toEqual(['ipip', 4, 5555, true, true, 20]);
    const b = decodeBytes(B(ipv4({ proto: 41 }, inner6)), LinkType.RAW);
    expect([b.tunnel, b.inner.ip.version, b.inner.tcp.sport]).toEqual(['sit', 6, 6666]);
    expect(decodeBytes(B(ipv6({ nh: 4 }, inner4)), LinkType.RAW).tunnel).toBe('ip6ip');
    expect(decodeBytes(B(ipv6({ nh: 41 }, inner6)), LinkType.RAW).tunnel).toBe('ip6ip6');
  });
  it('GRE with C, K and S bits; Ethernet over GRE is an overlay, not a TUN tunnel', () => {
    const gre = [0xb0, 0, 0x08, 0x00, 0, 0, 0, 0, ...u32(42), ...u32(1)];
    const p = decodeBytes(B(ipv4({ proto: 47 }, [...gre, ...inner4])), LinkType.RAW);
    expect([p.tunnel, p.inner.ip.src4, p.inner.tcp.dport]).toEqual(['gre', 0xc000020a, 80]);
    expect([p.levels[0]!.greKey, p.levels[0]!.greSeq, p.levels[0]!.hdrLen]).toEqual([42, 1, 16]);
    const eb = decodeBytes(B(ipv4({ proto: 47 }, [0, 0, 0x65, 0x58, ...Array(20).fill(0)])), LinkType.RAW);
    expect([eb.tunnel, eb.depth, eb.levels[0]!.kind, eb.levels[0]!.eth.present, eb.transport === eb.net]).toEqual([null, 1, 'gre', true, true]);
    const routed = decodeBytes(B(ipv4({ proto: 47 }, [0xc0, 0, 0x08, 0x00, 0, 0, 0, 0, ...inner4])), LinkType.RAW);
    expect([routed.tunnel, routed.inner.present]).toEqual(['gre', false]);
    const pptp = decodeBytes(B(ipv4({ proto: 47 }, [0x30, 0x81, 0x08, 0x00, 0, 0, 0, 0, ...inner4])), LinkType.RAW);
    expect(pptp.inner.present).toBe(false);
  });
  it('GUE on a configured UDP port (version 0, proto_ctype 4 and 41, hlen)', () => {
    const gue4 = [0x00, 4, 0, 0];
    const p = decodeBytes(B(ipv4({ proto: 17 }, udp(40000, 6080, [...gue4, ...inner4]))), LinkType.RAW);
    expect([p.tunnel, p.net.udp.dport, p.inner.tcp.sport]).toEqual(['gue', 6080, 5555]);
    const gue6 = [0x01, 41, 0, 0, 0, 0, 0, 0]; // hlen 1: one extension word
    const q = decodeBytes(B(ipv4({ proto: 17 }, udp(40000, 7777, [...gue6, ...inner6]))), LinkType.RAW, { guePorts: [7777] });
    expect([q.tunnel, q.inner.ip.version, q.inner.tcp.sport]).toEqual(['gue', 6, 6666]);
    const notGue = decodeBytes(B(ipv4({ proto: 17 }, udp(40000, 7777, [...gue4, ...inner4]))), LinkType.RAW);
    expect([notGue.tunnel, notGue.inner.present]).toEqual([null, false]);
  });
  it('ICMP error inside the tunnel quotes into packet.quoted', () => {
    const quote = inner4.slice(0, 28);
    const err = ipv4({ proto: 1, src: '192.0.2.20', dst: '192.0.2.10' }, icmp(3, 4, [0, 0, ...u16(1480)], quote));
    const p = decodeBytes(B(ipv4({ proto: 4 }, err)), LinkType.RAW);
    expect([p.tunnel, p.inner.icmp.mtu, p.quoted.tcp.sport]).toEqual(['ipip', 1480, 5555]);
  });
  it('a cut inner packet is truncated at its layer', () => {
    const full = ipv4({ proto: 4 }, inner4);
    expect(decodeBytes(B(full.slice(0, 30)), LinkType.RAW, undefined, full.length).truncated).toBe('ipv4');
  });
});

describe('view reuse and remaining chain cases', () => {
  it('one Decoder: nothing from the previous frame leaks into the next', () => {
    const d = new Decoder({ guePorts: [6080] });
    const frame = (bytes: number[], lt: number = LinkType.RAW, len = bytes.length) => {
      const b = Buffer.from(bytes);
      return { capture: 'x', frame: 1, buf: b, off: 0, caplen: b.length, len, tsSec: 0, tsNsec: 0, linkType: lt, interfaceId: 0, direction: null, comment: null, fileOffset: 0 };
    };
    const inner = ipv4({ proto: 6 }, tcp({ flags: TcpFlag.ACK, options: [254, 8, ...u16(9), ...ip4('1.2.3.4'), 2, 4, 5, 0xb4, 8, 10, ...u32(1), ...u32(2), 5, 10, ...u32(1), ...u32(2)] }));
    const busy = ipv4({ proto: 1 }, icmp(3, 4, [0, 0, ...u16(1400)], ipv4({ proto: 4 }, inner).slice(0, 60)));
    d.decode(frame([0, 4, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00, ...ipv4({ proto: 4 }, inner)], LinkType.LINUX_SLL));
    let p = d.decode(frame(busy));
    expect(p.quoted.present).toBe(true);
    p = d.decode(frame(ipv4({ proto: 6, totLen: 10 }, tcp({})), LinkType.RAW));
    expect(p.malformed.present).toBe(true);
    p = d.decode(frame(ipv4({ proto: 17 }, udp(1, 2, [])), LinkType.RAW));
    expect([p.tunnel, p.inner.present, p.quoted.present, p.malformed.present, p.truncated, p.direction, p.sll.present]).toEqual([null, false, false, false, null, null, false]);
    expect([p.net.l4, p.net.tcp.present, p.net.tcp.toaKind, p.net.tcp.optCount, p.net.tcp.mss, p.net.tcp.tsPresent, p.net.tcp.sackCount, p.net.icmp.present, p.net.icmp.mtu]).toEqual(['udp', false, 0, 0, -1, false, 0, false, -1]);
    p = d.decode(frame(ipv6({ nh: 59 }, [])));
    expect([p.net.ip.src4, p.net.ip.id, p.net.ip.checksumOk, p.net.udp.present]).toEqual([0, 0, null, false]);
  });
  it('IPv6 mobility header (135) is walked to no-next-header', () => {
    const mh = [59, 1, 5, 0, 0, 0, 0, 0, ...Array(8).fill(0)];
    const p = decodeBytes(B(ipv6({ nh: 135 }, mh)), LinkType.RAW);
    expect([p.net.ip.hdrLen, p.net.ip.proto, p.malformed.present]).toEqual([56, 59, false]);
  });
  it('a UDP first fragment whose length exceeds the fragment is not malformed, and its checksum is unjudged', () => {
    const d = udp(53, 53, Array(100).fill(1), (l) => pseudo4('10.0.0.1', '10.0.0.2', 17, l));
    const p = decodeBytes(B(ipv4({ proto: 17, mf: true }, d.slice(0, 48))), LinkType.RAW);
    expect([p.malformed.present, p.truncated, p.net.udp.length, p.net.udp.checksumOk]).toEqual([false, null, 108, null]);
  });
  it('802.1Q tag re-inserted by libpcap after a LINUX_SLL header', () => {
    const sll = [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 9, 0, 0, 0x81, 0x00];
    const p = decodeBytes(B([...sll, ...u16(0x0064), 0x08, 0x00, ...ipv4({ proto: 17 }, udp(1, 2, []))]), LinkType.LINUX_SLL);
    expect([p.vlan.count, p.vlan.id[0], p.net.udp.dport, p.direction]).toEqual([1, 100, 2, 'in']);
  });
  it('SLL protocol values below 0x0600 (802.2 LLC and friends) stop after the cooked header', () => {
    const sll = [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 9, 0, 0, 0x00, 0x04];
    const p = decodeBytes(B([...sll, 0x42, 0x42, 0x03, 0, 0]), LinkType.LINUX_SLL);
    expect([p.sll.present, p.net.present, p.malformed.present]).toEqual([true, false, false]);
  });
});
