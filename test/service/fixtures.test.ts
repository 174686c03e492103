// Every fixture in fixtures/configs parsed into the model; expected values are written out by
// hand from the fixture text and lvs-behavior.md §5 (not computed by the code under test).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  type RealServer,
  type Service,
  describeService,
  detectFormat,
  findRealServer,
  findService,
  parseServiceConfig,
  serviceFromFlags,
  serviceSetToJSON,
} from '../../src/verify/service/index.js';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'configs');
const load = (name: string) => parseServiceConfig(readFileSync(path.join(dir, name), 'utf8'), name);

/** Real servers without their source lines, for compact comparisons. */
const rsOf = (s: Service): Omit<RealServer, 'source'>[] =>
  s.realServers.map((r) => {
    const { source: _s, ...rest } = r;
    return rest;
  });

describe('ipvsadm-save.rules', () => {
  const set = load('ipvsadm-save.rules');
  it('is read as ipvsadm-save with five services in file order', () => {
    expect(set.format).toBe('ipvsadm-save');
    expect(set.services.map((s) => [s.protocol, s.vip, s.vport, s.fwmark])).toEqual([
      ['tcp', '192.168.0.100', 80, undefined],
      ['tcp', '192.168.0.100', 443, undefined],
      ['udp', '192.168.0.100', 53, undefined],
      ['tcp', '2001:db8::100', 80, undefined],
      ['tcp', '', 0, 7],
    ]);
  });
  it('keeps forwarding per destination; service method only when all agree', () => {
    const web = set.services[0]!;
    expect(web.scheduler).toBe('wlc');
    expect(web.method).toBeNull();
    expect(rsOf(web)).toEqual([
      { ip: '10.0.0.11', port: 80, weight: 1, method: 'nat' },
      { ip: '10.0.0.12', port: 80, weight: 3, method: 'dr' },
    ]);
    expect(web.source).toEqual({ file: 'ipvsadm-save.rules', line: 1 });
    expect(web.realServers[1]!.source).toEqual({ file: 'ipvsadm-save.rules', line: 3 });
  });
  it('reads persistence, netmask and weight 0', () => {
    const tls = set.services[1]!;
    expect(tls.scheduler).toBe('rr');
    expect(tls.persistenceTimeout).toBe(360);
    expect(tls.persistenceMask).toBe('255.255.255.0');
    expect(tls.method).toBe('dr');
    expect(tls.realServers.map((r) => r.weight)).toEqual([1, 0]);
  });
  it('reads sched flags, bare ops and GUE tunnel options', () => {
    const dns = set.services[2]!;
    expect(dns.scheduler).toBe('sh');
    expect(dns.schedFlags).toEqual(['sh-fallback', 'sh-port']);
    expect(dns.ops).toBe(true);
    expect(dns.persistenceTimeout).toBeNull();
    expect(rsOf(dns)).toEqual([
      { ip: '10.0.0.13', port: 53, weight: 1, method: 'tun', tunnelType: 'gue', tunnelPort: 6080, tunnelCsum: 'nocsum' },
    ]);
  });
  it('reads IPv6 [addr]:port with a prefix-length mask', () => {
    const v6 = set.services[3]!;
    expect(v6.family).toBe(6);
    expect(v6.persistenceTimeout).toBe(600);
    expect(v6.persistenceMask).toBe('64');
    expect(rsOf(v6)).toEqual([{ ip: '2001:db8:1::11', port: 8080, weight: 2, method: 'nat' }]);
  });
  it('reads a fwmark service with -p and no value as 360 s', () => {
    const fwm = set.services[4]!;
    expect(fwm.fwmark).toBe(7);
    expect(fwm.family).toBe(4);
    expect(fwm.scheduler).toBe('lc');
    expect(fwm.persistenceTimeout).toBe(360);
    expect(rsOf(fwm)).toEqual([{ ip: '10.0.0.21', port: 0, weight: 1, method: 'dr' }]);
  });
});

describe('ipvsadm-list.txt (ipvsadm -Ln)', () => {
  const set = load('ipvsadm-list.txt');
  it('is read as ipvsadm-list and describes the same director as ipvsadm-save.rules', () => {
    expect(set.format).toBe('ipvsadm-list');
    expect(set.services.map(describeService)).toEqual([
      'TCP 192.168.0.100:80 wlc → 10.0.0.11:80 NAT w1, 10.0.0.12:80 DR w3',
      'TCP 192.168.0.100:443 rr persistent 360 mask 255.255.255.0 DR → 10.0.0.11:443 w1, 10.0.0.12:443 w0',
      'UDP 192.168.0.100:53 sh (sh-fallback,sh-port) ops TUN → 10.0.0.13:53 w1',
      'TCP [2001:db8::100]:80 wrr persistent 600 mask 64 NAT → [2001:db8:1::11]:8080 w2',
      'FWM 7 lc persistent 360 DR → 10.0.0.21:0 w1',
    ]);
  });
  it('gives dest lines their own source line (trailing spaces tolerated)', () => {
    expect(set.services[0]!.realServers[1]!.source).toEqual({ file: 'ipvsadm-list.txt', line: 6 });
  });
});

describe('ipvsadm-fnat.rules (ALI/DPVS extensions)', () => {
  const set = load('ipvsadm-fnat.rules');
  it('reads -b/--fullnat, -P/--add-laddr -z, -j enable, long forms, leading ipvsadm, ignores -F', () => {
    expect(set.format).toBe('ipvsadm-save');
    const s = set.services[0]!;
    expect(s.method).toBe('fullnat');
    expect(s.synproxy).toBe(true);
    expect(s.localAddresses).toEqual(['192.168.100.200', '192.168.100.201']);
    expect(rsOf(s)).toEqual([
      { ip: '192.168.100.2', port: 80, weight: 1, method: 'fullnat' },
      { ip: '192.168.100.3', port: 8080, weight: 5, method: 'fullnat' },
    ]);
  });
});

describe('keepalived-dr.conf', () => {
  const set = load('keepalived-dr.conf');
  it('skips vrrp/global sections and ignores checker blocks', () => {
    expect(set.format).toBe('keepalived');
    expect(set.services).toHaveLength(2);
  });
  it('reads lb_algo, lb_kind DR, persistence and granularity', () => {
    const s = set.services[0]!;
    expect(s).toMatchObject({
      protocol: 'tcp',
      vip: '192.168.0.100',
      vport: 80,
      scheduler: 'wlc',
      method: 'dr',
      persistenceTimeout: 300,
      persistenceMask: '255.255.255.0',
      source: { file: 'keepalived-dr.conf', line: 16 },
    });
    expect(rsOf(s)).toEqual([
      { ip: '10.0.0.11', port: 80, weight: 1, method: 'dr' },
      { ip: '10.0.0.12', port: 80, weight: 3, method: 'dr' },
    ]);
  });
  it('reads lvs_sched/lvs_method, UDP, ops, persistence_timeout without value = 360, "{" on the next line, sorry_server', () => {
    const s = set.services[1]!;
    expect(s).toMatchObject({ protocol: 'udp', vport: 53, scheduler: 'rr', method: 'nat', ops: true, persistenceTimeout: 360 });
    expect(rsOf(s)).toEqual([
      { ip: '10.0.0.13', port: 5353, weight: 2, method: 'nat' },
      { ip: '10.0.0.14', port: 5353, weight: 0, method: 'nat' },
    ]);
    expect(s.sorryServer).toEqual({ ip: '10.0.0.99', port: 5353 });
  });
});

describe('keepalived-fnat.conf', () => {
  const set = load('keepalived-fnat.conf');
  it('expands local_address_group entries and ranges, ignores the DPVS ifname column', () => {
    const s = set.services[0]!;
    expect(s.method).toBe('fullnat');
    expect(s.synproxy).toBe(true);
    expect(s.localAddresses).toEqual([
      '192.168.100.200',
      '192.168.100.202',
      '192.168.100.203',
      '192.168.100.204',
      '192.168.100.210',
    ]);
    expect(rsOf(s)).toEqual([
      { ip: '192.168.100.2', port: 80, weight: 100, method: 'fullnat' },
      { ip: '192.168.100.3', port: 8080, weight: 50, method: 'fullnat' },
    ]);
  });
  it('resolves a laddr group defined after its use; IPv6 ranges in hex', () => {
    const s = set.services[1]!;
    expect(s.vip).toBe('2001:db8::100');
    expect(s.family).toBe(6);
    expect(s.scheduler).toBe('conhash');
    expect(s.localAddresses).toEqual(['2001:db8:100::10', '2001:db8:100::11', '2001:db8:100::12']);
  });
});

describe('keepalived-ipv6-fwmark.conf', () => {
  const set = load('keepalived-ipv6-fwmark.conf');
  it('notes the include that matched no file (not an error, as in keepalived) and the group expansion', () => {
    expect(set.notes.some((n) => n.includes(':2: include keepalived-ipv6-fwmark.d/*.conf matched no file'))).toBe(true);
    expect(set.notes.some((n) => n.includes('virtual_server group web_vips'))).toBe(true);
  });
  it('reads an IPv6 TUN service with type gue port nocsum and a sched flag keyword', () => {
    const s = set.services[0]!;
    expect(s).toMatchObject({ vip: '2001:db8::100', family: 6, scheduler: 'mh', schedFlags: ['mh-port'], method: 'tun' });
    expect(s.persistenceMask).toBe('64');
    expect(rsOf(s)[1]).toEqual({
      ip: '2001:db8:1::12',
      port: 80,
      weight: 2,
      method: 'tun',
      tunnelType: 'gue',
      tunnelPort: 6080,
      tunnelCsum: 'nocsum',
    });
  });
  it('reads virtual_server fwmark N', () => {
    const s = set.services[1]!;
    expect(s).toMatchObject({ fwmark: 7, vip: '', family: 4, method: 'dr', persistenceTimeout: 3600 });
    expect(s.realServers.map((r) => `${r.ip}:${r.port}`)).toEqual(['10.0.0.21:0', '10.0.0.22:0']);
  });
  it('expands virtual_server group into one service per entry (range and fwmark)', () => {
    expect(set.services.slice(2).map((s) => s.fwmark ?? `${s.vip}:${s.vport}`)).toEqual([
      '192.168.0.101:8080',
      '192.168.0.102:8080',
      9,
    ]);
    expect(set.services[4]!.realServers[0]).toMatchObject({ ip: '10.0.0.31', port: 80, weight: 4, method: 'nat' });
  });
});

describe('format detection', () => {
  it.each([
    ['ipvsadm-save.rules', 'ipvsadm-save'],
    ['ipvsadm-fnat.rules', 'ipvsadm-save'],
    ['ipvsadm-list.txt', 'ipvsadm-list'],
    ['keepalived-dr.conf', 'keepalived'],
    ['keepalived-fnat.conf', 'keepalived'],
    ['keepalived-ipv6-fwmark.conf', 'keepalived'],
  ])('%s → %s', (name, fmt) => {
    expect(detectFormat(readFileSync(path.join(dir, name), 'utf8'))).toBe(fmt);
  });
  it('a listing without the header (service line first) is still -Ln; a plain script with ipvsadm prefix is rules', () => {
    expect(detectFormat('TCP  1.2.3.4:80 wlc\n  -> 10.0.0.1:80  Route 1 0 0\n')).toBe('ipvsadm-list');
    expect(detectFormat('/sbin/ipvsadm -A -t 1.2.3.4:80\n')).toBe('ipvsadm-save');
    expect(detectFormat('hello world\n')).toBeNull();
  });
});

describe('describeService', () => {
  it('prints the one-line summary of the brief', () => {
    const s = serviceFromFlags({ vip: '192.168.0.100:80', mode: 'dr', rs: ['10.0.0.11:80', '10.0.0.12:80@3'] });
    expect(describeService(s)).toBe('TCP 192.168.0.100:80 wlc DR → 10.0.0.11:80 w1, 10.0.0.12:80 w3');
  });
  it('shows FullNAT local addresses, synproxy and a service without real servers', () => {
    const set = parseServiceConfig('-A -t 10.0.0.100:80 -s rr -j enable\n-a -t 10.0.0.100:80 -r 192.168.1.2:8080 -b -w 2\n-P -t 10.0.0.100:80 -z 192.168.1.200\n-A -u 10.0.0.100:53\n', 'x');
    expect(set.services.map(describeService)).toEqual([
      'TCP 10.0.0.100:80 rr synproxy FNAT laddr 192.168.1.200 → 192.168.1.2:8080 w2',
      'UDP 10.0.0.100:53 wlc → (no real servers)',
    ]);
  });
});

describe('ipvsadm -Ln variants', () => {
  it('reads Local, FullNat and the --tun-info column', () => {
    const text = [
      'IP Virtual Server version 1.2.1 (size=4096)',
      'Prot LocalAddress:Port Scheduler Flags',
      '  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn',
      'TCP  10.0.0.1:80 rr',
      '  -> 127.0.0.1:80                 Local   1      0          0',
      '  -> 10.0.0.2:80                  Tunnel  gue:6080:remcsum 5 0 0',
      'TCP  10.0.0.1:81 rr',
      '  -> 10.0.0.3:8081                FullNat 7      0          0',
    ].join('\n');
    const set = parseServiceConfig(text, 'ln');
    expect(set.services[0]!.realServers.map((r) => [r.ip, r.method, r.weight, r.tunnelType, r.tunnelPort, r.tunnelCsum])).toEqual([
      ['127.0.0.1', 'dr', 1, undefined, undefined, undefined],
      ['10.0.0.2', 'tun', 5, 'gue', 6080, 'remcsum'],
    ]);
    expect(set.services[1]!.realServers[0]).toMatchObject({ ip: '10.0.0.3', port: 8081, method: 'fullnat', weight: 7 });
  });
});

describe('ipvsadm rules: edit and delete commands apply in order', () => {
  it('-e changes weight and method, -d removes a destination, -D a service, -C clears', () => {
    const text = [
      '-A -t 1.1.1.1:80 -s rr',
      '-a -t 1.1.1.1:80 -r 10.0.0.1:80 -m -w 1',
      '-a -t 1.1.1.1:80 -r 10.0.0.2:80 -m -w 1',
      '-e -t 1.1.1.1:80 -r 10.0.0.1:80 -m -w 9',
      '-d -t 1.1.1.1:80 -r 10.0.0.2:80',
      '-E -t 1.1.1.1:80 -s sh -p 60',
      '-A -t 2.2.2.2:80',
      '-D -t 2.2.2.2:80',
    ].join('\n');
    const s = parseServiceConfig(text, 'x').services;
    expect(s).toHaveLength(1);
    expect(s[0]).toMatchObject({ scheduler: 'sh', persistenceTimeout: 60 });
    expect(s[0]!.realServers.map((r) => [r.ip, r.weight, r.method])).toEqual([['10.0.0.1', 9, 'nat']]);
    expect(() => parseServiceConfig('-A -t 1.1.1.1:80\n-C\n', 'x')).toThrow(/no virtual service defined/);
  });
  it('-e and -E reset what the line omits to the ipvsadm defaults (weight 1, -g, wlc, not persistent)', () => {
    const text = '-A -t 1.1.1.1:80 -s rr -p 60\n-a -t 1.1.1.1:80 -r 10.0.0.1:80 -m -w 5\n-e -t 1.1.1.1:80 -r 10.0.0.1:80\n-E -t 1.1.1.1:80\n';
    const s = parseServiceConfig(text, 'x').services[0]!;
    expect(s).toMatchObject({ scheduler: 'wlc', persistenceTimeout: null, method: 'dr' });
    expect(s.realServers.map((r) => [r.ip, r.port, r.weight, r.method])).toEqual([['10.0.0.1', 80, 1, 'dr']]);
    // A NAT destination on another port cannot be edited without -m: -g would look it up on the VIP port.
    expect(() => parseServiceConfig('-A -t 1.1.1.1:80\n-a -t 1.1.1.1:80 -r 10.0.0.1:8080 -m\n-e -t 1.1.1.1:80 -r 10.0.0.1:8080 -w 2\n', 'x')).toThrow(
      /^x:3: real server 10.0.0.1:8080 does not exist/,
    );
  });
});

describe('scheduler flags', () => {
  it('are kernel bits named by the scheduler (flag-2 under sh is sh-port), keepalived ignores foreign ones', () => {
    expect(parseServiceConfig('-A -u 1.2.3.4:53 -s sh -b flag-2,flag-3\n', 'x').services[0]!.schedFlags).toEqual(['flag-3', 'sh-port']);
    expect(parseServiceConfig('-A -u 1.2.3.4:53 -b mh-fallback -s mh\n', 'x').services[0]!.schedFlags).toEqual(['mh-fallback']);
    const ka = parseServiceConfig('virtual_server 1.2.3.4 80 {\n  lb_algo rr\n  sh-port\n  flag-3\n}\n', 'k');
    expect(ka.services[0]!.schedFlags).toEqual(['flag-3']);
  });
});

describe('lookups and JSON', () => {
  const set = load('ipvsadm-save.rules');
  it('findService matches proto, canonical VIP and port', () => {
    expect(findService(set, '192.168.0.100', 443, 'tcp')?.scheduler).toBe('rr');
    expect(findService(set, '192.168.0.100', 443, 'udp')).toBeUndefined();
    expect(findService(set, '2001:0db8:0:0::100', 80, 'tcp')?.family).toBe(6);
    expect(findService(set, 'not-an-ip', 80, 'tcp')).toBeUndefined();
  });
  it('findService falls back to a port-0 persistent service on the same VIP', () => {
    const s = parseServiceConfig('-A -t 10.1.1.1:0 -s rr -p 60\n-A -t 10.1.1.1:22 -s wlc\n', 'x');
    expect(findService(s, '10.1.1.1', 22, 'tcp')?.scheduler).toBe('wlc');
    expect(findService(s, '10.1.1.1', 8443, 'tcp')?.scheduler).toBe('rr');
  });
  it('findRealServer searches one service or the whole set', () => {
    const hit = findRealServer(set, '10.0.0.12', 443);
    expect(hit?.service.vport).toBe(443);
    expect(hit?.realServer.weight).toBe(0);
    expect(findRealServer(set.services[0]!, '10.0.0.13')).toBeUndefined();
    expect(findRealServer(set, '2001:db8:1:0::11')?.realServer.port).toBe(8080);
  });
  it('serviceSetToJSON is a plain deep copy that survives JSON', () => {
    const j = serviceSetToJSON(set);
    expect(JSON.parse(JSON.stringify(j))).toEqual(j);
    (j.services as { vip: string }[])[0]!.vip = 'changed';
    expect(set.services[0]!.vip).toBe('192.168.0.100');
  });
});
