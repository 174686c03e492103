/**
 * DPVS is configured from the service model the verifier reads (src/lab/dpvs/config.ts): the
 * ipvsadm commands written for DPVS, read back as ipvsadm-save text by the verifier's own
 * parser, give the service they were written from (metamorphic, over generated services); what
 * DPVS cannot run is a usage error naming the service line. Also the CLI's usage errors of
 * `--director dpvs`. No root, no DPVS.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CLIENT_PORT, DPVS_LCORES, DPVS_SCHEDULERS, RS_PORT, UOA_MAX_TRAIL, UOA_MODES, dpvsCommands, dpvsConf, ealArgs, type DpvsCommand } from '../../src/lab/dpvs/config.js';
import { ADDR, PERSISTENT_CLIENTS, serviceConfig } from '../../src/lab/plan.js';
import { DEFAULT_PERSISTENCE_S, UDP_DATAGRAMS, caseServiceConfig, labCase } from '../../src/lab/sequence.js';
import { parseServiceConfig, type Service } from '../../src/verify/service/index.js';
import { casesFromOptions, runLab } from '../../src/cli/lab.js';
import { InputError } from '../../src/errors.js';
import { MATRIX_CASES, dpvsCaseId, judge, renderMatrix, type IpvsCell, type MatrixOutcome } from '../../src/lab/matrix.js';

/** The ipvsadm commands written for DPVS as a rules file (the verifier reads DPVS's ipvsadm dialect). */
function asRules(cmds: readonly DpvsCommand[]): string {
  return cmds.filter((c) => c.tool === 'ipvsadm').map((c) => c.args.join(' ')).join('\n') + '\n';
}

function essence(s: Service): unknown {
  return {
    vip: s.vip,
    vport: s.vport,
    protocol: s.protocol,
    scheduler: s.scheduler,
    persistence: s.persistenceTimeout,
    rs: s.realServers.map((r) => [r.ip, r.port, r.weight, r.method]),
    lips: s.localAddresses,
  };
}

const octet = fc.integer({ min: 1, max: 254 });

describe('DPVS commands from the service model', () => {
  it('the lab service: VIP on the client port, DIP on the real-server port, one route per LAN, FullNAT real servers, the LIP on dpdk1', () => {
    const cmds = dpvsCommands(serviceConfig('fullnat')).map((c) => `${c.tool} ${c.args.join(' ')}`);
    expect(cmds).toContain(`dpip addr add ${ADDR.natVip}/32 dev ${CLIENT_PORT}`);
    expect(cmds).toContain(`dpip addr add ${ADDR.dip}/32 dev ${RS_PORT}`);
    expect(cmds.filter((c) => c.startsWith('dpip route add'))).toHaveLength(2);
    expect(cmds.filter((c) => c.startsWith('ipvsadm -a ')).every((c) => c.includes(' -b '))).toBe(true);
    expect(cmds).toContain(`ipvsadm --add-laddr -z ${ADDR.lip} -t ${ADDR.natVip}:${ADDR.port} -F ${RS_PORT}`);
    // Addresses before services: DPVS needs the VIP's route before the service takes traffic.
    const firstIpvsadm = cmds.findIndex((c) => c.startsWith('ipvsadm'));
    expect(cmds.slice(firstIpvsadm).every((c) => c.startsWith('ipvsadm'))).toBe(true);
  });

  it('read back by the verifier\'s parser, the commands give the service they were written from', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...DPVS_SCHEDULERS),
        fc.array(fc.tuple(octet, fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 100 })), { minLength: 1, maxLength: 5 }),
        fc.uniqueArray(octet, { minLength: 1, maxLength: 4 }),
        fc.option(fc.integer({ min: 1, max: 3600 }), { nil: undefined }),
        (sched, rss, lips, persist) => {
          const unique = [...new Map(rss.map((r) => [r[0], r])).values()];
          const svc = `${ADDR.natVip}:${ADDR.port}`;
          const text = [
            `-A -t ${svc} -s ${sched}${persist !== undefined ? ` -p ${persist}` : ''}`,
            ...unique.map(([o, port, w]) => `-a -t ${svc} -r 10.0.0.${o}:${port} -b -w ${w}`),
            ...lips.map((o) => `-P -t ${svc} -z 10.0.1.${o}`),
          ].join('\n');
          const model = parseServiceConfig(text, 'gen.conf').services.map(essence);
          const back = parseServiceConfig(asRules(dpvsCommands(text, 'gen.conf')), 'back.conf').services.map(essence);
          expect(back).toEqual(model);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('what DPVS cannot run is a usage error naming the line', () => {
    const svc = `${ADDR.natVip}:${ADDR.port}`;
    expect(() => dpvsCommands(`-A -t ${svc} -s sh\n-a -t ${svc} -r 10.0.0.11:80 -b\n-P -t ${svc} -z 10.0.1.1\n`, 'x.conf')).toThrow(/x\.conf:1: .*scheduler sh/);
    expect(() => dpvsCommands(`-A -t ${svc} -s rr\n-a -t ${svc} -r 10.0.0.11:80 -m\n`, 'x.conf')).toThrow(InputError);
    expect(() => dpvsCommands(`-A -t ${svc} -s rr\n-a -t ${svc} -r 10.0.0.11:80 -b\n`, 'x.conf')).toThrow(/local address/);
  });

  it('EAL pins both lcores to CPU 0 and names the two veths in port order, sending through the taps; dpvs.conf has one port section per veth', () => {
    const eal = ealArgs('eth0', 'eth1', 'p');
    expect(eal.slice(eal.indexOf('--lcores'), eal.indexOf('--lcores') + 2)).toEqual(['--lcores', DPVS_LCORES]);
    expect(DPVS_LCORES.split(',').every((l) => l.endsWith('@0'))).toBe(true);
    expect(eal.filter((a) => a.startsWith('net_af_packet'))).toEqual(['net_af_packet0,iface=eth0,qdisc_bypass=0', 'net_af_packet1,iface=eth1,qdisc_bypass=0']);
    const conf = dpvsConf();
    expect(conf.match(/<init> device dpdk\d/g)).toEqual([`<init> device ${CLIENT_PORT}`, `<init> device ${RS_PORT}`]);
    expect(conf).toMatch(/<init> kni\s+off/);
    expect(conf).toMatch(/flow_enable\s+off/);
  });
});

describe('lab run --director dpvs usage errors', () => {
  it('runs fullnat only, one scheduler DPVS has, IPv4 or IPv6, no offloads; --dpvs-* only with dpvs', async () => {
    expect(() => casesFromOptions('dpvs', { director: 'dpvs', mode: ['nat'] })).toThrow(/--director dpvs runs fullnat/);
    expect(() => casesFromOptions('dpvs', { director: 'dpvs', mode: ['fullnat'], scheduler: ['sh'] })).toThrow(InputError);
    expect(() => casesFromOptions('dpvs', { director: 'dpvs', mode: ['fullnat'], scheduler: ['rr', 'wrr'] })).toThrow(/one --scheduler/);
    expect(casesFromOptions('dpvs', { director: 'dpvs', mode: ['fullnat'], family: '6' })[0]!.family).toBe(6);
    expect(() => casesFromOptions('dpvs', { director: 'dpvs', mode: ['fullnat'], profile: 'linux' })).toThrow(/does not fit/);
    const [c] = casesFromOptions('dpvs', { director: 'dpvs', mode: ['fullnat'], scheduler: ['wrr'] });
    expect([c!.profile, c!.scheduler, c!.weights]).toEqual(['dpvs', 'wrr', [3, 1]]);
    await expect(runLab({ director: 'reference', mode: ['fullnat'], dpvsBin: '/x' }, () => undefined)).rejects.toThrow(/--dpvs-bin applies to --director dpvs/);
    await expect(runLab({ director: 'dpvs', mode: ['fullnat'], offloads: 'on' }, () => undefined)).rejects.toThrow(/--offloads on/);
  });
});

describe('the UDP case of the DPVS lab (--udp, --uoa-mode)', () => {
  it('is a UDP FullNAT service VIP:53 -> RS:5353, not persistent, more datagrams per connection than DPVS marks with UOA', () => {
    const [c] = casesFromOptions('dpvs', { director: 'dpvs', mode: ['fullnat'], udp: true });
    expect([c!.id, c!.persistence, c!.udp]).toEqual(['fullnat-udp-rr', undefined, { datagrams: UDP_DATAGRAMS }]);
    expect(UDP_DATAGRAMS).toBeGreaterThan(UOA_MAX_TRAIL);
    const svc = parseServiceConfig(caseServiceConfig(c!), 's').services;
    expect(svc.map((x) => [x.protocol, x.vport, x.realServers.map((r) => r.port), x.localAddresses])).toEqual([['udp', ADDR.udpPort, [ADDR.udpRport, ADDR.udpRport], [ADDR.lip]]]);
    expect(dpvsCommands(caseServiceConfig(c!)).filter((x) => x.tool === 'ipvsadm').every((x) => x.args.includes('-u') && !x.args.includes('-t'))).toBe(true);
  });
  it('dpvs.conf carries the uoa_mode asked for and uoa_max_trail', () => {
    for (const mode of UOA_MODES) {
      const conf = dpvsConf({ uoaMode: mode });
      expect(conf).toMatch(new RegExp(`\\n\\s+uoa_mode\\s+${mode}\\n`));
      expect(conf).toMatch(new RegExp(`\\n\\s+uoa_max_trail\\s+${UOA_MAX_TRAIL}\\n`));
    }
    expect(dpvsConf()).toBe(dpvsConf({ uoaMode: 'ipo' }));
  });
  it('refuses --udp and --uoa-mode where they do not apply', async () => {
    await expect(runLab({ director: 'reference', mode: ['fullnat'], udp: true }, () => undefined)).rejects.toThrow(/--udp applies to --director dpvs/);
    await expect(runLab({ director: 'dpvs', mode: ['fullnat'], uoaMode: 'opp' }, () => undefined)).rejects.toThrow(/--uoa-mode applies with --udp/);
    await expect(runLab({ director: 'dpvs', mode: ['fullnat'], udp: true, uoaMode: 'x' }, () => undefined)).rejects.toThrow(/--uoa-mode 'x': expected ipo or opp/);
    expect(() => casesFromOptions('dpvs', { director: 'dpvs', mode: ['fullnat'], udp: true, persistence: 60 })).toThrow(/--udp and --persistence/);
  });
});

describe('the persistent FullNAT service of the lab', () => {
  it('is the default of every FullNAT case (reference and dpvs alike): -p 300, three client addresses, two connections from each', () => {
    for (const kind of ['reference', 'dpvs'] as const) {
      const [c] = casesFromOptions(kind, { director: kind, mode: ['fullnat'] });
      expect(c!.persistence).toEqual({ timeout: DEFAULT_PERSISTENCE_S, clients: PERSISTENT_CLIENTS });
      expect(c!.connections).toBe(2 * PERSISTENT_CLIENTS.length);
      // Odd against two real servers, so round robin alone cannot look persistent.
      expect(PERSISTENT_CLIENTS.length % 2).toBe(1);
      const svc = parseServiceConfig(caseServiceConfig(c!), 's').services;
      expect(svc.map((x) => [x.persistenceTimeout, x.scheduler, x.localAddresses])).toEqual([[DEFAULT_PERSISTENCE_S, 'rr', [ADDR.lip]]]);
    }
  });
  it('--persistence N sets the timeout DPVS is given; 0 leaves the service plain with one client address', () => {
    const [c] = casesFromOptions('dpvs', { director: 'dpvs', mode: ['fullnat'], persistence: 42 });
    const add = dpvsCommands(caseServiceConfig(c!)).find((x) => x.args[0] === '-A')!;
    expect(add.args.slice(add.args.indexOf('-p'), add.args.indexOf('-p') + 2)).toEqual(['-p', '42']);
    const [plain] = casesFromOptions('dpvs', { director: 'dpvs', mode: ['fullnat'], persistence: 0 });
    expect(plain!.persistence).toBeUndefined();
    expect(plain!.connections).toBe(4);
    expect(dpvsCommands(caseServiceConfig(plain!)).some((x) => x.args.includes('-p'))).toBe(false);
    expect(parseServiceConfig(caseServiceConfig(plain!), 's').services[0]!.persistenceTimeout).toBeNull();
  });
  it('--persistence is refused where the lab has no persistent service', () => {
    expect(() => casesFromOptions('reference', { director: 'reference', mode: ['nat'], persistence: 300 })).toThrow(/--persistence applies to --mode fullnat/);
    expect(() => labCase('nat', { profile: 'linux', persistence: 300 })).toThrow(InputError);
    expect(labCase('nat', { profile: 'linux' }).persistence).toBeUndefined();
  });
});

describe('lab matrix dpvs column (pure)', () => {
  const outcome = (id: string, exitCode: number, errors: string[], warnings: string[] = []): MatrixOutcome => {
    const c = MATRIX_CASES.find((x) => x.id === id)!;
    return { case: c, exitCode, errors, warnings, ...judge(c, exitCode, errors, warnings), answered: '4/4', error: null, durationMs: 1000 };
  };
  it('names the DPVS lab case of each FullNAT case DPVS can produce, and only those', () => {
    const ids = MATRIX_CASES.map((c) => [c.id, dpvsCaseId(c)]).filter(([, d]) => d !== null);
    expect(ids).toEqual([
      ['fullnat-dpvs/none', 'fullnat-rr'],
      ['fullnat-dpvs/rs2:gateway-bypass', 'fullnat-rr-rs2-gateway-bypass'],
      ['fullnat-dpvs-ipv6/none', 'fullnat-ipv6-rr'],
      ['fullnat-dpvs-nat64/none', 'fullnat-nat64-rr'],
    ]);
  });
  it('shows DPVS beside the reference director and calls a different verdict out', () => {
    const outcomes = [outcome('fullnat-dpvs/none', 0, []), outcome('fullnat-dpvs/rs2:gateway-bypass', 0, [], ['flow.lost-in-transit'])];
    const same = new Map<string, IpvsCell>([
      ['fullnat-rr', { verdict: 'pass', rules: [], error: null }],
      ['fullnat-rr-rs2-gateway-bypass', { verdict: 'pass', rules: [], error: null }],
    ]);
    const text = renderMatrix(outcomes, null, same);
    const head = text.split('\n').find((l) => l.includes('method'))!;
    expect(head.indexOf('dpvs')).toBeGreaterThan(head.indexOf('ipvs'));
    expect(text).toContain('fullnat-rr: exit 0');
    expect(text).not.toContain('dpvs differs');
    const differs = new Map(same);
    differs.set('fullnat-rr', { verdict: 'fail', rules: ['fnat.toa-placement'], error: null });
    expect(renderMatrix(outcomes, null, differs)).toContain('dpvs differs: exit 1 fnat.toa-placement');
    expect(renderMatrix(outcomes, null, null)).toContain('lab matrix --dpvs');
  });
});
