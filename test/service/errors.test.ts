// Bad configs: each must be a ConfigError (an InputError, exit 2) naming file, line and what.
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import {
  ConfigError,
  loadServiceConfig,
  mergeServiceSets,
  parseServiceConfig,
  serviceFromFlags,
  type ServiceFlags,
} from '../../src/verify/service/index.js';

function errorOf(text: string, file = 'cfg'): ConfigError {
  try {
    parseServiceConfig(text, file);
  } catch (e) {
    if (e instanceof ConfigError) return e;
    throw e;
  }
  throw new Error('expected a ConfigError, parse succeeded');
}

describe('ConfigError', () => {
  it('is an InputError with exit code 2 and a one-line "file:line: what" message', () => {
    const e = errorOf('-A -t 1.2.3.4:80 -s wlc\n-A -t 1.2.3.4:80 --bogus\n', 'rules.txt');
    expect(e).toBeInstanceOf(InputError);
    expect(e.exitCode).toBe(2);
    expect(e.file).toBe('rules.txt');
    expect(e.line).toBe(2);
    expect(e.message).toBe('rules.txt:2: unknown option --bogus');
    expect(e.message.includes('\n')).toBe(false);
  });
});

describe('ipvsadm rules errors', () => {
  it.each([
    ['unknown option', '-A -t 1.2.3.4:80 -s wlc\n\n-a -t 1.2.3.4:80 -r 10.0.0.1 -g --frobnicate 3\n', 3, /unknown option --frobnicate/],
    ['unknown short option cluster', '-A -t 1.2.3.4:80 -s wlc\n-a -t 1.2.3.4:80 -r 10.0.0.1 -gZ9\n', 2, /unknown option -gZ9/],
    ['bad VIP', '-A -t 1.2.3.400:80 -s wlc\n', 1, /bad virtual service address "1.2.3.400:80"/],
    ['bad RIP', '-A -t 1.2.3.4:80\n-a -t 1.2.3.4:80 -r 10.0.0:80 -m\n', 2, /bad real server address/],
    ['real server before its service', '# c\n-a -t 1.2.3.4:80 -r 10.0.0.1:80 -m -w 1\n-A -t 1.2.3.4:80\n', 2, /before its service/],
    ['weight not a number', '-A -t 1.2.3.4:80\n-a -t 1.2.3.4:80 -r 10.0.0.1:80 -m -w heavy\n', 2, /weight must be a number/],
    ['weight out of range', '-A -t 1.2.3.4:80\n-a -t 1.2.3.4:80 -r 10.0.0.1:80 -m -w 65536\n', 2, /weight must be a number 0..65535/],
    ['two methods', '-A -t 1.2.3.4:80\n-a -t 1.2.3.4:80 -r 10.0.0.1:80 -m -g\n', 2, /more than one forwarding method/],
    ['duplicate service', '-A -t 1.2.3.4:80\n-A -t 1.2.3.4:80\n', 2, /already exists/],
    ['duplicate real server', '-A -t 1.2.3.4:80\n-a -t 1.2.3.4:80 -r 10.0.0.1 -g\n-a -t 1.2.3.4:80 -r 10.0.0.1:80 -g\n', 3, /already exists/],
    ['bad persistence timeout', '-A -t 1.2.3.4:80 -p 0\n', 1, /out of range/],
    ['bad netmask', '-A -t 1.2.3.4:80 -p 60 -M 255.0.255.0\n', 1, /bad persistence netmask/],
    ['NAT across families', '-A -t 1.2.3.4:80\n-a -t 1.2.3.4:80 -r [2001:db8::1]:80 -m\n', 2, /IPv6 but 1.2.3.4 is IPv4/],
    ['zero port without persistence', '-A -t 1.2.3.4:0 -s rr\n', 1, /zero port/],
    ['option for the wrong command', '-A -t 1.2.3.4:80 -w 3\n', 1, /not valid with -A/],
    ['a listing command', '-L -n\n', 1, /does not configure/],
    ['laddr before service', '-P -t 1.2.3.4:80 -z 10.0.0.1\n', 1, /before its service/],
    ['unexpected word', '-A -t 1.2.3.4:80 hello\n', 1, /unexpected argument "hello"/],
    ['DPVS SNAT', '-A -t 1.2.3.4:80\n-a -t 1.2.3.4:80 -r 10.0.0.1:80 -J\n', 2, /SNAT/],
    ['gue without port', '-A -t 1.2.3.4:80\n-a -t 1.2.3.4:80 -r 10.0.0.1 -i --tun-type gue\n', 2, /needs --tun-port/],
    ['ops on TCP', '-A -t 1.2.3.4:80 -o\n', 1, /only for UDP/],
    ['sh flag under rr', '\n-A -t 1.2.3.4:80 -s rr -b sh-port\n', 2, /sh-port needs scheduler sh/],
    ['unknown sched flag', '-A -t 1.2.3.4:80 -s sh -b sh-sideways\n', 1, /unknown scheduler flag "sh-sideways"/],
  ])('%s', (_name, text, line, what) => {
    const e = errorOf(text);
    expect(e.line).toBe(line);
    expect(e.what).toMatch(what);
  });
});

describe('ipvsadm -Ln errors', () => {
  const head = 'IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n';
  it.each([
    ['dest before service', head + '  -> 10.0.0.1:80  Route 1 0 0\n', 4, /before any service/],
    ['unknown forward name', head + 'TCP  1.2.3.4:80 wlc\n  -> 10.0.0.1:80  Bounce 1 0 0\n', 5, /unknown forwarding method "Bounce"/],
    ['weight not a number', head + 'TCP  1.2.3.4:80 wlc\n  -> 10.0.0.1:80  Route x 0 0\n', 5, /weight must be a number/],
    ['resolved names (no -n)', head + 'TCP  www.example.com:http wlc\n', 4, /numeric/],
    ['stats-only listing', 'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n  -> RemoteAddress:Port\nTCP  1.2.3.4:80   5  10  10  600  800\n', 3, /--stats/],
    ['garbage line', head + 'TCP  1.2.3.4:80 wlc\nwhat is this\n', 5, /unrecognised line/],
  ])('%s', (_name, text, line, what) => {
    const e = errorOf(text);
    expect(e.line).toBe(line);
    expect(e.what).toMatch(what);
  });
  it('tolerates a --stats section after a plain listing of the same services', () => {
    const text =
      head +
      'TCP  1.2.3.4:80 wlc\n  -> 10.0.0.1:80  Route 1 0 0\n' +
      'IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n  -> RemoteAddress:Port\n' +
      'TCP  1.2.3.4:80                        5       10        0      600        0\n  -> 10.0.0.1:80                        5       10        0      600        0\n';
    const set = parseServiceConfig(text, 'x');
    expect(set.services).toHaveLength(1);
    expect(set.services[0]!.realServers).toHaveLength(1);
  });
});

describe('keepalived errors', () => {
  it.each([
    ['unclosed brace (reported at the opening line)', 'virtual_server 1.2.3.4 80 {\n  lb_kind DR\n  real_server 10.0.0.1 80 {\n    weight 1\n}\n', 1, /never closed/],
    ['stray closing brace', 'virtual_server 1.2.3.4 80 {\n  lb_kind DR\n}\n}\n', 4, /unmatched "}"/],
    ['weight not a number', 'virtual_server 1.2.3.4 80 {\n  real_server 10.0.0.1 80 {\n    weight many\n  }\n}\n', 3, /weight must be a number/],
    ['bad VIP', 'virtual_server 1.2.3 80 {\n}\n', 1, /bad virtual server address "1.2.3"/],
    ['bad real server address', 'virtual_server 1.2.3.4 80 {\n  real_server 10.0.0.300 80 {\n  }\n}\n', 2, /bad real server address/],
    ['unknown lb_kind', 'virtual_server 1.2.3.4 80 {\n  lb_kind BRIDGE\n}\n', 2, /unknown lb_kind "BRIDGE"/],
    ['unknown laddr group', 'virtual_server 1.2.3.4 80 {\n  lb_kind FNAT\n  laddr_group_name nope\n}\n', 3, /local_address_group "nope" is not defined/],
    ['bad range in laddr group', 'local_address_group g {\n  10.0.0.9-3\n}\nvirtual_server 1.2.3.4 80 {\n}\n', 2, /ends before it starts/],
    ['unknown protocol', 'virtual_server 1.2.3.4 80 {\n  protocol ICMP\n}\n', 2, /unknown protocol/],
    ['duplicate virtual_server', 'virtual_server 1.2.3.4 80 {\n}\nvirtual_server 1.2.3.4 80 {\n}\n', 3, /defined twice/],
    ['LIP family differs from RS', 'local_address_group g {\n  2001:db8::1\n}\nvirtual_server 1.2.3.4 80 {\n  lb_kind FNAT\n  laddr_group_name g\n  real_server 10.0.0.1 80 {\n  }\n}\n', 4, /different address families/],
    ['virtual_server without block', 'virtual_server 1.2.3.4 80\n', 1, /needs a \{ \} block/],
    ['undefined server group', 'virtual_server group web {\n}\n', 1, /not defined/],
  ])('%s', (_name, text, line, what) => {
    const e = errorOf(text);
    expect(e.line).toBe(line);
    expect(e.what).toMatch(what);
  });
});

describe('whole-file errors', () => {
  it('unrecognised content names the first significant line', () => {
    const e = errorOf('\n# just a comment\nthis is not a config\n');
    expect(e.line).toBe(3);
    expect(e.what).toMatch(/unrecognised config format/);
  });
  it('empty input and a keepalived.conf without virtual servers are errors', () => {
    expect(errorOf('\n\n').what).toMatch(/empty config/);
    expect(errorOf('global_defs {\n  router_id X\n}\n').what).toMatch(/no virtual service defined/);
  });
});

describe('serviceFromFlags', () => {
  const base: ServiceFlags = { vip: '192.168.0.100:80', mode: 'dr', rs: ['10.0.0.11', '10.0.0.12:80@3'], scheduler: 'rr' };
  it('builds the service with default weight 1 and VIP port for DR', () => {
    const s = serviceFromFlags(base);
    expect(s).toMatchObject({ protocol: 'tcp', vip: '192.168.0.100', vport: 80, scheduler: 'rr', method: 'dr', persistenceTimeout: null });
    expect(s.realServers.map((r) => [r.ip, r.port, r.weight, r.method])).toEqual([
      ['10.0.0.11', 80, 1, 'dr'],
      ['10.0.0.12', 80, 3, 'dr'],
    ]);
  });
  it('fullnat with laddr, IPv6 real servers with and without port, persistence true = 360', () => {
    const s = serviceFromFlags({
      vip: '[2001:db8::100]:443',
      mode: 'fullnat',
      rs: ['[2001:db8:1::11]:8443@2', '2001:db8:1::12@5'],
      laddr: ['2001:db8:2::1'],
      persistence: true,
      protocol: 'TCP',
    });
    expect(s.family).toBe(6);
    expect(s.persistenceTimeout).toBe(360);
    expect(s.scheduler).toBe('wlc');
    expect(s.localAddresses).toEqual(['2001:db8:2::1']);
    expect(s.realServers.map((r) => [r.ip, r.port, r.weight])).toEqual([
      ['2001:db8:1::11', 8443, 2],
      ['2001:db8:1::12', 443, 5],
    ]);
  });
  it.each([
    [{ vip: '1.2.3.4' }, /--vip "1.2.3.4": needs a port/],
    [{ vip: 'x:80' }, /--vip "x:80": not IP:PORT/],
    [{ mode: 'bridge' }, /--mode "bridge": must be nat, dr, tun or fullnat/],
    [{ rs: ['10.0.0.1@x'] }, /--rs "10.0.0.1@x": weight must be a number/],
    [{ rs: ['10.0.0.999'] }, /--rs "10.0.0.999": not IP/],
    [{ rs: [] }, /at least one real server/],
    [{ laddr: ['10.9.9.9'] }, /--laddr "10.9.9.9": local addresses only apply to --mode fullnat/],
    [{ scheduler: 'w l c' }, /unknown scheduler "w l c"/],
    [{ scheduler: 'foobar' }, /--scheduler "foobar": unknown scheduler "foobar" \(one of rr, wrr/],
    [{ persistence: 0 }, /--persistence "0"/],
    [{ protocol: 'icmp' }, /unknown protocol/],
  ] as [Partial<ServiceFlags>, RegExp][])('%o is refused', (patch, what) => {
    let err: unknown;
    try {
      serviceFromFlags({ ...base, ...patch });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/^command line: /);
    expect((err as ConfigError).message).toMatch(what);
  });
});

describe('loading and merging (repeated --config)', () => {
  it('an unreadable file is a ConfigError naming the path', async () => {
    await expect(loadServiceConfig('/nonexistent/lvsaudit/keepalived.conf')).rejects.toThrow(
      /^\/nonexistent\/lvsaudit\/keepalived.conf: cannot read config \(ENOENT\)$/,
    );
  });
  it('merges sets and refuses a service defined in two files', () => {
    const a = parseServiceConfig('-A -t 1.2.3.4:80\n', 'a.rules');
    const b = parseServiceConfig('virtual_server 1.2.3.4 443 {\n}\n', 'b.conf');
    expect(mergeServiceSets([a, b]).services.map((s) => s.vport)).toEqual([80, 443]);
    const c = parseServiceConfig('\nvirtual_server 1.2.3.4 80 {\n}\n', 'c.conf');
    expect(() => mergeServiceSets([a, c])).toThrow(/^c.conf:2: service also defined at a.rules:1$/);
  });
});
