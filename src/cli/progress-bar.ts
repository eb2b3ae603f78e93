// A one-line progress bar for long offline commands (replay), drawn on a terminal only: when the
// stream is not a TTY (piped, CI, a file) nothing is written, so the output stays clean.

export interface ProgressStream {
  isTTY?: boolean;
  columns?: number;
  write(s: string): unknown;
}

export class ProgressBar {
  private lastDrawn = -1;

  constructor(private readonly stream: ProgressStream, private readonly label: string, private readonly total: number) {}

  get enabled(): boolean {
    return this.stream.isTTY === true && this.total > 0;
  }

  update(done: number): void {
    if (!this.enabled) return;
    const pct = Math.min(100, Math.floor((done / this.total) * 100));
    if (pct === this.lastDrawn) return;
    this.lastDrawn = pct;
    const width = Math.max(10, Math.min(40, (this.stream.columns ?? 80) - this.label.length - 10));
    const filled = Math.round((pct / 100) * width);
    this.stream.write(`\r${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(pct).padStart(3)}%`);
  }

  done(): void {
    if (this.enabled && this.lastDrawn >= 0) this.stream.write('\n');
  }
}
