/**
 * Runs the live probe inside a network namespace for the lab test:
 *   ip netns exec NS npx vite-node test/arp/probe-runner.ts -- IFACE VIP COUNT [DIRECTOR_MAC]
 * Prints the ArpProbeResult as JSON; exit 4 when the environment cannot probe.
 */
import { CliError } from '../../src/errors.js';
import { probeArp } from '../../src/live/arp-probe.js';

const args = process.argv.slice(2).filter((a) => a !== '--');
const [iface, vip, count, directorMac] = args;
try {
  const r = await probeArp({
    iface: iface!,
    vip: vip!,
    count: Number(count ?? 3),
    intervalMs: 300,
    waitMs: 700,
    directorMacs: directorMac ? [directorMac] : [],
  });
  process.stdout.write(`${JSON.stringify(r)}\n`);
} catch (e) {
  process.stderr.write(`probe: ${(e as Error).message}\n`);
  process.exitCode = e instanceof CliError ? e.exitCode : 3;
}
