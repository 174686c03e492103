/**
 * Host and port names (/etc/hosts, /etc/services, read once, as libpcap resolves them) and
 * `protochain` (libpcap's IPv6 extension-header walk) on built packets; errors at the column of
 * an unknown name. The tcpdump differential (tcpdump-differential.test.ts) runs the same words
 * against tcpdump on the corpus with the machine's own files.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeBytes } from '../../src/decode/decoder.js';
import { FilterError, compileFilter } from '../../src/decode/filter.js';
import { NAME_FILES, forgetNameTables, parseHosts, parseServices, servicePort } from '../../src/decode/filter/netdb.js';
import type { Packet } from '../../src/decode/packet.js';
import { PacketBuilder } from '../../src/replay/builder/index.js';

const ETH = { src: '02:00:00:00:00:01', dst: '02:00:00:00:00:02' };
const pkt = (b: PacketBuilder): Packet => decodeBytes(b.build(), b.linkType);

const SERVICES = `# comment line
web      8080/tcp   www-alt     # both protocols, same port
web      8080/udp
dnsish   5300/udp
split    7000/tcp
split    7001/udp
sctponly 9999/sctp
`;
const HOSTS = `127.0.0.1   localhost
10.1.2.3    lb lb.example   # the director
2001:db8::7 lb
fe80::1%eth0 linklocal
`;

describe('parsing the tables', () => {
  it('services: name and aliases, first entry per protocol, SCTP-only names unseen (libpcap 1.10)', () => {
    const db = parseServices(SERVICES);
    expect(servicePort(db, 'web')).toEqual({ port: 8080, proto: 'any' });
    expect(servicePort(db, 'www-alt')).toEqual({ port: 8080, proto: 'tcp' });
    expect(servicePort(db, 'dnsish')).toEqual({ port: 5300, proto: 'udp' });
    expect(servicePort(db, 'split')).toEqual({ port: 7000, proto: 'tcp' });
    expect(servicePort(db, 'sctponly')).toBeNull();
    expect(servicePort(db, 'WEB')).toBeNull();
  });

  it('hosts: every address of a name and its aliases, case-insensitive, zone ids dropped', () => {
    const db = parseHosts(HOSTS);
    expect(db.get('lb')?.v4).toEqual([0x0a010203]);
    expect(db.get('lb')?.v6.map((b) => Buffer.from(b).toString('hex'))).toEqual(['20010db8000000000000000000000007']);
    expect(db.get('lb.example')?.v4).toEqual([0x0a010203]);
    expect(db.get('linklocal')?.v6).toHaveLength(1);
    expect(db.get('localhost')?.v6).toEqual([]);
  });
});

describe('names in filters', () => {
  let dir = '';
  const saved = { ...NAME_FILES };
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'lvsaudit-names-'));
    NAME_FILES.services = path.join(dir, 'services');
    NAME_FILES.hosts = path.join(dir, 'hosts');
    writeFileSync(NAME_FILES.services, SERVICES);
    writeFileSync(NAME_FILES.hosts, HOSTS);
    forgetNameTables();
  });
  afterAll(() => {
    Object.assign(NAME_FILES, saved);
    forgetNameTables();
    rmSync(dir, { recursive: true, force: true });
  });

  const tcp = (dport: number, dst = '10.1.2.3') => pkt(PacketBuilder.eth(ETH).ipv4({ src: '192.0.2.1', dst }).tcp({ sport: 40000, dport, flags: 'S' }));
  const udp = (dport: number) => pkt(PacketBuilder.eth(ETH).ipv4({ src: '192.0.2.1', dst: '10.1.2.3' }).udp({ sport: 40000, dport }));
  const udp6 = (dst: string) => pkt(PacketBuilder.eth(ETH).ipv6({ src: '2001:db8::1', dst }).udp({ sport: 1, dport: 2 }));

  it.each<[string, string, boolean]>([
    ['port web', 'tcp 8080', true],
    ['port web', 'udp 8080', true],
    ['port www-alt', 'tcp 8080', true],
    ['port www-alt', 'udp 8080', false], // a TCP-only name: `tcp port 8080`
    ['port dnsish', 'udp 5300', true],
    ['port dnsish', 'tcp 5300', false],
    ['port split', 'tcp 7000', true],
    ['port split', 'udp 7001', false], // TCP's port wins, as in libpcap
    ['dst port web or 5300', 'udp 5300', true],
    ['portrange split-web', 'tcp 7500', true],
    ['portrange split-web', 'udp 7500', true], // the two names' protocols differ: both
    ['udp port web', 'udp 8080', true],
  ])('%s on %s: %s', (expr, which, want) => {
    const [proto, port] = which.split(' ') as ['tcp' | 'udp', string];
    const p = proto === 'tcp' ? tcp(Number(port)) : udp(Number(port));
    expect(compileFilter(expr)(p)).toBe(want);
  });

  it('a host name matches each of its addresses, of the families the qualifier allows', () => {
    expect(compileFilter('host lb')(tcp(80))).toBe(true);
    expect(compileFilter('dst LB.example')(tcp(80))).toBe(true);
    expect(compileFilter('host lb')(tcp(80, '10.9.9.9'))).toBe(false);
    expect(compileFilter('host lb')(udp6('2001:db8::7'))).toBe(true);
    expect(compileFilter('ip host lb')(udp6('2001:db8::7'))).toBe(false);
    expect(compileFilter('ip6 host lb')(udp6('2001:db8::7'))).toBe(true);
    expect(compileFilter('ip6 host lb')(tcp(80))).toBe(false);
    expect(compileFilter('host localhost or lb')(tcp(80))).toBe(true);
  });

  it.each<[string, number, RegExp]>([
    ['port nosuch', 6, /unknown port 'nosuch'/],
    ['tcp port 80 or port Web', 21, /unknown port 'Web'/],
    ['portrange www-alt-split', 11, /unknown port in range/], // split at the first '-', as libpcap
    ['udp port www-alt', 10, /port 'www-alt' is tcp/],
    ['tcp port dnsish', 10, /port 'dnsish' is udp/],
    ['host nowhere', 6, /unknown host 'nowhere'/],
    ['ip6 host localhost', 10, /unknown host 'localhost' for the address family/],
    ['portrange web-nosuch', 11, /unknown port in range 'web-nosuch'/],
  ])('%s: an error at column %i', (expr, column, msg) => {
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
});

describe('protochain', () => {
  const v6 = (ext: Parameters<PacketBuilder['ipv6']>[0]['ext']) =>
    pkt(PacketBuilder.eth(ETH).ipv6({ src: '2001:db8::1', dst: '2001:db8::2', ...(ext ? { ext } : {}) }).tcp({ sport: 1, dport: 2, flags: 'S' }));
  const plain4 = pkt(PacketBuilder.eth(ETH).ipv4({ src: '192.0.2.1', dst: '192.0.2.2' }).udp({ sport: 1, dport: 2 }));

  it('walks hop-by-hop, destination options and routing headers to the transport', () => {
    const chained = v6([{ kind: 'hop', options: Buffer.alloc(6) }, { kind: 'dest', options: Buffer.alloc(14) }]);
    expect(compileFilter('protochain 6')(chained)).toBe(true);
    expect(compileFilter('ip6 protochain 6')(chained)).toBe(true);
    expect(compileFilter('ip6 protochain 60')(chained)).toBe(true); // met on the way
    expect(compileFilter('ip6 proto 6')(chained)).toBe(false); // proto reads the first header only
    expect(compileFilter('protochain 17')(chained)).toBe(false);
    expect(compileFilter('ip protochain 6')(chained)).toBe(false);
  });

  it('IPv4: the protocol field (and AH); names as for proto', () => {
    expect(compileFilter('protochain 17')(plain4)).toBe(true);
    expect(compileFilter('ip protochain \\udp')(plain4)).toBe(true);
    expect(compileFilter('ip6 protochain 17')(plain4)).toBe(false);
  });

  it('a chain cut by the capture ends the filter unmatched, whatever surrounds it', () => {
    const b = PacketBuilder.eth(ETH).ipv6({ src: '2001:db8::1', dst: '2001:db8::2', ext: [{ kind: 'hop', options: Buffer.alloc(6) }] }).tcp({ sport: 1, dport: 2, flags: 'S' }).build();
    const cut = decodeBytes(b.subarray(0, 14 + 40 + 4), 1, undefined, b.length);
    expect(compileFilter('not protochain 6')(cut)).toBe(false);
  });
});
