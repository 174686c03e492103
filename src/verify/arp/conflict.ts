/**
 * When claims of a VIP by several MACs are a conflict, as one pure function over the claims,
 * for `arp --watch` as packets come and for the offline `arp.vip-conflict` rule (which also
 * counts, over the whole capture, claims going back to a MAC that claimed before):
 *
 * - two MACs answer one who-has for the VIP;
 * - a MAC claims the VIP while another claimed it within the window, without announcing a move
 *   by gratuitous ARP;
 * - after a move announced by gratuitous ARP, the old MAC claims again within the window
 *   (a failover is one move with the old MAC silent afterwards).
 *
 * A gratuitous ARP from a new MAC is a move, not a conflict, unless the old MAC speaks again.
 */

/** One claim: a MAC asserting "VIP is at me" (a reply, or any ARP with the VIP as sender). */
export interface Claim {
  mac: number;
  tNs: number;
  gratuitous: boolean;
}

/** What the VIP's claims so far say. owner −1: nobody claimed yet. */
export interface ClaimHistory {
  owner: number;
  ownerLastNs: number;
  /** The MAC the last announced move went away from, −1 when none. */
  movedFrom: number;
  movedNs: number;
}

/** Claims by another MAC within this window of the owner's last claim, unannounced, conflict. */
export const CLAIM_WINDOW_NS = 10e9;

export type ConflictReason = 'two-answers' | 'concurrent' | 'alternating';

export interface ClaimVerdict {
  /** null: no conflict (a repeat of the owner, or a move). */
  conflict: ConflictReason | null;
  /** The MAC the claim conflicts with (or moved away from), −1 when none. */
  other: number;
  /** The claim moves the VIP to its MAC. */
  moves: boolean;
}

/** Judges one claim against the history (not modified). */
export function judgeClaim(h: ClaimHistory, c: Claim, windowNs: number): ClaimVerdict {
  if (h.owner < 0 || c.mac === h.owner) return { conflict: null, other: -1, moves: h.owner < 0 };
  if (c.mac === h.movedFrom && c.tNs - h.movedNs <= windowNs && !c.gratuitous) {
    return { conflict: 'alternating', other: h.owner, moves: false };
  }
  if (!c.gratuitous && c.tNs - h.ownerLastNs <= windowNs) return { conflict: 'concurrent', other: h.owner, moves: false };
  return { conflict: null, other: h.owner, moves: true };
}

/** Several distinct MACs among the answers to one who-has: a conflict. */
export function answersConflict(answerers: readonly number[]): boolean {
  for (let i = 1; i < answerers.length; i++) if (answerers[i] !== answerers[0]) return true;
  return false;
}

/** The history after the claim (a new object; the inputs are not modified). */
export function afterClaim(h: ClaimHistory, c: Claim, v: ClaimVerdict): ClaimHistory {
  if (v.moves) {
    return { owner: c.mac, ownerLastNs: c.tNs, movedFrom: h.owner < 0 || !c.gratuitous ? -1 : h.owner, movedNs: c.tNs };
  }
  if (c.mac === h.owner) return { ...h, ownerLastNs: c.tNs };
  return h;
}
