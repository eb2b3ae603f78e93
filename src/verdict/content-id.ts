// Content-derived ids for verdicts and commands: the same evidence always yields the same id, so a
// replay or a re-evaluation never mints a new one and the flag writer applies each command once.

import { createHash } from 'node:crypto';

export function hashId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);
}
