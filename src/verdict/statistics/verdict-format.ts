// Number formats of the human reason line (docs/statistics.md), e.g.
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

const levels = new Map<number, string>();

/**
 * Confidence level 1 − α as a percentage, rounded down (never claims more confidence than it
 * has) and with enough decimals that it never reads as 100 %.
 */
export function level(alpha: number): string {
  let text = levels.get(alpha);
  if (text === undefined) {
    text = `${(1 - alpha) * 100} %`;
    for (let digits = 1; digits < 6; digits++) {
      const scale = 10 ** digits;
      // The epsilon keeps 0.99 · 100 = 98.999… from flooring to 98.9.
      const floored = Math.floor((1 - alpha) * 100 * scale + 1e-9) / scale;
      if (floored < 100) {
        text = `${trimmed(floored, digits)} %`;
        break;
      }
    }
    if (levels.size < 1024) levels.set(alpha, text);
  }
  return text;
}

export function factor(x: number): string {
  return trimmed(x, 3);
}
