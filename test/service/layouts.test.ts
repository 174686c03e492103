// Configs laid out as directors have them: keepalived.conf + conf.d/*.conf with parameters and
// config-id conditions, a DPVS keepalived.conf, an ipvsadm -Sn of a kube-proxy IPVS node; and
// what keepalived's include, @ and $ rules mean at the edges (loops, no match, unknown words).
// Expected values are written out from the fixture text.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type ConfigError,
  type Service,
  type ServiceSet,
  loadServiceConfigWith,
  parseServiceConfig,
  serviceKey,
} from '../../src/verify/service/index.js';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'configs');
const confd = path.join(dir, 'keepalived-confd', 'keepalived.conf');

/** Service → `KEY sched method [rip:port/weight…]`, sources left out. */
function summary(s: Service): string {
  return `${serviceKey(s)} ${s.scheduler} ${s.method} [${s.realServers.map((r) => `${r.ip}:${r.port}/${r.weight}`).join(' ')}]`;
}

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    if (e instanceof Error && e.name === 'ConfigError') return e as ConfigError;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

const tmp = mkdtempSync(path.join(tmpdir(), 'lvsa-confd-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
/** Writes files (relative paths → contents) into a fresh directory; returns its path. */
function tree(files: Record<string, string>): string {
  const root = path.join(tmp, String(n++));
  for (const [rel, body] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), body);
  }
  return root;
}
const parseAt = (root: string, rel = 'keepalived.conf', opts = {}): ServiceSet =>
  parseServiceConfig(readFileSync(path.join(root, rel), 'utf8'), path.join(root, rel), opts);

describe('keepalived.conf + conf.d/*.conf', () => {
  it('reads the services from conf.d in glob order, nested includes relative to the including file', async () => {
    const set = await loadServiceConfigWith(confd, {});
    expect(set.format).toBe('keepalived');
    expect(set.services.map(summary)).toEqual([
      'tcp:192.168.10.100:80 wrr dr [10.0.10.11:80/3 10.0.10.13:80/2]',
      'udp:192.168.10.100:53 rr nat [10.0.10.21:53/1 10.0.10.22:53/1]',
    ]);
    // Each real server names the file it was written in.
    const web = set.services[0]!;
    expect(web.source.file).toBe(path.join(dir, 'keepalived-confd', 'conf.d', '10-web.conf'));
    expect(web.realServers[1]!.source).toEqual({ file: path.join(dir, 'keepalived-confd', 'conf.d', 'rs', 'web-extra.conf'), line: 1 });
    // The multi-line definition expands where it is used: both servers are on that line.
    expect(set.services[1]!.realServers.map((r) => r.source?.line)).toEqual([12, 14]);
    expect(set.notes.some((n) => /keepalived\.conf:22: include conf\.d\/\*\.conf read 2 files/.test(n))).toBe(true);
  });

  it('without a config id, @ID lines are dropped and @^ID lines kept, and a note says so', async () => {
    const set = await loadServiceConfigWith(confd, {});
    expect(set.notes.some((n) => /conditional lines \(@lb1\) read as on a director whose config id is none of them/.test(n))).toBe(true);
  });

  it('with config id lb1 the @lb1 real server is there', async () => {
    const set = await loadServiceConfigWith(confd, { configId: 'lb1' });
    expect(summary(set.services[0]!)).toBe('tcp:192.168.10.100:80 wrr dr [10.0.10.11:80/3 10.0.10.12:80/1 10.0.10.13:80/2]');
    expect(set.notes.some((n) => /conditional lines/.test(n))).toBe(false);
  });
});

describe('DPVS keepalived.conf', () => {
  const set = parseServiceConfig(readFileSync(path.join(dir, 'dpvs-keepalived.conf'), 'utf8'), 'dpvs-keepalived.conf');
  it('expands the group, keeps conhash, FNAT with four local addresses and synproxy', () => {
    expect(set.services.map(summary)).toEqual([
      'tcp:192.168.100.254:80 conhash fullnat [192.168.100.2:80/100 192.168.100.3:80/100]',
      'tcp:192.168.100.254:8080 conhash fullnat [192.168.100.2:80/100 192.168.100.3:80/100]',
      'udp:192.168.100.254:53 rr fullnat [192.168.100.4:53/1]',
    ]);
    expect(set.services[0]!.localAddresses).toEqual(['192.168.100.200', '192.168.100.201', '192.168.100.202', '192.168.100.203']);
    expect(set.services[0]!.synproxy).toBe(true);
  });
});

describe('kube-proxy IPVS node (ipvsadm -Sn)', () => {
  const text = readFileSync(path.join(dir, 'kube-proxy-ipvs.rules'), 'utf8');
  const set = parseServiceConfig(text, 'kube-proxy-ipvs.rules');
  it('has every service and destination the file adds', () => {
    const adds = text.split('\n').filter((l) => l.startsWith('-A ')).length;
    const dests = text.split('\n').filter((l) => l.startsWith('-a ')).length;
    expect(set.services.length).toBe(adds);
    expect(set.services.reduce((k, s) => k + s.realServers.length, 0)).toBe(dests);
  });
  it('reads ClusterIPs, NodePorts on every local address, affinity, an empty service and a terminating endpoint', () => {
    const by = new Map(set.services.map((s) => [serviceKey(s), s]));
    expect(summary(by.get('tcp:10.96.0.1:443')!)).toBe('tcp:10.96.0.1:443 rr nat [192.168.1.11:6443/1 192.168.1.12:6443/1 192.168.1.13:6443/1]');
    expect(by.get('udp:10.96.0.10:53')!.realServers.length).toBe(2);
    for (const ip of ['192.168.1.21', '10.244.1.0', '172.17.0.1']) {
      expect(summary(by.get(`tcp:${ip}:30080`)!)).toBe(`tcp:${ip}:30080 rr nat [10.244.1.10:8080/1 10.244.2.11:8080/1]`);
    }
    expect(set.services.filter((s) => s.persistenceTimeout === 10800).length).toBe(3);
    expect(by.get('tcp:10.96.200.9:80')!.realServers).toEqual([]);
    expect(set.services.flatMap((s) => s.realServers).filter((r) => r.weight === 0).length).toBe(1);
  });
});

describe('include edges', () => {
  it('a loop is an error naming the chain', () => {
    const root = tree({ 'keepalived.conf': 'include a.conf\n', 'a.conf': '\n! a\ninclude sub/b.conf\n', 'sub/b.conf': 'include ../a.conf\n' });
    const e = errorOf(() => parseAt(root));
    expect(e.file).toBe(path.join(root, 'sub', 'b.conf'));
    expect(e.line).toBe(1);
    expect(e.what).toBe(`include loop: ${path.join(root, 'a.conf')}:3 → ${path.join(root, 'sub', 'b.conf')}:1 → ${path.join(root, 'a.conf')}`);
  });

  it('a file whose pattern matches itself is a loop too', () => {
    const root = tree({ 'keepalived.conf': 'include *.conf\nvirtual_server 1.2.3.4 80 {\n}\n' });
    expect(errorOf(() => parseAt(root)).what).toMatch(/^include loop: /);
  });

  it('a pattern matching nothing is noted, not an error (keepalived: conf.d may be empty); includem makes it one', () => {
    const root = tree({ 'keepalived.conf': 'include none.d/*.conf\nvirtual_server 1.2.3.4 80 {\n  real_server 10.0.0.1 80 {\n  }\n}\n' });
    expect(parseAt(root).notes.some((n) => /:1: include none\.d\/\*\.conf matched no file/.test(n))).toBe(true);
    const strict = tree({ 'keepalived.conf': 'includem none.d/*.conf\n' });
    const e = errorOf(() => parseAt(strict));
    expect([e.line, e.what]).toEqual([1, 'includem none.d/*.conf matched no file']);
  });

  it('a named file that does not exist is an error', () => {
    const root = tree({ 'keepalived.conf': '\ninclude services.conf\n' });
    const e = errorOf(() => parseAt(root));
    expect(e.line).toBe(2);
    expect(e.what).toMatch(/^included file .*services\.conf does not exist/);
  });

  it('absolute include paths are read under the given root (a copied /etc tree)', () => {
    const root = tree({
      'etc/keepalived/keepalived.conf': 'include /etc/keepalived/conf.d/*.conf\n',
      'etc/keepalived/conf.d/web.conf': 'virtual_server 1.2.3.4 80 {\n  lb_kind DR\n  real_server 10.0.0.1 80 {\n  }\n}\n',
    });
    const set = parseAt(root, 'etc/keepalived/keepalived.conf', { root });
    expect(set.services.map(summary)).toEqual(['tcp:1.2.3.4:80 wlc dr [10.0.0.1:80/1]']);
  });

  it('brace alternatives are read in the order written, each alternative sorted', () => {
    const vs = (port: number): string => `virtual_server 1.2.3.4 ${port} {\n  real_server 10.0.0.1 ${port} {\n  }\n}\n`;
    const root = tree({ 'keepalived.conf': 'include {z,a}/*.conf\n', 'z/2.conf': vs(2), 'z/1.conf': vs(1), 'a/3.conf': vs(3) });
    expect(parseAt(root).services.map((s) => s.vport)).toEqual([1, 2, 3]);
  });

  it('an include behind a condition is refused (keepalived finds includes before conditions)', () => {
    const root = tree({ 'keepalived.conf': '@lb1 include x.conf\n' });
    expect(errorOf(() => parseAt(root, 'keepalived.conf', { configId: 'lb1' })).what).toMatch(/include behind a condition/);
  });

  it('errors inside an included file name that file and its line', () => {
    const files = {
      'keepalived.conf': 'include conf.d/*.conf\n',
      'conf.d/web.conf': 'virtual_server 1.2.3.4 80 {\n  lb_alog rr\n}\n',
      'conf.d/x.conf': '\nvirtual_server 1.2.3.5 80 {\n',
    };
    // Braces are matched over the whole text first, so x.conf's unclosed block is found first…
    const e = errorOf(() => parseAt(tree(files)));
    expect([e.file.endsWith(path.join('conf.d', 'x.conf')), e.line, e.what]).toEqual([true, 2, '"{" is never closed']);
    // …and without it, the misspelt keyword in web.conf.
    const root = tree({ ...files, 'conf.d/x.conf': '' });
    const e2 = errorOf(() => parseAt(root));
    expect(e2.file).toBe(path.join(root, 'conf.d', 'web.conf'));
    expect(e2.line).toBe(2);
    expect(e2.what).toBe('unknown virtual_server keyword "lb_alog"');
  });
});

describe('parameters, conditions and keywords', () => {
  const vs = (body: string): string => `virtual_server 1.2.3.4 80 {\n${body}\n  real_server 10.0.0.1 80 {\n  }\n}\n`;
  it.each([
    ['unknown scheduler', vs('  lb_algo foobar'), 2, /unknown scheduler "foobar"/],
    ['include without a name', 'global_defs {\n}\ninclude\n', 3, /include needs a file name/],
    ['unknown real_server keyword', 'virtual_server 1.2.3.4 80 {\n  real_server 10.0.0.1 80 {\n    wieght 3\n  }\n}\n', 3, /unknown real_server keyword "wieght"/],
    ['unknown top-level keyword', 'global_defs {\n}\nvirtual_sever 1.2.3.4 80 {\n}\n', 3, /unknown keepalived keyword "virtual_sever"/],
    ['extra words after a keyword', vs('  lb_algo rr wrr'), 2, /unexpected "wrr" after lb_algo rr/],
    ['DPVS match service', 'virtual_server match SNAT1 {\n}\n', 1, /virtual_server match/],
    ['parameter referring to itself', `$X=a $X\n${vs('  lb_algo $X')}`, 3, /does not end/],
    ['sequence block', '~SEQ(N, 1, 3) virtual_server 1.2.3.$N 80 {\n', 1, /~SEQ/],
    ['environment lookup', vs('  lb_algo ${_ENV SCHED}'), 2, /depends on the director at run time/],
    ['config id used without one', vs('  lb_algo ${_INSTANCE}'), 2, /config id/],
    ['multi-line value never ended', '$RS= \\\nreal_server 10.0.0.1 80 { \\', 1, /runs to the end of the file/],
  ])('%s', (_n, text, line, what) => {
    const e = errorOf(() => parseServiceConfig(text, 'k.conf'));
    expect(e.line).toBe(line);
    expect(e.what).toMatch(what);
  });

  it('substitutes at use time, recursively, ${} anywhere and $NAME before whitespace; undefined ones stay', () => {
    const text = [
      '$BASE=10.0.${SUB}',
      '$SUB=0',
      'virtual_server 1.2.3.4 80 {',
      '  lb_algo $SCHED_UNSET_OK',
      '}',
    ].join('\n');
    // An undefined parameter is left as written, so it reaches the scheduler check as "$SCHED_UNSET_OK".
    expect(errorOf(() => parseServiceConfig(text, 'k.conf')).what).toMatch(/unknown scheduler "\$SCHED_UNSET_OK"/);
    const ok = [
      '$BASE=10.0.${SUB}',
      '$SUB=0',
      '$S=wrr',
      'virtual_server 1.2.3.4 80 {',
      '  lb_algo $S',
      '  real_server ${BASE}.1 80 {',
      '  }',
      '$SUB=1',
      '  real_server ${BASE}.1 80 {',
      '  }',
      '}',
    ].join('\n');
    expect(parseServiceConfig(ok, 'k.conf').services.map(summary)).toEqual(['tcp:1.2.3.4:80 wrr nat [10.0.0.1:80/1 10.0.1.1:80/1]']);
  });

  it('a condition may come from a parameter ($IF=@id), ${_HASH} is not a comment', () => {
    const text = ['$IF_LB2=@lb2', 'virtual_server 1.2.3.4 80 {', '  $IF_LB2 lb_algo sh', '  real_server 10.0.0.1 80 {', '  }', '}'].join('\n');
    expect(parseServiceConfig(text, 'k.conf').services[0]!.scheduler).toBe('wlc');
    expect(parseServiceConfig(text, 'k.conf', { configId: 'lb2' }).services[0]!.scheduler).toBe('sh');
    const hash = 'virtual_server 1.2.3.4 80 {\n  lb_algo rr ${_HASH} not a comment\n}\n';
    expect(errorOf(() => parseServiceConfig(hash, 'k.conf')).line).toBe(2);
  });

  it('virtual_server_group: fwmark N inet6 fixes the family, an entry without port is port 0', () => {
    const text = [
      'virtual_server_group g {',
      '  fwmark 9 inet6',
      '  192.168.0.7',
      '}',
      'virtual_server group g {',
      '  persistence_timeout 60',
      '  lb_kind TUN',
      '  real_server 10.0.0.1 80 {',
      '  }',
      '}',
    ].join('\n');
    expect(parseServiceConfig(text, 'k.conf').services.map((s) => `${serviceKey(s)} v${s.family}`)).toEqual(['fwm:9:v6 v6', 'tcp:192.168.0.7:0 v4']);
    expect(errorOf(() => parseServiceConfig(text.replace('inet6', 'ipv7'), 'k.conf'))).toMatchObject({ line: 2 });
    const laddr = 'local_address_group l {\n  10.0.0.9 dpdk0 extra\n}\nvirtual_server 1.2.3.4 80 {\n}\n';
    expect(errorOf(() => parseServiceConfig(laddr, 'k.conf')).what).toMatch(/unexpected "extra" in local_address_group l/);
  });

  it('a virtual_server without a port is the port-0 persistent service', () => {
    const set = parseServiceConfig('virtual_server 1.2.3.4 {\n  persistence_timeout 60\n  real_server 10.0.0.1 {\n  }\n}\n', 'k.conf');
    expect(set.services[0]).toMatchObject({ vport: 0, persistenceTimeout: 60 });
  });
});

describe('property: splitting a keepalived.conf into included files changes nothing', () => {
  const fixtures = ['keepalived-dr.conf', 'keepalived-fnat.conf', 'dpvs-keepalived.conf'];
  /** Top-level statements as text: a new one starts at each line with no indentation. */
  function statements(text: string): string[] {
    const out: string[] = [];
    for (const line of text.split('\n')) {
      if (/^\S/.test(line) || out.length === 0) out.push(line);
      else out[out.length - 1] += `\n${line}`;
    }
    return out;
  }
  const plain = (set: ServiceSet): string[] => set.services.map((s) => `${summary(s)} ${JSON.stringify({ ...s, source: null, realServers: null })}`);

  for (const name of fixtures) {
    it(name, () => {
      const text = readFileSync(path.join(dir, name), 'utf8');
      const whole = plain(parseServiceConfig(text, name));
      const parts = statements(text);
      fc.assert(
        fc.property(fc.array(fc.boolean(), { minLength: parts.length, maxLength: parts.length }), (cuts) => {
          // Each statement goes to the current file; a cut starts the next one (names sort in order).
          const files: Record<string, string> = {};
          let k = 0;
          parts.forEach((p, i) => {
            if (i > 0 && cuts[i]) k++;
            const f = `conf.d/${String(k).padStart(3, '0')}.conf`;
            files[f] = (files[f] ?? '') + p + '\n';
          });
          files['keepalived.conf'] = '! split\ninclude conf.d/*.conf\n';
          expect(plain(parseAt(tree(files)))).toEqual(whole);
        }),
        { numRuns: 15 },
      );
    });
  }
});
