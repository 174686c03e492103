/**
 * Live mode of the reference director: forwards between a client-side and an RS-side interface
 * through libpcap (`cap`), feeding each frame to the pure core and sending what it returns.
 * The core answers ARP for the VIP (client side) and for the DIP/LIPs (RS side) itself.
 * Frames the director sent itself (its own source MACs) are ignored when captured back.
 */
import { CapPort } from '../../decode/capture/cap-port.js';
import { ReferenceDirector } from './director.js';
import type { DirectorConfig, DirectorEvent } from './types.js';

export interface LiveDirectorOptions {
  clientIface: string;
  rsIface: string;
  config: DirectorConfig;
  /** Called for every decision (for logs); optional. */
  onEvent?: (e: DirectorEvent) => void;
}

export interface LiveDirector {
  readonly director: ReferenceDirector;
  /** Frames in / out so far. */
  stats(): { in: number; out: number };
  close(): void;
}

export async function startLiveDirector(o: LiveDirectorOptions): Promise<LiveDirector> {
  const director = new ReferenceDirector(o.config);
  const own = new Set([o.config.macs.director.toLowerCase(), (o.config.macs.directorRs ?? o.config.macs.director).toLowerCase()]);
  const t0 = performance.now();
  let nIn = 0;
  let nOut = 0;
  let client: CapPort | null = null;
  let rs: CapPort | null = null;
  const feed = (side: 'client' | 'rs') => (frame: Buffer) => {
    if (frame.length < 14 || own.has(macText(frame, 6))) return;
    // Only frames for us (our MACs) or broadcast ARP; the core ignores the rest anyway.
    const dst = macText(frame, 0);
    if (!own.has(dst) && dst !== 'ff:ff:ff:ff:ff:ff') return;
    nIn++;
    const outs = director.handle(frame, performance.now() - t0, side);
    for (const e of director.drainEvents()) o.onEvent?.(e);
    for (const out of outs) {
      nOut++;
      (out.side === 'client' ? client : rs)?.send(out.frame);
    }
  };
  client = await CapPort.open(o.clientIface, 'reference director', feed('client'));
  // One-armed (DR/TUN): one interface; RS replies do not come back through the director.
  if (o.rsIface === o.clientIface) rs = client;
  else try {
    rs = await CapPort.open(o.rsIface, 'reference director', feed('rs'));
  } catch (e) {
    client.close();
    throw e;
  }
  return {
    director,
    stats: () => ({ in: nIn, out: nOut }),
    close: () => {
      client?.close();
      if (rs !== client) rs?.close();
    },
  };
}

function macText(b: Buffer, off: number): string {
  return [...b.subarray(off, off + 6)].map((x) => x.toString(16).padStart(2, '0')).join(':');
}
