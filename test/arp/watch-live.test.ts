/**
 * `arp --watch --iface` on a real segment: the DR lab of src/lab (director = nftables netdev
 * forwarder holding the VIP, real servers with the VIP on lo), the watcher running in the
 * router's namespace on its LAN leg (the VIP's clients resolve it there). rs1's arp_ignore and
 * arp_announce are switched to 0 while it runs: the conflict event names rs1 (MAC and RIP)
 * within a second of the first bad reply; switching back and flushing the router's neighbour
 * cache ends it. The watcher only listens: it sends nothing.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { labUnavailableReason } from '../../src/lab/netns.js';
import { ADDR, MAC, serviceConfig } from '../../src/lab/plan.js';
import { nftablesCase, nftablesDriver } from '../../src/lab/scenarios.js';
import { LabSession } from '../../src/lab/sequence.js';
import { capLoads, hasCommand, need, repoRoot } from '../helpers/env.js';

const labReason = labUnavailableReason();
const canRun =
  need(labReason === null, labReason ?? '') &&
  need(hasCommand('nft'), 'nftables (nft) not installed') &&
  need(hasCommand('sysctl'), 'sysctl (procps) not installed') &&
  need(capLoads(), "optional module 'cap' does not load (arp --watch --iface needs it)");

const cli = path.join(repoRoot, 'bin', 'lvsaudit.js');
const work = mkdtempSync(path.join(tmpdir(), 'lvsa-watch-live-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Ev {
  kind: string;
  time: string;
  ip: string;
  mac: string;
  message: string;
  claimants?: Array<{ mac: string; role: string; ips: string[] }>;
}

describe.skipIf(!canRun)('arp --watch --iface with real kernels (netns)', () => {
  it('rs1 arp_ignore/arp_announce=0: vip-conflict naming rs1 within a second; switched back and flushed: conflict over', async () => {
    const session = await LabSession.open(nftablesDriver, 'dr');
    const { lab, topo } = session;
    const director = await nftablesDriver.configure(topo, nftablesCase('dr'));
    const router = topo.router!;
    const rs1 = topo.rs.find((r) => r.name === 'rs1')!;
    const conf = path.join(work, 'service.conf');
    writeFileSync(conf, serviceConfig('dr'));
    const state = path.join(work, 'state.json');
    const arp = (ignore: number, announce: number): void => {
      for (const scope of ['all', 'eth0']) {
        lab.sysctl(rs1.ns, `net.ipv4.conf.${scope}.arp_ignore`, ignore);
        lab.sysctl(rs1.ns, `net.ipv4.conf.${scope}.arp_announce`, announce);
      }
    };
    /** The router resolves `ip` afresh: its cache flushed, one UDP datagram sent to it (the
     *  kernel's own who-has; the lab has no ping). */
    const resolve = (ip: string): void => {
      lab.exec(router, ['ip', 'neigh', 'flush', 'all']);
      const send = `const s=require('node:dgram').createSocket('udp4');s.send('x',9,${JSON.stringify(ip)},()=>setTimeout(()=>process.exit(0),300))`;
      lab.exec(router, [process.execPath, '-e', send]);
    };
    const w = lab.spawn(router, [process.execPath, cli, 'arp', '--watch', '--iface', 'eth1', '--config', conf, '--format', 'json', '--state', state]);
    const events = (): Ev[] =>
      w
        .stdout()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Ev);
    const arrived = new Map<Ev, number>();
    const watchArrivals = setInterval(() => {
      for (const e of events()) if (![...arrived.keys()].some((k) => k.time === e.time && k.kind === e.kind && k.mac === e.mac)) arrived.set(e, Date.now());
    }, 10);
    try {
      await w.waitForOutput(/listening on eth1/, 15_000);
      // Healthy: the router learns rs1 from its RIP and the VIP from the director alone.
      resolve(ADDR.rip1);
      resolve(ADDR.drVip);
      await w.waitForOutput(new RegExp(`"new-station".*"ip":"${ADDR.drVip.replace(/\./g, '\\.')}"`), 5000);
      expect(events().filter((e) => e.kind === 'vip-conflict')).toEqual([]);

      arp(0, 0);
      resolve(ADDR.drVip);
      await w.waitForOutput(/"kind":"vip-conflict"/, 5000);
      await new Promise((r) => setTimeout(r, 50));
      const conflict = [...arrived.keys()].find((e) => e.kind === 'vip-conflict')!;
      expect(conflict.message).toContain(`${MAC.rs1} (real server ${ADDR.rip1})`);
      expect(conflict.claimants!.map((c) => c.mac).sort()).toEqual([MAC.directorWan, MAC.rs1].sort());
      // the event's time is when the second answer was captured; it was printed within a second
      expect(arrived.get(conflict)! - Date.parse(conflict.time)).toBeLessThan(1000);

      arp(1, 2);
      resolve(ADDR.drVip);
      await w.waitForOutput(/"kind":"vip-conflict-end"/, 5000);
      const end = events().find((e) => e.kind === 'vip-conflict-end')!;
      expect(end.mac).toBe(MAC.directorWan);
      expect(end.message).toMatch(new RegExp(`answered by ${MAC.directorWan}( \\([0-9.]+\\))? alone`));

      expect(await w.stop('SIGTERM')).toBe(1);
      const saved = JSON.parse(readFileSync(state, 'utf8')) as { stations: Array<{ ip: string; mac: string; role: string }> };
      expect(saved.stations.find((s) => s.ip === ADDR.rip1)).toMatchObject({ mac: MAC.rs1, role: 'real-server' });
    } finally {
      clearInterval(watchArrivals);
      await w.stop('SIGTERM');
      await director.remove();
      await session.close();
    }
  }, 120_000);
});
