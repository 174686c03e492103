/**
 * A real VRRP failover seen by `arp --watch --iface`: two directors running Debian's keepalived
 * on one segment (VIP 10.0.0.100), the watcher listening on a third host. The master is stopped;
 * the backup takes the VIP and announces it by gratuitous ARP; the old master stays silent. That
 * is one changed-mac ("announced by gratuitous ARP") and GARP bursts — never a conflict, and the
 * run's exit code is 0.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { labUnavailableReason, type LabProcess } from '../../src/lab/netns.js';
import { Lab } from '../../src/lab/topology.js';
import { capLoads, hasCommand, need, repoRoot } from '../helpers/env.js';

const labReason = labUnavailableReason();
const canRun =
  need(labReason === null, labReason ?? '') &&
  need(hasCommand('keepalived'), 'keepalived not installed (apt-get install keepalived)') &&
  need(capLoads(), "optional module 'cap' does not load (arp --watch --iface needs it)");

const cli = path.join(repoRoot, 'bin', 'lvsaudit.js');
const work = mkdtempSync(path.join(tmpdir(), 'lvsa-vrrp-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const VIP = '10.0.0.100';
const DIR1_MAC = '02:1e:5a:00:0a:01';
const DIR2_MAC = '02:1e:5a:00:0a:02';

function keepalivedConf(name: string, state: 'MASTER' | 'BACKUP', priority: number): string {
  return `global_defs {
  router_id ${name}
  script_user root
  enable_script_security
}
vrrp_instance VI_1 {
  state ${state}
  interface eth0
  virtual_router_id 51
  priority ${priority}
  advert_int 1
  virtual_ipaddress {
    ${VIP}/24 dev eth0
  }
}
`;
}

interface Ev {
  kind: string;
  mac: string;
  previousMac?: string;
  message: string;
}

describe.skipIf(!canRun)('arp --watch --iface and a keepalived VRRP failover (netns)', () => {
  it('master stopped, backup takes the VIP with gratuitous ARP: changed-mac only, never a conflict', async () => {
    const lab = new Lab();
    try {
      const lan = lab.addBridge('lan');
      const dir1 = lab.addNamespace('dir1');
      const dir2 = lab.addNamespace('dir2');
      const client = lab.addNamespace('client');
      lab.link(dir1, lan, { a: { ifname: 'eth0', addr: '10.0.0.2/24', mac: DIR1_MAC } });
      lab.link(dir2, lan, { a: { ifname: 'eth0', addr: '10.0.0.3/24', mac: DIR2_MAC } });
      lab.link(client, lan, { a: { ifname: 'eth0', addr: '10.0.0.254/24', mac: '02:1e:5a:00:0a:fe' } });
      await lab.waitReady();
      const ka = (ns: typeof dir1, name: string, state: 'MASTER' | 'BACKUP', prio: number): LabProcess => {
        const conf = path.join(work, `${name}.conf`);
        writeFileSync(conf, keepalivedConf(name, state, prio));
        const pid = (s: string): string => path.join(work, `${name}-${s}.pid`);
        return lab.spawn(ns, ['keepalived', '--dont-fork', '--log-console', '--vrrp', '-f', conf, '-p', pid('main'), '-r', pid('vrrp'), '-c', pid('chk')]);
      };
      /** The client resolves the VIP afresh (cache flushed, one UDP datagram to it). */
      const resolve = (): void => {
        lab.exec(client, ['ip', 'neigh', 'flush', 'all']);
        lab.exec(client, [process.execPath, '-e', `const s=require('node:dgram').createSocket('udp4');s.send('x',9,'${VIP}',()=>setTimeout(()=>process.exit(0),300))`]);
      };
      const w = lab.spawn(client, [process.execPath, cli, 'arp', '--watch', '--iface', 'eth0', '--vip', VIP, '--director-mac', DIR1_MAC, '--director-mac', DIR2_MAC, '--format', 'json']);
      const events = (): Ev[] =>
        w
          .stdout()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Ev);
      await w.waitForOutput(/listening on eth0/, 15_000);
      const master = ka(dir1, 'dir1', 'MASTER', 150);
      await w.waitForOutput(/"kind":"garp-burst"/, 15_000); // dir1 became master and announced the VIP
      const backup = ka(dir2, 'dir2', 'BACKUP', 100);
      await new Promise((r) => setTimeout(r, 2000)); // the backup hears the master's adverts
      resolve();
      await new Promise((r) => setTimeout(r, 500));
      expect(events().filter((e) => e.kind === 'changed-mac')).toEqual([]);

      await master.stop('SIGTERM', 5000);
      await w.waitForOutput(/"kind":"changed-mac"/, 15_000);
      resolve();
      await new Promise((r) => setTimeout(r, 2500));
      expect(await w.stop('SIGTERM')).toBe(0);
      await backup.stop('SIGTERM', 5000);

      const ev = events();
      const changed = ev.filter((e) => e.kind === 'changed-mac');
      expect(changed).toHaveLength(1);
      expect(changed[0]!.previousMac).toBe(DIR1_MAC);
      expect(changed[0]!.mac).toBe(DIR2_MAC);
      expect(changed[0]!.message).toContain('announced by gratuitous ARP');
      expect(ev.map((e) => e.kind)).not.toContain('vip-conflict');
      expect(ev.map((e) => e.kind)).not.toContain('flip-flop');
      expect(ev.map((e) => e.kind)).not.toContain('vip-claimed-by-non-director');
      expect(ev.filter((e) => e.kind === 'garp-burst').map((e) => e.mac)).toContain(DIR2_MAC);
    } finally {
      await lab.destroy();
    }
  }, 120_000);
});
