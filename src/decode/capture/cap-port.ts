/**
 * A send/receive port on one interface through libpcap (the optional `cap` binding), for the
 * replayer, the reference director's live mode and `arp --live`. The module is optional, so its
 * absence is an EnvironmentError (exit 4), not a crash.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { EnvironmentError } from '../../errors.js';

/** The part of the `cap` binding we use (node-cap 0.2). */
interface CapHandle {
  open(device: string, filter: string, bufSize: number, buffer: Buffer): string;
  send(buffer: Buffer, nBytes?: number): void;
  close(): void;
  setMinBytes?(n: number): void;
  on(event: 'packet', cb: (nbytes: number, truncated: boolean) => void): void;
}
interface CapModule {
  Cap: new () => CapHandle;
}

/**
 * The `cap` binding, or EnvironmentError naming `what` needed it. Loaded with require: it is a
 * CommonJS native addon, and the bundled CLI runs in a vm.Script (bin/lvsaudit.js), where
 * `import()` has no loader.
 */
export async function loadCap(what: string): Promise<CapModule> {
  const name = 'cap'; // a variable: optional module without type declarations
  try {
    const mod = createRequire(import.meta.url)(name) as Partial<CapModule>;
    if (!mod.Cap) throw new Error('no Cap export');
    return mod as CapModule;
  } catch (e) {
    throw new EnvironmentError(`${what} needs the optional libpcap binding 'cap' (npm install cap; needs libpcap-dev): ${(e as Error).message.split('\n')[0]}`);
  }
}

/** MAC of an interface from sysfs; EnvironmentError when it does not exist. */
export function interfaceMac(iface: string): string {
  if (!/^[\w.:@-]{1,15}$/.test(iface) || !existsSync(`/sys/class/net/${iface}`)) throw new EnvironmentError(`interface ${iface}: no such network interface here`);
  return readFileSync(`/sys/class/net/${iface}/address`, 'utf8').trim();
}

/**
 * Closed handles and their buffers are kept referenced for the life of the process: node-cap's
 * native poll can still fire for a handle after close(), and if the JS object (or the buffer it
 * writes into) was collected by then the process crashes (seen as SIGSEGV on open/close/reopen
 * cycles). A handful of retired handles per run is a small price.
 */
const retired: { cap: CapHandle; buf: Buffer }[] = [];

export class CapPort {
  private readonly buf = Buffer.alloc(65535);
  private closed = false;
  private constructor(
    readonly iface: string,
    private readonly cap: CapHandle,
  ) {}

  /** Opens `iface` (promiscuous, immediate delivery); `onFrame` gets a copy of every frame seen. */
  static async open(iface: string, what: string, onFrame: (frame: Buffer) => void, filter = ''): Promise<CapPort> {
    interfaceMac(iface);
    const mod = await loadCap(what);
    const cap = new mod.Cap();
    const port = new CapPort(iface, cap);
    let link: string;
    try {
      link = cap.open(iface, filter, 4 * 1024 * 1024, port.buf);
      cap.setMinBytes?.(0);
    } catch (e) {
      throw new EnvironmentError(`${what}: cannot capture on ${iface} (${(e as Error).message}); needs root or CAP_NET_RAW`);
    }
    if (link !== 'ETHERNET') {
      cap.close();
      throw new EnvironmentError(`${what}: ${iface} is not an Ethernet interface (${link})`);
    }
    cap.on('packet', (nbytes) => {
      if (!port.closed) onFrame(Buffer.from(port.buf.subarray(0, nbytes)));
    });
    return port;
  }

  send(frame: Buffer): void {
    if (this.closed) return;
    // Ethernet minimum: pad short frames (ARP) to 60 bytes like a NIC would.
    const f = frame.length < 60 ? Buffer.concat([frame, Buffer.alloc(60 - frame.length)]) : frame;
    this.cap.send(f, f.length);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cap.close();
    retired.push({ cap: this.cap, buf: this.buf });
  }
}
