// How the aggregator reads an event's user and id: from the event's text fields, or, on the
// stage's path, from the record's raw bytes (events/record-ids.ts) without making any text. Both
// give the same user key (user-key.ts: a pseudonym's 16 bytes are its four words) and the same id
// fingerprint (id-hash.ts), so state and checkpoints do not depend on which path an event took.

import type { EventBody, FeatureEvent } from '../events/feature-event.js';
import type { RecordIds } from '../events/record-ids.js';
import type { DedupeWindow } from './dedupe-window.js';
import { hashHexBytes64, hashString64 } from './id-hash.js';
import type { UserStateStore } from './user-state-store.js';

/** Whether the event has a user (non-empty) and an id. Without `ids`, `e` must be a FeatureEvent. */
export function hasIds(e: EventBody, ids: RecordIds | undefined, i: number): boolean {
  if (ids !== undefined) return ids.userAt[i] >= 0 || ids.userText(i).length > 0;
  const { user, id } = e as FeatureEvent;
  return typeof user === 'string' && user.length > 0 && typeof id === 'string';
}

/** The event's id fingerprint, into hash64. */
export function hashEventId(e: EventBody, ids: RecordIds | undefined, i: number): void {
  if (ids === undefined) hashString64((e as FeatureEvent).id);
  else if (ids.idAt[i] < 0) hashString64(ids.idText(i));
  else hashHexBytes64(ids.buf, ids.idAt[i], ids.idLen[i]);
}

/** Whether the dedupe window remembers the event's id (DedupeWindow.has, and add() may follow). */
export function isRemembered(dedupe: DedupeWindow, e: EventBody, ids: RecordIds | undefined, i: number): boolean {
  hashEventId(e, ids, i);
  return dedupe.hasHashed();
}

/** Makes the event's user the store's selected user. */
export function selectEventUser(store: UserStateStore, e: EventBody, ids: RecordIds | undefined, i: number): void {
  if (ids === undefined) return store.select((e as FeatureEvent).user);
  const at = ids.userAt[i];
  if (at < 0) return store.select(ids.userText(i));
  const b = ids.buf;
  store.selectKey(
    (b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3],
    (b[at + 4] << 24) | (b[at + 5] << 16) | (b[at + 6] << 8) | b[at + 7],
    (b[at + 8] << 24) | (b[at + 9] << 16) | (b[at + 10] << 8) | b[at + 11],
    (b[at + 12] << 24) | (b[at + 13] << 16) | (b[at + 14] << 8) | b[at + 15],
  );
}
