/** Flag parsing shared by the CLI commands: one-line errors and strict number and size parsing. */

/** A CLI mistake: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/**
 * Runs a `parseArgs` call, turning its errors into one-line UsageErrors.
 * Takes a thunk so each command keeps parseArgs' precise types.
 */
export function parseFlags<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    // parseArgs messages are multi-line with hints; keep the first line.
    throw new UsageError(
      (err as Error).message.split("\n")[0]?.replace(/^Unknown option/, "unknown flag") ?? "bad flags",
    );
  }
}

/** A whole number >= min, from a flag. */
export function intFlag(name: string, value: string | undefined, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`--${name} must be a whole number >= ${min}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** A byte size such as `1048576`, `64m` or `64MiB` (binary units). */
export function sizeFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+)\s*([a-z]*)$/i.exec(value.trim());
  const unit = UNITS[(match?.[2] ?? "x").toLowerCase()];
  if (!match || unit === undefined || Number(match[1]) <= 0) {
    throw new UsageError(
      `--${name} must be a positive size in bytes (e.g. 67108864 or 64m), got ${JSON.stringify(value)}`,
    );
  }
  return Number(match[1]) * unit;
}
