// /proc/net/ip_vs as a config and /proc/net/ip_vs_conn as the kernel's connection table.
// fixtures/configs/proc holds the views of one 6.1 kernel (see its README); ipvsadm's own output
// of that kernel is the oracle: the model read from /proc must equal the one read from
// `ipvsadm -Sn`, except for what /proc does not print.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Service,
  type ServiceSet,
  ConfigError,
  crossCheckConnections,
  detectFormat,
  parseProcIpVs,
  parseProcIpVsConn,
  parseServiceConfig,
  readProcIpVs,
  serviceKey,
} from '../../src/verify/service/index.js';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'configs', 'proc');
const text = (name: string): string => readFileSync(path.join(dir, name), 'utf8');

/** Services in key order, real servers in address order, without source references. */
function comparable(set: ServiceSet): Record<string, unknown>[] {
  return [...set.services]
    .sort((a, b) => (serviceKey(a) < serviceKey(b) ? -1 : 1))
    .map((s) => {
      const { source: _s, realServers, ...rest } = s;
      const rs = realServers
        .map((r) => {
          const { source: _r, ...r2 } = r;
          return r2;
        })
        .sort((a, b) => (`${a.ip}:${a.port}` < `${b.ip}:${b.port}` ? -1 : 1));
      return { ...rest, realServers: rs };
    });
}

/** What /proc/net/ip_vs cannot show, removed from a model read from ipvsadm. */
function withoutUnprinted(set: ServiceSet): ServiceSet {
  return {
    ...set,
    services: set.services.map((s): Service => ({
      ...s,
      schedFlags: [],
      realServers: s.realServers.map((r) => {
        const { tunnelType: _t, tunnelPort: _p, tunnelCsum: _c, ...rest } = r;
        return rest;
      }),
    })),
  };
}

describe('/proc/net/ip_vs from the IPVS VM', () => {
  const proc = parseServiceConfig(text('ip_vs'), 'ip_vs');
  const saved = parseServiceConfig(text('ipvsadm-Sn.rules'), 'ipvsadm-Sn.rules');
  const listed = parseServiceConfig(text('ipvsadm-Ln.txt'), 'ipvsadm-Ln.txt');

  it('is detected by its hex addresses although its header is the one ipvsadm -Ln prints', () => {
    expect(detectFormat(text('ip_vs'))).toBe('proc-ip-vs');
    expect(detectFormat(text('ipvsadm-Ln.txt'))).toBe('ipvsadm-list');
    expect(proc.format).toBe('proc-ip-vs');
  });

  it('tells a fwmark of eight decimal digits (ipvsadm -Ln) from the hex one /proc prints, by the next lines', () => {
    const listing = 'IP Virtual Server version 1.2.1 (size=4096)\nFWM  10000000 rr\n  -> 10.0.0.1:0                  Route   1      0          0\n';
    expect(detectFormat(listing)).toBe('ipvsadm-list');
    const proc = 'IP Virtual Server version 1.2.1 (size=4096)\nFWM  10000000 rr \n  -> 0A000001:0000      Route   1      0          0\n';
    expect(detectFormat(proc)).toBe('proc-ip-vs');
    expect(parseServiceConfig(proc, 'p').services[0]!.fwmark).toBe(0x10000000);
    expect(detectFormat('FWM  0000000A wlc \n')).toBe('proc-ip-vs');
  });

  it('gives the same services as ipvsadm -Sn of the same kernel, but for scheduler flags and tunnel types', () => {
    expect(proc.services.length).toBe(9);
    expect(comparable(proc)).toEqual(comparable(withoutUnprinted(saved)));
    // The differences are real: ipvsadm knows them, /proc does not print them.
    expect(saved.services.find((s) => s.vport === 443)?.schedFlags).toEqual(['sh-port']);
    expect(saved.services.find((s) => s.vport === 443)?.realServers.some((r) => r.tunnelType === 'ipip')).toBe(true);
    expect(proc.notes.some((n) => /scheduler flags, tunnel types/.test(n))).toBe(true);
  });

  it('agrees with ipvsadm -Ln too (which prints neither either)', () => {
    expect(comparable(proc)).toEqual(comparable(withoutUnprinted(listed)));
  });

  it('reads jiffies at HZ 250, IPv6 prefix lengths printed through ntohl, fwmark families from destinations', () => {
    const byKey = new Map(proc.services.map((s) => [serviceKey(s), s]));
    expect(byKey.get('tcp:192.168.0.22:0')?.persistenceTimeout).toBe(300);
    expect(byKey.get('tcp:192.168.0.22:443')).toMatchObject({ persistenceTimeout: 600, persistenceMask: '255.255.255.0' });
    expect(byKey.get('tcp:[2001:db8::22]:80')).toMatchObject({ persistenceTimeout: 120, persistenceMask: '64' });
    expect(byKey.get('fwm:1:v4')).toMatchObject({ persistenceTimeout: 360, persistenceMask: null });
    expect(byKey.get('fwm:2:v6')?.realServers[0]?.ip).toBe('2001:db8:1::15');
    expect(byKey.get('udp:192.168.0.22:53')?.ops).toBe(true);
    expect(byKey.get('sctp:192.168.0.22:9899')?.scheduler).toBe('lc');
    expect(proc.notes.some((n) => /HZ=250/.test(n))).toBe(true);
  });

  it('keeps the kernel order of destinations (newest first), which ipvsadm sorts away', () => {
    const mysql = proc.services.find((s) => s.vport === 3306)!;
    expect(mysql.realServers.map((r) => `${r.ip}:${r.port}`)).toEqual(['10.0.0.12:3307', '10.0.0.11:3306']);
    const mysqlSaved = saved.services.find((s) => s.vport === 3306)!;
    expect(mysqlSaved.realServers.map((r) => r.ip)).toEqual(['10.0.0.11', '10.0.0.12']);
  });

  it('reads ActiveConn/InActConn as ipvsadm -Ln printed them', () => {
    const { destinations } = readProcIpVs(text('ip_vs'), 'ip_vs');
    // Oracle: the counters columns of the -Ln text, keyed by destination and service order.
    const fromList = new Map<string, [number, number]>();
    let svc = '';
    for (const l of text('ipvsadm-Ln.txt').split('\n')) {
      const s = /^(TCP|UDP|SCTP|FWM)\s+(\S+)(\s+IPv6)?/.exec(l);
      if (s) svc = `${s[1]} ${s[2]}${s[3] ?? ''}`;
      const d = /^\s+->\s+(\S+)\s+\S+\s+\d+\s+(\d+)\s+(\d+)/.exec(l);
      if (d) fromList.set(`${svc} ${d[1]}`, [Number(d[2]), Number(d[3])]);
    }
    expect(destinations.length).toBe(fromList.size);
    const name = (key: string): string => {
      const m = /^(tcp|udp|sctp):(.*)$/.exec(key);
      if (m) return `${m[1]!.toUpperCase()} ${m[2]}`;
      const f = /^fwm:(\d+):v(\d)$/.exec(key)!;
      return `FWM ${f[1]}${f[2] === '6' ? ' IPv6' : ''}`;
    };
    for (const d of destinations) {
      expect(fromList.get(`${name(d.service)} ${d.realServer}`), `${d.service} ${d.realServer}`).toEqual([d.activeConns, d.inactiveConns]);
    }
    expect(destinations.reduce((n, d) => n + d.activeConns + d.inactiveConns, 0)).toBeGreaterThan(0);
  });

  it('turns jiffies into seconds with the HZ given, and refuses a timeout that HZ does not divide', () => {
    const at1000 = parseProcIpVs(text('ip_vs'), 'ip_vs', { hz: 1000 });
    expect(at1000.services.find((s) => s.vport === 443)?.persistenceTimeout).toBe(150);
    expect(() => parseProcIpVs(text('ip_vs'), 'ip_vs', { hz: 400 })).toThrow(/75000 jiffies is not a whole number of seconds at HZ=400/);
  });
});

describe('/proc/net/ip_vs_conn from the IPVS VM', () => {
  const conns = parseProcIpVsConn(text('ip_vs_conn'), 'ip_vs_conn');

  it('decodes every entry as ipvsadm -Lnc decoded the same table', () => {
    // Oracle: ipvsadm's own rendering (dotted/bracketed addresses, mm:ss expiry).
    const lnc = text('ipvsadm-Lnc.txt')
      .split('\n')
      .map((l) => /^(\S+)\s+(\d\d):(\d\d)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1]!.toLowerCase(), Number(m[2]) * 60 + Number(m[3]), m[4], m[5], m[6], m[7]].join(' '));
    const ep = (e: { ip: string; port: number }): string => (e.ip.includes(':') ? `[${e.ip}]:${e.port}` : `${e.ip}:${e.port}`);
    const ours = conns.map((c) => [c.protocol, c.expires, c.state, ep(c.client), ep(c.virtual), ep(c.destination)].join(' '));
    expect(lnc.length).toBe(10);
    expect(ours).toEqual(lnc);
  });

  it('marks persistence templates (client port 0, state NONE)', () => {
    expect(conns.filter((c) => c.template).map((c) => c.line)).toEqual([3, 8, 10]);
    expect(conns.find((c) => c.line === 3)?.client.ip).toBe('192.168.0.0'); // masked by -M 255.255.255.0
  });

  it('cross-checks with the service table of the same kernel: every connection is explained', () => {
    const set = parseServiceConfig(text('ip_vs'), 'ip_vs');
    expect(crossCheckConnections(set, conns)).toEqual([]);
    // Without the real server 10.0.0.12:3307 the two connections scheduled to it stand out.
    const fewer: ServiceSet = {
      ...set,
      services: set.services.map((s) => (s.vport === 3306 ? { ...s, realServers: s.realServers.filter((r) => r.port !== 3307) } : s)),
    };
    const lines = conns.filter((c) => c.destination.port === 3307).map((c) => c.line);
    expect(crossCheckConnections(fewer, conns)).toEqual(
      lines.map((line) => ({ line, what: '10.0.0.12:3307 is not a real server of tcp:192.168.0.22:3306' })),
    );
  });

  it('reads the ip_vs_conn_sync layout (Origin column) and persistence engine columns', () => {
    const sync = [
      'Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires PEName PEData',
      'UDP C0A80016 13C4 C0A80016 13C4 0A00000B 13C4 UDP         Local      299 sip a84b4c76e66710',
    ].join('\n');
    const [c] = parseProcIpVsConn(sync, 'ip_vs_conn_sync');
    expect(c).toMatchObject({ protocol: 'udp', origin: 'Local', expires: 299, pe: { name: 'sip', data: 'a84b4c76e66710' } });
  });
});

describe('errors name the file and line', () => {
  const head = 'IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n';
  it.each([
    ['unknown scheduler', `${head}TCP  C0A80016:0050 foobar \n`, 4, /unknown scheduler "foobar"/],
    ['no scheduler', `${head}TCP  C0A80016:0050 none \n`, 4, /no scheduler/],
    ['bad hex address', `${head}TCP  C0A80016:0050 rr \n  -> 0A00000G:0050      Masq    1      0          0\n`, 5, /bad real server address/],
    ['unknown forwarding', `${head}TCP  C0A80016:0050 rr \n  -> 0A00000B:0050      Bridge  1      0          0\n`, 5, /unknown forwarding method "Bridge"/],
    ['unknown flag', `${head}TCP  C0A80016:0050 rr sticky\n`, 4, /unknown service flag "sticky"/],
    ['stray line', `${head}TCP  C0A80016:0050 rr \nhello\n`, 5, /unrecognised line/],
    ['weight out of range', `${head}TCP  C0A80016:0050 rr \n  -> 0A00000B:0050      Masq    70000  0          0\n`, 5, /weight 70000/],
    ['bad v6 persistence mask', `${head}TCP  [2001:0db8:0000:0000:0000:0000:0000:0022]:0050 rr persistent 2500 FFFFFFFF\n`, 4, /prefix length/],
  ])('%s', (_n, body, line, what) => {
    let err: unknown;
    try {
      parseServiceConfig(body, 'ip_vs');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).line).toBe(line);
    expect((err as ConfigError).what).toMatch(what);
  });

  it('the connection table given as a config says what it is', () => {
    expect(() => parseServiceConfig(text('ip_vs_conn'), 'ip_vs_conn')).toThrow(/ip_vs_conn:1: this is \/proc\/net\/ip_vs_conn/);
  });

  it('ip_vs_conn lines with a bad column are refused with their line', () => {
    const bad = 'Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\nTCP C0A80016 B7D6 C0A80016 01BB 0A00000D 1BB SYN_RECV 56\n';
    expect(() => parseProcIpVsConn(bad, 'c')).toThrow(/^c:2: bad port "1BB"/);
    expect(() => parseProcIpVsConn('TCP C0A80016 B7D6\n', 'c')).toThrow(/c:1: not \/proc\/net\/ip_vs_conn/);
  });
});

// The kernel's format (ip_vs_info_seq_show), written independently of the parser, for any model.
const hex = (n: number, w: number): string => n.toString(16).toUpperCase().padStart(w, '0');
function v4hex(ip: string): string {
  return ip.split('.').map((o) => hex(Number(o), 2)).join('');
}
function v6full(ip: string): string {
  const [h, t] = ip.includes('::') ? ip.split('::') : [ip, undefined];
  const head = h ? h.split(':') : [];
  const tail = t ? t.split(':') : [];
  const groups = t === undefined ? head : [...head, ...Array(8 - head.length - tail.length).fill('0'), ...tail];
  return groups.map((g) => g.padStart(4, '0')).join(':');
}

describe('property: any IPv4 service table printed as the kernel prints it reads back', () => {
  const octet = fc.integer({ min: 1, max: 254 });
  const ip4 = fc.tuple(octet, octet, octet, octet).map((o) => o.join('.'));
  const fwd = fc.constantFrom(['Masq', 'nat'], ['Route', 'dr'], ['Tunnel', 'tun']);
  const svc = fc.record({
    proto: fc.constantFrom('TCP', 'UDP', 'SCTP'),
    vip: ip4,
    vport: fc.integer({ min: 1, max: 65535 }),
    sched: fc.constantFrom('rr', 'wrr', 'lc', 'wlc', 'sh', 'mh', 'twos'),
    persist: fc.option(fc.tuple(fc.integer({ min: 1, max: 86400 }), fc.integer({ min: 8, max: 32 }))),
    rs: fc.uniqueArray(fc.tuple(ip4, fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 65535 })), {
      maxLength: 5,
      selector: (r) => r[0],
    }),
    method: fwd,
  });
  it('reads every field back', () => {
    fc.assert(
      fc.property(fc.uniqueArray(svc, { minLength: 1, maxLength: 6, selector: (s) => `${s.proto}${s.vip}${s.vport}` }), (svcs) => {
        let t = 'IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n';
        for (const s of svcs) {
          const mask = s.persist ? (s.persist[1] === 32 ? 0xffffffff : (~0 << (32 - s.persist[1])) >>> 0) : 0;
          t += `${s.proto}  ${v4hex(s.vip)}:${hex(s.vport, 4)} ${s.sched}  ${s.persist ? `persistent ${s.persist[0] * 250} ${hex(mask, 8)}` : ''}\n`;
          for (const [ip, port, w] of s.rs) {
            const p = s.method[1] === 'nat' ? port : s.vport;
            t += `  -> ${v4hex(ip)}:${hex(p, 4)}      ${s.method[0]!.padEnd(7)} ${String(w).padEnd(6)} 0          0         \n`;
          }
        }
        const set = parseProcIpVs(t, 'p');
        expect(set.services.length).toBe(svcs.length);
        svcs.forEach((s, i) => {
          const got = set.services[i]!;
          expect(got.protocol).toBe(s.proto.toLowerCase());
          expect(`${got.vip}:${got.vport}`).toBe(`${s.vip}:${s.vport}`);
          expect(got.scheduler).toBe(s.sched);
          expect(got.persistenceTimeout).toBe(s.persist ? s.persist[0] : null);
          if (s.persist) expect(got.persistenceMask === null ? 32 : got.persistenceMask.split('.').reduce((n, o) => n + Number(o).toString(2).replace(/0/g, '').length, 0)).toBe(s.persist[1]);
          expect(got.realServers.map((r) => [r.ip, r.weight, r.method])).toEqual(s.rs.map(([ip, , w]) => [ip, w, s.method[1]]));
        });
      }),
      { numRuns: 200 },
    );
  });

  it('IPv6 addresses in the full eight-group form read back canonical', () => {
    const g = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
    fc.assert(
      fc.property(fc.array(g, { minLength: 8, maxLength: 8 }), fc.integer({ min: 1, max: 65535 }), (groups, port) => {
        const canonical = parseServiceConfig(`-A -t [${groups.join(':')}]:${port} -s rr\n`, 'r').services[0]!.vip;
        const t = `IP Virtual Server version 1.2.1 (size=4096)\nTCP  [${v6full(groups.join(':'))}]:${hex(port, 4)} rr \n`;
        expect(parseProcIpVs(t, 'p').services[0]!.vip).toBe(canonical);
      }),
      { numRuns: 200 },
    );
  });
});
