/**
 * FILTER language: each primitive against packets built with the builder (matching and
 * non-matching cases), boolean structure, tunnel visibility, and syntax errors with columns.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeBytes } from '../../src/decode/decoder.js';
import { FilterError, compileFilter } from '../../src/decode/filter.js';
import type { Packet } from '../../src/decode/packet.js';
import { PacketBuilder } from '../../src/replay/builder/index.js';

const A = '02:00:00:00:00:01';
const B = '02:00:00:00:00:02';

/** Decodes into a fresh view each time (decodeBytes allocates its own Decoder). */
const pkt = (b: PacketBuilder, toaKinds?: number[]): Packet => decodeBytes(b.build(), b.linkType, toaKinds ? { toaKinds } : undefined);

const tcp4 = pkt(
  PacketBuilder.eth({ src: A, dst: B })
    .vlan({ id: 10 })
    .ipv4({ src: '10.0.0.2', dst: '192.168.0.100' })
    .tcp({ sport: 58820, dport: 80, flags: 'S', options: [{ kind: 'toa', addr: '198.51.100.7', port: 40123 }] }),
);
const udp6 = pkt(PacketBuilder.eth({ src: B, dst: A }).ipv6({ src: '2001:db8::2', dst: '2001:db8::1' }).udp({ sport: 5353, dport: 53 }));
const arp = pkt(PacketBuilder.eth({ src: A, dst: 'ff:ff:ff:ff:ff:ff' }).arp({ op: 1, sha: A, spa: '10.0.0.2', tha: '00:00:00:00:00:00', tpa: '10.0.0.1' }));
const ipip = pkt(
  PacketBuilder.eth({ src: A, dst: B })
    .ipv4({ src: '10.0.0.1', dst: '10.0.0.11' })
    .ipv4({ src: '203.0.113.5', dst: '10.0.0.100' })
    .tcp({ sport: 40000, dport: 8080, flags: 'A', ack: 1 }),
);
const icmp = pkt(PacketBuilder.eth({ src: A, dst: B }).ipv4({ src: '10.0.0.254', dst: '10.0.0.2' }).icmp({ type: 8, code: 0, id: 1, seq: 1 }));

// decodeBytes returns the decoder's own view, so each packet above is a distinct object.
const all = { tcp4, udp6, arp, ipip, icmp };
type Name = keyof typeof all;

function matching(expr: string): Name[] {
  const f = compileFilter(expr);
  return (Object.keys(all) as Name[]).filter((k) => f(all[k]));
}

describe('filter primitives', () => {
  it.each<[string, Name[]]>([
    ['', ['tcp4', 'udp6', 'arp', 'ipip', 'icmp']],
    ['tcp', ['tcp4', 'ipip']],
    ['udp', ['udp6']],
    ['arp', ['arp']],
    ['icmp', ['icmp']],
    ['icmp6', []],
    ['ip', ['tcp4', 'ipip', 'icmp']],
    ['ip6', ['udp6']],
    ['vlan', ['tcp4']],
    ['vlan 10', ['tcp4']],
    ['vlan 11', []],
    ['host 10.0.0.2', ['tcp4', 'arp', 'icmp']],
    ['src host 10.0.0.2', ['tcp4', 'arp']],
    ['dst host 10.0.0.2', ['icmp']],
    ['host 2001:db8::1', ['udp6']],
    ['dst 2001:db8::1', ['udp6']],
    ['net 192.168.0.0/16', ['tcp4']],
    ['net 10.0.0.0/24', ['tcp4', 'arp', 'ipip', 'icmp']],
    ['net 2001:db8::/32', ['udp6']],
    ['src net 203.0.113.0/24', ['ipip']],
    ['port 80', ['tcp4']],
    ['port 8080', ['ipip']],
    ['src port 58820', ['tcp4']],
    ['dst port 58820', []],
    ['udp port 53', ['udp6']],
    ['tcp port 53', []],
    ['portrange 50-100', ['tcp4', 'udp6']],
    ['ether host 02:00:00:00:00:02', ['tcp4', 'udp6', 'ipip', 'icmp']],
    ['ether src 02:00:00:00:00:02', ['udp6']],
    ['ether dst ff:ff:ff:ff:ff:ff', ['arp']],
    ['toa', ['tcp4']],
    ['toa host 198.51.100.7', ['tcp4']],
    ['toa port 40123', ['tcp4']],
    ['toa port 1', []],
    ['tunnel', ['ipip']],
    ['syn', ['tcp4']],
    ['ack', ['ipip']],
    ['host 10.0.0.100', ['ipip']],
    ['truncated or malformed or badsum', []],
  ])('%s', (expr, want) => {
    expect(matching(expr)).toEqual(want);
  });

  it('TOA follows the configured kinds', () => {
    const p = pkt(
      PacketBuilder.eth({ src: A, dst: B }).ipv4({ src: '10.0.0.2', dst: '10.0.0.1' }).tcp({
        sport: 1,
        dport: 2,
        flags: 'A',
        options: [{ kind: 'toa', addr: '198.51.100.7', port: 40123, optKind: 200 }],
      }),
      [200],
    );
    expect(compileFilter('toa')(p)).toBe(true);
    expect(compileFilter('toa')(tcp4)).toBe(true);
  });
});

describe('filter boolean structure', () => {
  it.each<[string, Name[]]>([
    ['tcp and port 80', ['tcp4']],
    ['tcp && not vlan', ['ipip']],
    ['udp or arp', ['udp6', 'arp']],
    ['udp || arp', ['udp6', 'arp']],
    ['!ip', ['udp6', 'arp']],
    ['not (tcp or udp)', ['arp', 'icmp']],
    ['(host 10.0.0.2 or host 10.0.0.11) and not arp', ['tcp4', 'ipip', 'icmp']],
    ['TCP AND PORT 80', ['tcp4']],
    // tcpdump: and/or have equal precedence, left to right: (tcp or udp) and port 53.
    ['tcp or udp and port 53', ['udp6']],
    ['tcp or (udp and port 53)', ['tcp4', 'udp6', 'ipip']],
  ])('%s', (expr, want) => {
    expect(matching(expr)).toEqual(want);
  });

  it('not inverts every primitive (property)', () => {
    const prims = ['tcp', 'udp', 'arp', 'ip', 'ip6', 'vlan', 'port 80', 'host 10.0.0.2', 'toa', 'tunnel', 'icmp'];
    fc.assert(
      fc.property(fc.constantFrom(...prims), fc.constantFrom(...prims), (a, b) => {
        for (const p of Object.values(all)) {
          const fa = compileFilter(a)(p);
          const fb = compileFilter(b)(p);
          expect(compileFilter(`not ${a}`)(p)).toBe(!fa);
          expect(compileFilter(`${a} and ${b}`)(p)).toBe(fa && fb);
          expect(compileFilter(`${a} or ${b}`)(p)).toBe(fa || fb);
          expect(compileFilter(`not (${a} or ${b})`)(p)).toBe(compileFilter(`not ${a} and not ${b}`)(p));
        }
      }),
    );
  });
});

describe('pcap-filter constructs on built packets', () => {
  it.each<[string, Name[]]>([
    // Byte offsets count from the network header past any VLAN tag (tcp4 is tagged) …
    ['tcp[tcpflags] & tcp-syn != 0', ['tcp4']],
    ['tcp[13] & 0x02 != 0', ['tcp4']],
    ['tcp[tcpflags] & tcp-ack != 0', []],
    ['icmp[icmptype] = icmp-echo', ['icmp']],
    ['ip[9] = 1', ['icmp']],
    // … and read the outer packet only (ipip's outer protocol is 4).
    ['ip[9] = 6', ['tcp4']],
    ['ip[9] = 4', ['ipip']],
    ['greater 1000', []],
    ['less 1000', ['tcp4', 'udp6', 'arp', 'ipip', 'icmp']],
    ['len > 0 and not len = 0', ['tcp4', 'udp6', 'arp', 'ipip', 'icmp']],
    ['port 53 or 80', ['tcp4', 'udp6']],
    ['host 10.0.0.254 or 10.0.0.1', ['arp', 'ipip', 'icmp']],
    ['src or dst host 10.0.0.254', ['icmp']],
    ['src and dst net 10.0.0.0/24', ['arp', 'ipip', 'icmp']],
    ['ip proto \\tcp', ['tcp4', 'ipip']],
    ['proto 17', ['udp6']],
    ['ether proto \\arp', ['arp']],
    ['ether broadcast', ['arp']],
    ['ether multicast', ['arp']],
    ['ip6 multicast', []],
  ])('%s', (expr, want) => {
    expect(matching(expr)).toEqual(want);
  });
});

describe('filter errors', () => {
  it.each<[string, number, RegExp]>([
    ['port', 5, /expected a port number/],
    ['port 70000', 6, /expected a port number/],
    ['host 10.0.0', 6, /expected an IP address/],
    ['tcp and', 8, /expected a filter primitive/],
    ['(tcp or udp', 12, /expected '\)'/],
    ['tcp udp', 5, /expected 'and', 'or'/],
    ['frobnicate', 1, /unknown filter primitive 'frobnicate'/],
    ['net 10.0.0.0/33', 5, /CIDR/],
    ['vlan 5000', 6, /VLAN id/],
    ['ether host zz', 12, /MAC/],
    ['tcp[13:3] = 1', 8, /size of 1, 2 or 4/],
    ['len / 0 = 1', 5, /division by zero/],
    ['len % (2 - 2) = 1', 5, /division by zero/],
    ['ip proto', 9, /protocol number/],
    ['gateway 10.0.0.1', 1, /gateway/],
    ['port no-such-service', 6, /unknown port 'no-such-service' \(not in \/etc\/services\)/],
    ['host no-such-host.invalid', 6, /unknown host 'no-such-host.invalid' \(not in \/etc\/hosts\)/],
    ['tcp host 10.0.0.1', 10, /'tcp' does not take a host/],
    ['tcp protochain 6', 5, /expected 'and', 'or'/],
    ['protochain', 11, /protocol number/],
    ['ip[8 = 64', 6, /expected '\]'/],
    ['tcp[tcpflags] & tcp-syn', 24, /expected a comparison/],
  ])('%s → column %i', (expr, column, msg) => {
    let err: unknown;
    try {
      compileFilter(expr);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FilterError);
    expect((err as FilterError).column).toBe(column);
    expect((err as FilterError).message).toMatch(msg);
  });

  it('random sequences of filter words compile or fail with a FilterError whose column is inside the text', () => {
    const words = ['tcp', 'udp', 'ip', 'ip6', 'host', 'net', 'port', 'src', 'dst', 'and', 'or', 'not', '(', ')', '[', ']', ':',
      '10.0.0.2', '2001:db8::1', '80', '0x10', 'len', '=', '!=', '>', '&', '|', '^', '%', '<<', '-', 'tcp-syn', 'tcpflags',
      'greater', 'less', 'vlan', 'mpls', 'ether', 'proto', 'broadcast', 'toa', '\\tcp', '02:00:00:00:00:01', '10.0.0.0/8'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...words), { maxLength: 12 }), (ws) => {
        const text = ws.join(' ');
        try {
          const f = compileFilter(text);
          for (const p of Object.values(all)) expect(typeof f(p)).toBe('boolean');
        } catch (e) {
          expect(e).toBeInstanceOf(FilterError);
          const col = (e as FilterError).column;
          expect(col).toBeGreaterThanOrEqual(1);
          expect(col).toBeLessThanOrEqual(text.length + 1);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws anything but FilterError on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        try {
          const f = compileFilter(s);
          for (const p of Object.values(all)) f(p);
        } catch (e) {
          expect(e).toBeInstanceOf(FilterError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
