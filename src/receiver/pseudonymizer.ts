// Keyed HMAC-SHA256 of raw user ids (DESIGN section 2): the same user always maps to the same
// pseudonym under one key, and without the key a pseudonym cannot be tied back to a person.
// Raw ids enter here and only the pseudonym leaves.

import { createHmac } from 'node:crypto';
import { PmfError } from '../core/errors.js';

export const PSEUDONYM_HEX_LENGTH = 32;
const MIN_KEY_BYTES = 16;

export class Pseudonymizer {
  private readonly key: Buffer;

  constructor(key: string | Uint8Array) {
    this.key = typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key);
    if (this.key.length < MIN_KEY_BYTES) {
      throw new PmfError('ERR_CONFIG_INVALID', `pseudonymisation key must be at least ${MIN_KEY_BYTES} bytes`);
    }
  }

  pseudonymize(rawUserId: string): string {
    return createHmac('sha256', this.key).update(rawUserId, 'utf8').digest('hex').slice(0, PSEUDONYM_HEX_LENGTH);
  }

  /** Bound function, for passing as MapperOptions.pseudonymize. */
  readonly fn = (rawUserId: string): string => this.pseudonymize(rawUserId);
}
