/**
 * Text and JSON printers on packets built with the project's builder (wire bytes with real
 * lengths/checksums), decoded by the Decoder. Expected strings follow the documented format
 * in src/decode/print/text.ts (tcpdump -nn wording); JSON values are the builder's inputs.
 */
import { describe, expect, it } from 'vitest';
import { Decoder, decodeBytes } from '../../src/decode/decoder.js';
import { JsonPrinter } from '../../src/decode/print/json.js';
import { TextPrinter } from '../../src/decode/print/text.js';
import { PacketBuilder } from '../../src/replay/builder/index.js';
import type { Packet } from '../../src/decode/packet.js';

const A = '02:00:00:00:00:01';
const B = '02:00:00:00:00:02';

function decode(b: PacketBuilder, opts?: { toaKinds?: number[] }): Packet {
  const p = decodeBytes(b.build(), b.linkType, opts);
  p.capture = 'cl.pcap';
  p.frame = 3;
  p.tsSec = 1795699418; // 2026-11-26T13:23:38Z
  p.tsNsec = 345225123;
  return p;
}

/** A frame cut by the capture's snaplen: `caplen` bytes kept of a longer wire packet. */
function snapCut(bytes: Buffer, caplen: number): Packet {
  return new Decoder().decode({
    capture: 'cl.pcap', frame: 1, buf: bytes, off: 0, caplen, len: bytes.length, tsSec: 0, tsNsec: 0,
    linkType: 1, interfaceId: 0, direction: null, comment: null, fileOffset: 0,
  });
}

const text = (p: Packet): string => new TextPrinter().format(p);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = (p: Packet): Record<string, any> => JSON.parse(new JsonPrinter().format(p));

const syn = (): PacketBuilder =>
  PacketBuilder.eth({ src: A, dst: B })
    .vlan({ id: 10 })
    .ipv4({ src: '10.0.0.2', dst: '192.168.0.100', ttl: 64, id: 4711, df: true })
    .tcp({
      sport: 58820,
      dport: 80,
      seq: 4119932128,
      flags: 'S',
      window: 64240,
      options: [
        { kind: 'mss', value: 1460 },
        { kind: 'sackPermitted' },
        { kind: 'ts', val: 1, ecr: 0 },
        { kind: 'nop' },
        { kind: 'ws', shift: 7 },
        { kind: 'toa', addr: '198.51.100.7', port: 40123 },
      ],
    });

describe('text printer', () => {
  it('prints a VLAN-tagged SYN with options and TOA tcpdump-style', () => {
    expect(text(decode(syn()))).toBe(
      'cl.pcap:3 13:23:38.345225123 02:00:00:00:00:01 > 02:00:00:00:00:02, vlan 10, ' +
        'IP 10.0.0.2.58820 > 192.168.0.100.80: Flags [S], seq 4119932128, win 64240, ' +
        'options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7,toa 198.51.100.7:40123], length 0, ' +
        'ttl 64, id 4711, flags [DF]',
    );
  });

  it('prints a TOA kind only when it is configured as TOA', () => {
    const line = text(decode(syn(), { toaKinds: [200] }));
    expect(line).not.toContain('toa ');
    // Not TOA, so an RFC 6994 experiment whose ExID is the port's bytes (tcpdump's `exp-XXXX`).
    expect(line).toMatch(/options \[[^\]]*\bexp-9cbb[,\]]/);
  });

  it('prints ack, payload length and a bad TCP checksum', () => {
    const b = PacketBuilder.eth({ src: A, dst: B })
      .ipv4({ src: '10.0.0.2', dst: '10.0.0.1', id: 1 })
      .tcp({ sport: 1000, dport: 80, seq: 5, ack: 7, flags: 'PA', window: 502, checksum: 0x1234 })
      .payload('hello');
    expect(text(decode(b))).toBe(
      'cl.pcap:3 13:23:38.345225123 02:00:00:00:00:01 > 02:00:00:00:00:02, IP 10.0.0.2.1000 > 10.0.0.1.80: ' +
        '[bad tcp cksum 0x1234] Flags [P.], seq 5, ack 7, win 502, length 5, ttl 64, id 1',
    );
  });

  it('prints ARP requests and replies like tcpdump', () => {
    const req = PacketBuilder.eth({ src: A, dst: 'ff:ff:ff:ff:ff:ff' }).arp({
      op: 1,
      sha: A,
      spa: '10.0.0.2',
      tha: '00:00:00:00:00:00',
      tpa: '10.0.0.1',
    });
    expect(text(decode(req))).toBe(
      'cl.pcap:3 13:23:38.345225123 02:00:00:00:00:01 > ff:ff:ff:ff:ff:ff, ARP, Request who-has 10.0.0.1 tell 10.0.0.2',
    );
    const rep = PacketBuilder.eth({ src: B, dst: A }).arp({ op: 2, sha: B, spa: '10.0.0.1', tha: A, tpa: '10.0.0.2' });
    expect(text(decode(rep))).toContain('ARP, Reply 10.0.0.1 is-at 02:00:00:00:00:02');
    const garp = PacketBuilder.eth({ src: B, dst: 'ff:ff:ff:ff:ff:ff' }).arp({
      op: 2,
      sha: B,
      spa: '10.0.0.100',
      tha: 'ff:ff:ff:ff:ff:ff',
      tpa: '10.0.0.100',
    });
    expect(text(decode(garp))).toContain('ARP, Reply 10.0.0.100 is-at 02:00:00:00:00:02 (gratuitous)');
  });

  it('prints SLL2 direction, ifindex and address', () => {
    const b = PacketBuilder.sll({ version: 2, pktType: 4, ifIndex: 3, addr: A })
      .ipv4({ src: '10.0.0.2', dst: '10.0.0.1', id: 9 })
      .udp({ sport: 53000, dport: 53 })
      .payload(Buffer.alloc(12));
    expect(text(decode(b))).toBe(
      'cl.pcap:3 13:23:38.345225123 Out ifindex 3 02:00:00:00:00:01, IP 10.0.0.2.53000 > 10.0.0.1.53: UDP, length 12, ttl 64, id 9',
    );
  });

  it('prints an IPIP tunnel as outer addresses then the inner packet', () => {
    const b = PacketBuilder.eth({ src: A, dst: B })
      .ipv4({ src: '10.0.0.1', dst: '10.0.0.11', id: 2, ttl: 64 })
      .ipv4({ src: '203.0.113.5', dst: '10.0.0.100', id: 3, ttl: 63 })
      .tcp({ sport: 40000, dport: 80, seq: 1, flags: 'S', window: 1000 });
    expect(text(decode(b))).toBe(
      'cl.pcap:3 13:23:38.345225123 02:00:00:00:00:01 > 02:00:00:00:00:02, IP 10.0.0.1 > 10.0.0.11 (ttl 64, id 2): ' +
        'IP 203.0.113.5.40000 > 10.0.0.100.80: Flags [S], seq 1, win 1000, length 0, ttl 63, id 3',
    );
  });

  it('prints GRE tunnels with a GRE tag', () => {
    const b = PacketBuilder.eth({ src: A, dst: B })
      .ipv4({ src: '10.0.0.1', dst: '10.0.0.11', id: 2 })
      .gre()
      .ipv4({ src: '203.0.113.5', dst: '10.0.0.100', id: 3 })
      .udp({ sport: 5000, dport: 53 });
    expect(text(decode(b))).toContain('IP 10.0.0.1 > 10.0.0.11 (ttl 64, id 2): GRE, IP 203.0.113.5.5000 > 10.0.0.100.53: UDP, length 0');
  });

  it('prints ICMP frag-needed with the quoted packet', () => {
    const b = PacketBuilder.eth({ src: A, dst: B })
      .ipv4({ src: '10.0.0.254', dst: '10.0.0.2', id: 5 })
      .icmp({ type: 3, code: 4, mtu: 1480 })
      .ipv4({ src: '10.0.0.2', dst: '192.168.0.100', id: 6 })
      .tcp({ sport: 58820, dport: 80, seq: 77, flags: 'PA', ack: 1 })
      .payload(Buffer.alloc(1400));
    expect(text(decode(b))).toBe(
      'cl.pcap:3 13:23:38.345225123 02:00:00:00:00:01 > 02:00:00:00:00:02, IP 10.0.0.254 > 10.0.0.2: ' +
        'ICMP unreachable - need to frag, mtu 1480, quoting [IP 10.0.0.2.58820 > 192.168.0.100.80: ' +
        'Flags [P.], seq 77, ack 1, win 64240, length 1400, ttl 64, id 6], ttl 64, id 5',
    );
  });

  it('prints echo requests and IPv6', () => {
    const b = PacketBuilder.eth({ src: A, dst: B })
      .ipv6({ src: '2001:db8::2', dst: '2001:db8::1', hlim: 60 })
      .icmpv6({ type: 128, code: 0, id: 7, seq: 9 });
    expect(text(decode(b))).toContain('IP6 2001:db8::2 > 2001:db8::1: ICMP6 echo request, id 7, seq 9, hlim 60');
  });

  it('marks a bad IPv4 header checksum, truncation and malformation', () => {
    const bad = PacketBuilder.eth({ src: A, dst: B })
      .ipv4({ src: '10.0.0.2', dst: '10.0.0.1', id: 1, checksum: 0xbeef })
      .udp({ sport: 1, dport: 2 });
    expect(text(decode(bad))).toContain('ttl 64, id 1 [bad ip cksum 0xbeef]');

    const full = syn().build();
    // Snaplen cut inside the TCP header: the decoder names the outermost layer whose
    // claimed length is missing (IPv4 here).
    expect(new TextPrinter().format(snapCut(full, 18 + 20 + 10))).toMatch(/ \[\|ipv4\]$/);
    // The same bytes as a whole frame (caplen = len) are a lying IPv4 length: malformed.
    expect(new TextPrinter().format(decodeBytes(full.subarray(0, 18 + 20 + 10), 1))).toMatch(/\[malformed ipv4 at 48: [^\]]+\]$/);

    const ihl = PacketBuilder.eth({ src: A, dst: B }).ipv4({ src: '10.0.0.2', dst: '10.0.0.1', ihl: 3 }).udp({ sport: 1, dport: 2 });
    expect(text(decode(ihl))).toMatch(/\[malformed ipv4 at 14: [^\]]+\]$/);
  });
});

describe('JSON printer', () => {
  it('emits the cli.md keys with numbers, absolute seq and text addresses', () => {
    const o = json(decode(syn()));
    expect(o).toMatchObject({
      capture: 'cl.pcap',
      frame: 3,
      ts: '2026-11-26T13:23:38.345225123Z',
      interface: 0,
      direction: null,
      // eth.type is the EtherType after the tags; the tag's own TPID is in vlan[].
      eth: { src: A, dst: B, type: 0x0800 },
      vlan: [{ id: 10, pcp: 0, tpid: 0x8100 }],
      ipv4: { src: '10.0.0.2', dst: '192.168.0.100', ttl: 64, id: 4711, df: true, mf: false, fragOffset: 0, tos: 0, proto: 6, checksumOk: true },
      tcp: {
        sport: 58820,
        dport: 80,
        seq: 4119932128,
        ack: 0,
        flags: 2,
        flagsText: 'S',
        window: 64240,
        checksumOk: true,
        payloadLen: 0,
        toa: { kind: 254, addr: '198.51.100.7', port: 40123 },
      },
      truncated: null,
      malformed: null,
    });
    expect(o.caplen).toBe(o.len);
    expect(o.tcp.options.map((x: { kind: number }) => x.kind)).toEqual([2, 4, 8, 1, 3, 254]);
    expect(o.tcp.options[0]).toEqual({ kind: 2, name: 'mss', value: 1460 });
    expect(o.tcp.options[2]).toEqual({ kind: 8, name: 'ts', val: 1, ecr: 0 });
    expect(o.tcp.options[5]).toEqual({ kind: 254, name: 'toa', addr: '198.51.100.7', port: 40123 });
  });

  it('carries ARP, SLL, ICMP quote and tunnels', () => {
    const arp = json(
      decode(PacketBuilder.eth({ src: A, dst: B }).arp({ op: 2, sha: B, spa: '10.0.0.1', tha: A, tpa: '10.0.0.2' })),
    );
    expect(arp.arp).toMatchObject({ op: 2, sha: B, spa: '10.0.0.1', tha: A, tpa: '10.0.0.2' });

    const sll = json(decode(PacketBuilder.sll({ version: 2, pktType: 0, ifIndex: 7, addr: A }).ipv4({ src: '1.1.1.1', dst: '2.2.2.2' }).udp({ sport: 1, dport: 2 })));
    expect(sll.sll).toMatchObject({ version: 2, ifindex: 7, pkttype: 0, hatype: 1, addr: A });
    expect(sll.udp).toMatchObject({ sport: 1, dport: 2, len: 8, checksumOk: true });

    const icmp = json(
      decode(
        PacketBuilder.eth({ src: A, dst: B })
          .ipv4({ src: '10.0.0.254', dst: '10.0.0.2' })
          .icmp({ type: 3, code: 4, mtu: 1480 })
          .ipv4({ src: '10.0.0.2', dst: '192.168.0.100' })
          .tcp({ sport: 58820, dport: 80, seq: 77, flags: 'A', ack: 1 }),
      ),
    );
    expect(icmp.icmp).toMatchObject({ type: 3, code: 4, mtu: 1480, checksumOk: true });
    expect(icmp.icmp.inner.ipv4).toMatchObject({ src: '10.0.0.2', dst: '192.168.0.100' });
    expect(icmp.icmp.inner.tcp).toMatchObject({ sport: 58820, dport: 80, seq: 77 });

    const tun = json(
      decode(
        PacketBuilder.eth({ src: A, dst: B })
          .ipv4({ src: '10.0.0.1', dst: '10.0.0.11' })
          .ipv4({ src: '203.0.113.5', dst: '10.0.0.100' })
          .tcp({ sport: 40000, dport: 80, flags: 'S' }),
      ),
    );
    expect(tun.tunnel).toBe('ipip');
    expect(tun.ipv4).toMatchObject({ src: '10.0.0.1', dst: '10.0.0.11', proto: 4 });
    expect(tun.inner.ipv4).toMatchObject({ src: '203.0.113.5', dst: '10.0.0.100' });
    expect(tun.inner.tcp).toMatchObject({ sport: 40000, dport: 80, flagsText: 'S' });
  });

  it('reports truncation and malformation', () => {
    expect(JSON.parse(new JsonPrinter().format(snapCut(syn().build(), 18 + 20 + 10))).truncated).toBe('ipv4');
    const ihl = json(decode(PacketBuilder.eth({ src: A, dst: B }).ipv4({ src: '10.0.0.2', dst: '10.0.0.1', ihl: 3 }).udp({ sport: 1, dport: 2 })));
    expect(ihl.malformed).toMatchObject({ layer: 'ipv4', offset: 14 });
    expect(typeof ihl.malformed.reason).toBe('string');
  });

  it('escapes capture names that need it', () => {
    const p = decode(syn());
    p.capture = 'we"ird\\name.pcap';
    expect(JSON.parse(new JsonPrinter().format(p)).capture).toBe('we"ird\\name.pcap');
  });
});
