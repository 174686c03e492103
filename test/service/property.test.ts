// fast-check: no input makes the parsers throw anything but ConfigError, and the ipvsadm-save
// writer round-trips every valid model (model → toIpvsadmSave → parse gives the same model).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ipv4ToString, ipv6ToString } from '../../src/decode/addr.js';
import {
  type ForwardMethod,
  type RealServer,
  type Service,
  type ServiceSet,
  ConfigError,
  parseIpvsadmList,
  parseIpvsadmRules,
  parseKeepalived,
  parseProcIpVs,
  parseProcIpVsConn,
  parseServiceConfig,
  toIpvsadmSave,
} from '../../src/verify/service/index.js';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'configs');
const fixtures = readdirSync(dir)
  .map((f) => path.join(dir, f))
  .filter((f) => statSync(f).isFile())
  .map((f) => readFileSync(f, 'utf8'));

/** Runs fn; returns normally when it succeeds or throws a ConfigError, rethrows anything else. */
function onlyConfigError(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    expect(e.message.includes('\n')).toBe(false);
  }
}

const parsers: [string, (t: string) => unknown][] = [
  ['parseServiceConfig', (t) => parseServiceConfig(t, 'f')],
  ['parseIpvsadmRules', (t) => parseIpvsadmRules(t, 'f')],
  ['parseIpvsadmList', (t) => parseIpvsadmList(t, 'f')],
  ['parseKeepalived', (t) => parseKeepalived(t, 'f')],
  ['parseProcIpVs', (t) => parseProcIpVs(t, 'f')],
  ['parseProcIpVsConn', (t) => parseProcIpVsConn(t, 'f')],
];

// Words that steer random text into the parsers' deeper paths.
const vocab = fc.constantFrom(
  '-A', '-a', '-E', '-e', '-D', '-d', '-P', '-C', '-t', '-u', '-f', '-6', '-r', '-s', '-p', '-M', '-w', '-g', '-m', '-i',
  '-b', '-z', '-j', '-o', 'ops', 'pe', '--tun-type', 'gue', '--tun-port', '1.2.3.4:80', '10.0.0.1', '[2001:db8::1]:80',
  '2001:db8::1', '80', '0', '7', '360', '255.255.255.0', '64', '{', '}', '#', '!', '"', 'virtual_server', 'real_server',
  'lb_kind', 'FNAT', 'TUN', 'type', 'port', 'weight', 'local_address_group', 'laddr_group_name', 'virtual_server_group',
  'group', 'fwmark', 'persistence_timeout', 'persistence_granularity', 'protocol', 'UDP', 'TCP', 'FWM', '->', 'Route',
  'Masq', 'Tunnel', 'FullNat', 'persistent', 'mask', '(sh-port)', 'IPv6', '10.0.0.1-300', 'Prot LocalAddress:Port',
  'IP Virtual Server version 1.2.1', '\n', '  ',
  // keepalived's reader and /proc/net/ip_vs
  'include', 'includem', 'none.d/*.conf', '[z-a]*.conf', '{a,b', '$X=1', '$X= \\', '${X}', '$X', '@a', '@^a', '${_ENV X}',
  '~SEQ(', 'C0A80016:0050', '0A00000B:1F90', 'FWM  00000001', '[2001:0db8:0000:0000:0000:0000:0000:0022]:0050', 'persistent 2500 FFFFFFFF',
);
const wordsText = fc.array(vocab, { maxLength: 60 }).map((w) => w.join(' '));

describe('parsers never throw anything but ConfigError', () => {
  for (const [name, parse] of parsers) {
    it(`${name}: random printable text`, () => {
      fc.assert(
        fc.property(fc.array(fc.string({ maxLength: 40 }), { maxLength: 20 }), (lines) => onlyConfigError(() => parse(lines.join('\n')))),
        { numRuns: 500 },
      );
    });
    it(`${name}: random config words`, () => {
      fc.assert(fc.property(wordsText, (t) => onlyConfigError(() => parse(t))), { numRuns: 1000 });
    });
    it(`${name}: arbitrary unicode`, () => {
      fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (t) => onlyConfigError(() => parse(t))), { numRuns: 300 });
    });
  }

  // Mutations of the valid fixtures: delete/insert/replace characters, drop/duplicate/swap lines.
  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('del' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }) }),
    fc.record({ kind: fc.constant('ins' as const), at: fc.nat(), text: fc.oneof(fc.string({ maxLength: 6 }), vocab) }),
    fc.record({ kind: fc.constant('rep' as const), at: fc.nat(), text: fc.oneof(fc.string({ maxLength: 3 }), vocab) }),
    fc.record({ kind: fc.constant('dropLine' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('dupLine' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('swapLines' as const), at: fc.nat(), to: fc.nat() }),
  );
  type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;
  function mutate(text: string, ms: Mutation[]): string {
    let t = text;
    for (const m of ms) {
      if (m.kind === 'del' || m.kind === 'ins' || m.kind === 'rep') {
        const at = t.length ? m.at % t.length : 0;
        if (m.kind === 'del') t = t.slice(0, at) + t.slice(at + m.len);
        else if (m.kind === 'ins') t = t.slice(0, at) + m.text + t.slice(at);
        else t = t.slice(0, at) + m.text + t.slice(at + m.text.length);
      } else {
        const lines = t.split('\n');
        const a = m.at % lines.length;
        if (m.kind === 'dropLine') lines.splice(a, 1);
        else if (m.kind === 'dupLine') lines.splice(a, 0, lines[a]!);
        else {
          const b = m.to % lines.length;
          [lines[a], lines[b]] = [lines[b]!, lines[a]!];
        }
        t = lines.join('\n');
      }
    }
    return t;
  }
  it('mutated fixtures', () => {
    fc.assert(
      fc.property(fc.constantFrom(...fixtures), fc.array(mutation, { minLength: 1, maxLength: 6 }), (text, ms) =>
        onlyConfigError(() => parseServiceConfig(mutate(text, ms), 'f')),
      ),
      { numRuns: 3000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Round trip through the ipvsadm-save writer

const v4 = fc.integer({ min: 0x01000000, max: 0xdfffffff }).map((n) => ipv4ToString(n));
const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => {
  b[0] = 0x20; // global unicast, never IPv4-mapped
  return ipv6ToString(b, 0);
});
const ipOf = (family: 4 | 6) => (family === 4 ? v4 : v6);
const method = fc.constantFrom<ForwardMethod>('nat', 'dr', 'tun', 'fullnat');

const realServer = (svc: { family: 4 | 6; vport: number; fwmark?: number }): fc.Arbitrary<RealServer> =>
  fc
    .tuple(method, fc.boolean(), fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 65535 }))
    .chain(([m, otherFamily, port, weight]) => {
      // Only tunnels may cross families (and only when the director is not fwmark-agnostic of it).
      const fam: 4 | 6 = m === 'tun' && otherFamily ? (svc.family === 4 ? 6 : 4) : svc.family;
      const rsPort = (m === 'dr' || m === 'tun') && svc.fwmark === undefined ? svc.vport : port;
      const tunnel: fc.Arbitrary<Partial<RealServer>> =
        m !== 'tun'
          ? fc.constant({})
          : fc.oneof(
              fc.constant({}),
              fc.constant({ tunnelType: 'ipip' as const }),
              fc.record(
                { tunnelType: fc.constant('gue' as const), tunnelPort: fc.integer({ min: 1, max: 65535 }), tunnelCsum: fc.constantFrom('nocsum' as const, 'csum' as const, 'remcsum' as const) },
                { requiredKeys: ['tunnelType', 'tunnelPort'] },
              ),
              fc.record({ tunnelType: fc.constant('gre' as const), tunnelCsum: fc.constantFrom('nocsum' as const, 'csum' as const, 'remcsum' as const) }, { requiredKeys: ['tunnelType'] }),
            );
      return fc.tuple(ipOf(fam), tunnel).map(([ip, t]) => ({ ip, port: rsPort, weight, method: m, ...t }));
    });

const service: fc.Arbitrary<Service> = fc
  .record({
    family: fc.constantFrom<4 | 6>(4, 6),
    fw: fc.option(fc.integer({ min: 1, max: 0xffffffff }), { nil: undefined }),
    protocol: fc.constantFrom('tcp' as const, 'udp' as const, 'sctp' as const),
    vport: fc.integer({ min: 0, max: 65535 }),
    persistent: fc.option(fc.integer({ min: 1, max: 86400 * 31 }), { nil: null }),
    maskBits: fc.option(fc.integer({ min: 1, max: 127 }), { nil: null }),
    scheduler: fc.constantFrom('rr', 'wrr', 'lc', 'wlc', 'sed', 'nq', 'sh', 'dh', 'mh', 'lblc', 'lblcr', 'fo', 'ovf', 'twos'),
    flagBits: fc.subarray([1, 2, 3]),
    ops: fc.boolean(),
    pe: fc.option(fc.constant('sip'), { nil: undefined }),
    synproxy: fc.boolean(),
  })
  .chain((b) => {
    const fwmark = b.fw;
    const protocol = fwmark !== undefined ? 'tcp' : b.protocol;
    const vport = fwmark !== undefined ? 0 : b.vport === 0 && b.persistent === null ? 80 : b.vport;
    const mask =
      b.persistent === null || b.maskBits === null
        ? null
        : b.family === 6
          ? String(b.maskBits)
          : ipv4ToString(((~0 << (32 - (b.maskBits % 31) - 1)) >>> 0) as number);
    const shape = { family: b.family, vport, ...(fwmark !== undefined ? { fwmark } : {}) };
    return fc
      .tuple(
        fwmark !== undefined ? fc.constant('') : ipOf(b.family),
        fc.uniqueArray(realServer(shape), { maxLength: 5, selector: (r) => `${r.ip}|${r.port}` }),
        fc.uniqueArray(ipOf(b.family), { maxLength: 3 }),
      )
      .map(([vip, rs, lips]) => {
        const methods = new Set(rs.map((r) => r.method));
        // LIPs only on FullNAT services whose real servers share the VIP family (LIP → RIP leg).
        const fullnatOk = rs.every((r) => r.method !== 'fullnat' || r.ip.includes(':') === (b.family === 6));
        const s: Service = {
          protocol,
          vip,
          vport,
          family: b.family,
          scheduler: b.scheduler,
          // Kernel flag bits, named the way ipvsadm prints them for this scheduler.
          schedFlags: b.flagBits
            .map((bit) =>
              (b.scheduler === 'sh' || b.scheduler === 'mh') && bit < 3
                ? `${b.scheduler}-${bit === 1 ? 'fallback' : 'port'}`
                : `flag-${bit}`,
            )
            .sort(),
          persistenceTimeout: b.persistent,
          persistenceMask: mask,
          method: rs.length && methods.size === 1 ? rs[0]!.method : null,
          realServers: rs.map((r) => ({ ...r, source: { file: 'gen', line: 0 } })),
          localAddresses: fullnatOk ? lips : [],
          synproxy: b.synproxy,
          ops: b.ops && (protocol === 'udp' || fwmark !== undefined),
          source: { file: 'gen', line: 0 },
        };
        if (fwmark !== undefined) s.fwmark = fwmark;
        if (b.pe) s.pe = b.pe;
        return s;
      });
  });

const serviceSet: fc.Arbitrary<ServiceSet> = fc
  .uniqueArray(service, {
    minLength: 1,
    maxLength: 5,
    selector: (s) => (s.fwmark !== undefined ? `f${s.fwmark}/${s.family}` : `${s.protocol}|${s.vip}|${s.vport}`),
  })
  .map((services) => ({ services, format: 'ipvsadm-save' as const, notes: [] }));

/** The model without where it came from (the writer cannot carry source lines). */
function stripSource(set: ServiceSet): unknown {
  return set.services.map((s) => {
    const { source: _s, realServers, ...rest } = s;
    return { ...rest, realServers: realServers.map(({ source: _r, ...r }) => r) };
  });
}

describe('toIpvsadmSave round trip', () => {
  it('model → ipvsadm-save text → parse gives the same model', () => {
    fc.assert(
      fc.property(serviceSet, (set) => {
        const text = toIpvsadmSave(set);
        const back = parseServiceConfig(text, 'saved');
        expect(back.format).toBe('ipvsadm-save');
        expect(stripSource(back)).toEqual(stripSource(set));
        // And writing again gives the same text (the form is canonical).
        expect(toIpvsadmSave(back)).toBe(text);
      }),
      { numRuns: 1000 },
    );
  });

  it('each fixture survives parse → save → parse unchanged (except keepalived-only fields)', () => {
    for (const text of fixtures) {
      const set = parseServiceConfig(text, 'fx');
      const withoutSorry = { ...set, services: set.services.map(({ sorryServer: _x, ...s }) => s as Service) };
      const back = parseServiceConfig(toIpvsadmSave(set), 'saved');
      expect(stripSource(back)).toEqual(stripSource(withoutSorry));
    }
  });

  it('mainline: true refuses FullNAT, local addresses and synproxy with the service location', () => {
    const set = parseServiceConfig('-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 192.168.1.2:80 -b\n', 'fnat.rules');
    expect(() => toIpvsadmSave(set, { mainline: true })).toThrow(/^fnat.rules:1: FullNAT destination cannot be written for mainline ipvsadm$/);
    const dr = parseServiceConfig('-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 192.168.1.2:80 -g\n', 'dr.rules');
    expect(toIpvsadmSave(dr, { mainline: true })).toBe('-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 192.168.1.2:80 -g -w 1\n');
  });
});
