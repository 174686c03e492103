/**
 * Child-process entry of the reference lab's director: runs the userspace reference director
 * (live mode, libpcap) inside the director namespace. It is a separate process because libpcap
 * opens interfaces in the network namespace of the calling process, and a Node process cannot
 * switch namespaces; the lab starts it with `ip netns exec <director-ns> node <this file> JSON`.
 *
 * Protocol: the last argument is a JSON `ChildDirectorSpec`; the child prints `ready` once both ports are
 * open, and on SIGTERM/SIGINT closes them, prints `stats {"in":…,"out":…}` and exits 0.
 */
import { startLiveDirector } from '../replay/director/live.js';
import { parseServiceConfig } from '../verify/service/index.js';
import type { DirectorConfig } from '../replay/director/types.js';

/** What the parent passes: the director config with the service as ipvsadm-save text. */
export interface ChildDirectorSpec {
  clientIface: string;
  rsIface: string;
  serviceText: string;
  config: Omit<DirectorConfig, 'services'>;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[process.argv.length - 1] ?? '{}') as ChildDirectorSpec;
  const live = await startLiveDirector({
    clientIface: spec.clientIface,
    rsIface: spec.rsIface,
    config: { ...spec.config, services: parseServiceConfig(spec.serviceText, 'service.conf') },
  });
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    const s = live.stats();
    live.close();
    process.stdout.write(`stats ${JSON.stringify(s)}\n`, () => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write('ready\n');
}

main().catch((e: unknown) => {
  process.stderr.write(`reference director: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(4);
});
