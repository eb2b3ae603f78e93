// Number formats of the human reason line (DESIGN §4), e.g.
// "fail: activation 9.8 % (always-valid 99 % upper bound 12.9 %) < threshold 15 %".

function trimmed(x: number, digits: number): string {
  return x.toFixed(digits).replace(/\.0+$/, '').replace(/(\.\d*?)0+$/, '$1');
}

export function percent(rate: number | null): string {
  return rate === null ? 'n/a' : `${trimmed(rate * 100, 1)} %`;
}

export function points(difference: number | null): string {
  return difference === null ? 'n/a' : `${trimmed(difference * 100, 1)} pts`;
}

export function milliseconds(ms: number | null): string {
  return ms === null ? 'n/a' : `${Math.round(ms)} ms`;
}

/** Confidence level 1 − α as a percentage, with enough decimals that it never reads as 100 %. */
export function level(alpha: number): string {
  for (let digits = 1; digits < 6; digits++) {
    const shown = trimmed((1 - alpha) * 100, digits);
    if (shown !== '100') return `${shown} %`;
  }
  return `${(1 - alpha) * 100} %`;
}

export function factor(x: number): string {
  return trimmed(x, 3);
}
