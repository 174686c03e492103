/**
 * How many cores other processes are using right now, so the automatic thread count does not
 * split a file over cores that are busy: on a 2-core machine with one core taken, two threads
 * time-share the other and only add their start-up and second JIT warm-up: slower than one
 * thread.
 *
 * Linux only: the running count of /proc/loadavg (runnable threads system-wide, this instant)
 * minus this process's own runnable threads (/proc/self/task/N/stat). The smallest of a few
 * looks a moment apart, so a short-lived process seen once does not count. Elsewhere: null, and
 * null too where /proc/loadavg counts no running thread at all: the thread reading it is
 * running, so a kernel's own count is at least 1, and 0 is a sandbox's stand-in file.
 */
import { readFileSync, readdirSync } from 'node:fs';

function ownRunnable(): number {
  let n = 0;
  for (const t of readdirSync('/proc/self/task')) {
    let st: string;
    try {
      st = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
    } catch {
      continue; // the thread ended between the listing and the read
    }
    // Field 3 (state) follows the command name, which is in parentheses and may hold spaces.
    const close = st.lastIndexOf(')');
    if (st.charAt(close + 2) === 'R') n++;
  }
  return n;
}

/** Runnable threads of other processes (min over `looks` looks), or null when /proc cannot tell. */
export function busyElsewhere(looks = 3): number | null {
  const nap = new Int32Array(new SharedArrayBuffer(4));
  let best = Infinity;
  try {
    for (let i = 0; i < looks; i++) {
      if (i > 0) Atomics.wait(nap, 0, 0, 1);
      const field = readFileSync('/proc/loadavg', 'utf8').split(' ')[3] ?? '';
      const running = Number(field.split('/')[0]);
      if (!Number.isInteger(running) || running === 0) return null;
      best = Math.min(best, Math.max(0, running - ownRunnable()));
      if (best === 0) break;
    }
  } catch {
    return null;
  }
  return best;
}
