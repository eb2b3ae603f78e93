import { describe, expect, it } from 'vitest';
import { chunksBySize } from '../../../src/log/kafka/kafka-producer.js';

describe('produce chunking', () => {
  it('keeps every record, in order, in chunks under the byte bound (a lone oversized record gets its own chunk)', () => {
    const records = Array.from({ length: 1000 }, (_, i) => ({ key: `user-${i % 7}`, value: Buffer.alloc(i === 500 ? 5000 : 200, i % 256) }));
    const chunks = chunksBySize(records, 4096);
    expect(chunks.flat()).toEqual(records);
    for (const c of chunks) {
      const bytes = c.reduce((n, r) => n + r.value.length + Buffer.byteLength(r.key) + 64, 0);
      expect(c.length === 1 || bytes <= 4096).toBe(true);
    }
    expect(chunksBySize([], 4096)).toEqual([]);
  });
});
