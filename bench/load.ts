/**
 * Bounded load runner shared by every side of a benchmark comparison, so
 * that Burrow and its references are driven by the same loop and measured
 * the same way: a fixed number of ops with a fixed number in flight, cut
 * short by a time limit, with per-op latency percentiles.
 */

/** What one run of `runLoad` measured. Rates and percentiles cover the ops that resolved. */
export interface LoadResult {
  /** Ops that resolved (errors are not counted here). */
  ops: number;
  /** Keys read by the resolved ops, as each op reported. */
  keys: number;
  /** Wall time from the first op started to the last op settled. */
  seconds: number;
  opsPerSec: number;
  keysPerSec: number;
  /** Median latency of the resolved ops, in milliseconds. */
  p50Ms: number;
  /** 99th-percentile latency of the resolved ops, in milliseconds. */
  p99Ms: number;
  /** Ops that threw, plus ops still unsettled when the drain after `maxSeconds` ran out. */
  errors: number;
}

export interface LoadOptions {
  /** Ops to run in all; the run ends when this many have been started and settled. */
  requests: number;
  /** Ops in flight at once (capped at `requests`). */
  concurrency: number;
  /** No op starts after this many seconds; ops already in flight get `DRAIN_MS` more to settle. */
  maxSeconds: number;
}

/** How long ops in flight at `maxSeconds` may take to settle before they count as errors. */
const DRAIN_MS = 5_000;

const NS_PER_MS = 1e6;

/**
 * Runs `op` `requests` times with `concurrency` in flight; each op reports how
 * many keys it read. Stops at `requests` or `maxSeconds`, whichever first.
 */
export async function runLoad(op: (i: number) => Promise<number>, options: LoadOptions): Promise<LoadResult> {
  const { requests, concurrency, maxSeconds } = options;
  if (!Number.isInteger(requests) || requests < 1) throw new Error(`requests must be >= 1, got ${requests}`);
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new Error(`concurrency must be >= 1, got ${concurrency}`);
  if (!(maxSeconds > 0)) throw new Error(`maxSeconds must be > 0, got ${maxSeconds}`);

  // Preallocated so that recording a latency never allocates during the run.
  const latenciesMs = new Float64Array(requests);
  let started = 0;
  let resolved = 0;
  let failed = 0;
  let keys = 0;
  // Set once the result is taken, so that ops settling after a timed-out drain change nothing.
  let finished = false;

  const startNs = process.hrtime.bigint();
  const stopNs = startNs + BigInt(Math.round(maxSeconds * 1e9));

  const worker = async (): Promise<void> => {
    while (started < requests && process.hrtime.bigint() < stopNs) {
      const i = started++;
      const opStartNs = process.hrtime.bigint();
      try {
        const read = await op(i);
        if (finished) return;
        latenciesMs[resolved++] = Number(process.hrtime.bigint() - opStartNs) / NS_PER_MS;
        keys += read;
      } catch {
        if (finished) return;
        failed++;
      }
    }
  };

  const workers = Promise.all(Array.from({ length: Math.min(concurrency, requests) }, worker));
  let drainTimer: NodeJS.Timeout | undefined;
  const drained = new Promise<void>((resolve) => {
    drainTimer = setTimeout(resolve, maxSeconds * 1000 + DRAIN_MS);
  });
  try {
    await Promise.race([workers, drained]);
  } finally {
    clearTimeout(drainTimer);
    finished = true;
  }
  const seconds = Number(process.hrtime.bigint() - startNs) / 1e9;
  // Ops started but neither resolved nor failed were still hanging after the drain.
  const errors = failed + (started - resolved - failed);

  const sorted = latenciesMs.subarray(0, resolved).sort();
  return {
    ops: resolved,
    keys,
    seconds,
    opsPerSec: resolved / seconds,
    keysPerSec: keys / seconds,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    errors,
  };
}

/** Nearest-rank percentile of ascending `sorted`; NaN when it is empty. */
function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(fraction * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** The median of `runs` by `by` (the lower middle one for an even count); meant for 3 runs. */
export function median<T>(runs: T[], by: (r: T) => number): T {
  if (runs.length === 0) throw new Error("median of no runs");
  const ordered = [...runs].sort((a, b) => by(a) - by(b));
  return ordered[Math.floor((ordered.length - 1) / 2)] as T;
}
