// One seeded PRNG for every test, benchmark and scenario generator, so runs are reproducible.

/** mulberry32: a fast 32-bit generator, uniform in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box–Muller). */
export function normal(rand: () => number): number {
  const u = 1 - rand(); // (0, 1]: log(0) never happens
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** `digits` random hex digits (pseudonymous user ids are 32). */
export function randomHex(rand: () => number, digits: number): string {
  let s = '';
  while (s.length < digits) s += Math.floor(rand() * 0x1_0000_0000).toString(16).padStart(8, '0');
  return s.slice(0, digits);
}
