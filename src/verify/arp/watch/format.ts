/** One line per event: text for people, NDJSON for programs (the frames without their bytes). */
import type { WatchEvent } from './types.js';

export function eventText(e: WatchEvent): string {
  const at = e.frames.length > 0 && e.frames[e.frames.length - 1]!.frame > 0 ? `  [${e.frames.map((f) => `${f.capture}#${f.frame}`).join(' ')}]` : '';
  return `${e.time} ${e.severity} ${e.kind}: ${e.message}${at}\n`;
}

export function eventJson(e: WatchEvent): string {
  const { frames, ...rest } = e;
  return `${JSON.stringify({ ...rest, frames: frames.map((f) => ({ capture: f.capture, frame: f.frame, note: f.note })) })}\n`;
}
