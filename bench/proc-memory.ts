/**
 * Resident memory of another process, from Linux's /proc/<pid>/status:
 * VmRSS (resident now) and VmHWM (the highest resident so far, kept by the
 * kernel), and a sampler that reads them at a fixed interval while a
 * benchmark fills the process.
 */
import { readFileSync } from "node:fs";

export interface ProcMemory {
  /** VmRSS, in bytes. */
  rssBytes: number;
  /** VmHWM: the peak VmRSS since the process started, in bytes. */
  peakRssBytes: number;
}

/** The memory of `pid` now, or undefined when it has exited or /proc has no such entry. */
export function readProcMemory(pid: number): ProcMemory | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const kib = (field: string) => {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
    return match ? Number(match[1]) * 1024 : Number.NaN;
  };
  return { rssBytes: kib("VmRSS"), peakRssBytes: kib("VmHWM") };
}

export interface RssSamples {
  /** Readings taken. */
  samples: number;
  /** The highest VmRSS read, in bytes (VmHWM is the exact peak; this is what the samples saw). */
  maxRssBytes: number;
  /** The last reading, or undefined when none succeeded. */
  last: ProcMemory | undefined;
}

/** Reads `pid`'s memory every `intervalMs` (default 100) until `stop()`, which returns what was seen. */
export function sampleRss(pid: number, intervalMs = 100): { stop(): RssSamples } {
  const seen: RssSamples = { samples: 0, maxRssBytes: 0, last: undefined };
  const read = () => {
    const memory = readProcMemory(pid);
    if (memory === undefined) return;
    seen.samples++;
    seen.maxRssBytes = Math.max(seen.maxRssBytes, memory.rssBytes);
    seen.last = memory;
  };
  read();
  const timer = setInterval(read, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      read();
      return { ...seen };
    },
  };
}
