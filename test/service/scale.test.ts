// Config parsing is linear in the number of real servers: parsing 10× as many must take about
// 10× as long (a bound of 30× leaves room for noise and garbage collection, while a quadratic
// step, 100×, cannot pass). Each format is timed on one service of 20 k and of 200 k real
// servers (one service, so a per-service scan shows too), in CPU time, which other processes
// on the machine disturb far less than wall time.
import { describe, expect, it } from 'vitest';
import { parseServiceConfig } from '../../src/verify/service/index.js';

/** The real server addresses: 10.a.b.c, distinct for any n up to 2^24. */
const rip = (i: number): string => `10.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
const hex = (n: number, w: number): string => n.toString(16).toUpperCase().padStart(w, '0');

const formats: [string, (n: number) => string][] = [
  [
    'ipvsadm -Sn',
    (n) => {
      const out = ['-A -t 192.168.0.1:80 -s wrr'];
      for (let i = 0; i < n; i++) out.push(`-a -t 192.168.0.1:80 -r ${rip(i)}:8080 -m -w ${1 + (i % 7)}`);
      return out.join('\n');
    },
  ],
  [
    'keepalived.conf',
    (n) => {
      const out = ['virtual_server 192.168.0.1 80 {', '  lb_algo wrr', '  lb_kind NAT'];
      for (let i = 0; i < n; i++) {
        out.push(`  real_server ${rip(i)} 8080 {\n    weight ${1 + (i % 7)}\n    TCP_CHECK {\n      connect_timeout 3\n    }\n  }`);
      }
      out.push('}');
      return out.join('\n');
    },
  ],
  [
    '/proc/net/ip_vs',
    (n) => {
      const out = ['IP Virtual Server version 1.2.1 (size=4096)', 'Prot LocalAddress:Port Scheduler Flags', 'TCP  C0A80001:0050 wrr '];
      for (let i = 0; i < n; i++) out.push(`  -> 0A${hex(i, 6)}:1F90      Masq    ${1 + (i % 7)}      0          0         `);
      return out.join('\n');
    },
  ],
];

/** Least CPU time of `runs` parses, in ms; checks every parse read all n real servers. */
function time(text: string, n: number, runs: number): number {
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const c0 = process.cpuUsage();
    const set = parseServiceConfig(text, 'big');
    const c = process.cpuUsage(c0);
    best = Math.min(best, (c.user + c.system) / 1000);
    expect(set.services[0]!.realServers.length).toBe(n);
  }
  return best;
}

describe('config parsing is linear in real servers', () => {
  for (const [name, gen] of formats) {
    it(`${name}: 200 k real servers take less than 30× the time of 20 k`, () => {
      const small = gen(20_000);
      time(small, 20_000, 1); // warm-up: compile the parser's hot paths before timing
      const t20 = time(small, 20_000, 3);
      const t200 = time(gen(200_000), 200_000, 1);
      expect(t200 / t20, `20 k: ${t20.toFixed(0)} ms, 200 k: ${t200.toFixed(0)} ms`).toBeLessThan(30);
    });
  }
});
