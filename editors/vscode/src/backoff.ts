// Restart delays after crashes: doubling from `first` up to `max`; a server that stayed up
// for `healthyAfter` ms starts again from `first`. After `maxInRow` crashes in a row the
// extension stops trying until the user restarts it (a server that cannot start would
// otherwise crash-loop forever). Pure: the clock is passed in.

export interface BackoffOptions {
  firstMs: number;
  maxMs: number;
  healthyAfterMs: number;
  maxInRow: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { firstMs: 1000, maxMs: 30_000, healthyAfterMs: 60_000, maxInRow: 6 };

export class Backoff {
  private crashes = 0;
  private startedAt: number | undefined;

  constructor(private readonly options: BackoffOptions = DEFAULT_BACKOFF) {}

  /** The server (re)started at `now`. */
  started(now: number): void {
    this.startedAt = now;
  }

  /** The server died at `now`: how long to wait before the next start, or undefined to give up. */
  crashed(now: number): number | undefined {
    if (this.startedAt !== undefined && now - this.startedAt >= this.options.healthyAfterMs) {
      this.crashes = 0;
    }
    this.startedAt = undefined;
    this.crashes += 1;
    if (this.crashes > this.options.maxInRow) {
      return undefined;
    }
    return Math.min(this.options.firstMs * 2 ** (this.crashes - 1), this.options.maxMs);
  }

  /** Crashes in a row so far. */
  get inRow(): number {
    return this.crashes;
  }

  /** A restart the user asked for: start counting again. */
  reset(): void {
    this.crashes = 0;
    this.startedAt = undefined;
  }
}
