// Redis Cluster's key-to-slot mapping (CRC16/XMODEM of the hash tag, mod 16384), so a test can
// pick two features that live on the same node: only notices published by one node arrive in
// the order they were published.

const TABLE = Array.from({ length: 256 }, (_, i) => {
  let crc = i << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  return crc;
});

export function hashSlot(key: string): number {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  const tagged = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(tagged)) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff];
  return crc % 16384;
}

/** The first `${base}_<n>` whose flag key shares `feature`'s slot. */
export function featureInSameSlot(feature: string, base: string): string {
  const slot = hashSlot(`{${feature}}`);
  for (let n = 0; ; n++) if (hashSlot(`{${base}_${n}}`) === slot) return `${base}_${n}`;
}
