/**
 * Independent reading of lab captures: tshark (display filters, field extraction) and the
 * kernel's own view of the lab's leftovers (ip netns / ip link / process table).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Rows of the requested fields for packets matching `filter` (tshark -Y). */
export function tsharkFields(file: string, filter: string, fields: readonly string[]): string[][] {
  const args = ['-n', '-r', file, '-Y', filter, '-T', 'fields', '-E', 'separator=|'];
  for (const f of fields) args.push('-e', f);
  const out = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('|'));
}

/** Number of packets in `file` matching `filter` (all packets with filter ''). */
export function tsharkCount(file: string, filter = ''): number {
  const args = ['-n', '-r', file, '-T', 'fields', '-e', 'frame.number'];
  if (filter) args.push('-Y', filter);
  const out = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return out.split('\n').filter((l) => l.length > 0).length;
}

/** Number of packets in `file` as tcpdump reads it (a second, independent reader). */
export function tcpdumpCount(file: string): number {
  const out = execFileSync('tcpdump', ['-n', '-r', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return out.split('\n').filter((l) => l.length > 0).length;
}

/** Link-layer type name as capinfos reports it (e.g. "Ethernet", "Linux cooked-mode capture v2"). */
export function linkType(file: string): string {
  const out = execFileSync('capinfos', ['-E', '-T', '-m', file], { encoding: 'utf8' });
  // -T -m: header line then one CSV line "file,encapsulation"
  const line = out.trim().split('\n').pop() ?? '';
  return line.split(',').slice(1).join(',');
}

export function netnsNames(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.length > 0);
}

export function hostLinkNames(): string[] {
  return execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
    .filter((n) => n.length > 0);
}

/** PIDs of processes living in namespace `ns` (as the kernel reports them). */
export function pidsIn(ns: string): number[] {
  return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' })
    .split('\n')
    .map((l) => Number.parseInt(l, 10))
    .filter((n) => n > 0);
}

/**
 * True while `pid` is a running (non-zombie) process. A zombie has already ended; it only waits
 * for its parent (or init, for orphans) to collect its status.
 */
export function alive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // Format: "pid (comm) S ..."; comm may contain spaces and parentheses, so split at the last ')'.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/** Wait until `cond` holds (polling), up to `ms`. */
export async function eventually(cond: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}
