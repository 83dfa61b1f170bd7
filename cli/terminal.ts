/**
 * What the CLI shows a person: colour only on a terminal and never under
 * `NO_COLOR`, a progress bar (or periodic lines when not on a terminal),
 * aligned tables, and the package's version.
 */
import { readFileSync } from "node:fs";

/** The part of a stream the CLI writes to: stdout or stderr, or a stand-in in tests. */
export interface OutputStream {
  write(text: string): unknown;
  /** True on a terminal. */
  isTTY?: boolean;
  /** The terminal's width in characters, when known. */
  columns?: number;
}

/** True when `stream` is a terminal and `NO_COLOR` is unset or empty (https://no-color.org). */
export function colorOn(stream: OutputStream): boolean {
  return stream.isTTY === true && !process.env.NO_COLOR;
}

/** `text` in bold on a colour terminal, plain otherwise. */
export function bold(stream: OutputStream, text: string): string {
  return colorOn(stream) ? `\x1b[1m${text}\x1b[22m` : text;
}

/** `text` in red on a colour terminal, plain otherwise. */
export function red(stream: OutputStream, text: string): string {
  return colorOn(stream) ? `\x1b[31m${text}\x1b[39m` : text;
}

/**
 * Rows as a table with one space-padded column per key of the first row:
 * numbers right-aligned, text left-aligned, the header in bold on a colour
 * terminal. Ends with a newline; empty when there are no rows.
 */
export function formatTable(
  rows: readonly Record<string, string | number>[],
  stream: OutputStream = process.stdout,
): string {
  const first = rows[0];
  if (first === undefined) return "";
  const columns = Object.keys(first);
  const cell = (row: Record<string, string | number>, column: string) => String(row[column] ?? "");
  const widths = columns.map((column) =>
    Math.max(column.length, ...rows.map((row) => cell(row, column).length)),
  );
  const numeric = columns.map((column) => rows.every((row) => typeof row[column] === "number"));
  const line = (cells: string[]) =>
    cells
      .map((text, i) => (numeric[i] ? text.padStart(widths[i] as number) : text.padEnd(widths[i] as number)))
      .join("  ")
      .trimEnd();
  const header = bold(stream, line(columns));
  return `${[header, ...rows.map((row) => line(columns.map((column) => cell(row, column))))].join("\n")}\n`;
}

/** Options of a `Progress`. */
export interface ProgressOptions {
  /** What is counted, plural (e.g. "keys"). */
  unit: string;
  /** Where the bar or lines go (default: stderr, so stdout keeps only the result). */
  stream?: OutputStream;
  /**
   * Off a terminal, the least time between two progress lines, in ms
   * (default 2000; 0: a line on every update). A terminal's bar is redrawn
   * at most every 100 ms whatever this says.
   */
  intervalMs?: number;
  /** Shows nothing at all (default false). */
  quiet?: boolean;
}

/**
 * Progress of a counted job: on a terminal one bar redrawn in place, else
 * a line such as `warm: 400/1000 keys (40%)` at most every `intervalMs`;
 * the final count is always shown, once.
 */
export class Progress {
  private readonly stream: OutputStream;
  private readonly intervalMs: number;
  private readonly bar: boolean;
  private lastShownAt = Number.NEGATIVE_INFINITY;
  /** The count last shown, so that `finish` does not show the same final state again. */
  private lastShownDone: number | undefined;
  private done = 0;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly options: ProgressOptions,
  ) {
    this.stream = options.stream ?? process.stderr;
    this.bar = this.stream.isTTY === true;
    this.intervalMs = this.bar ? 100 : (options.intervalMs ?? 2000);
  }

  /** Records that `done` of the total are finished; shows it if enough time has passed. */
  update(done: number): void {
    this.done = done;
    const now = performance.now();
    if (this.options.quiet || now - this.lastShownAt < this.intervalMs) return;
    this.lastShownAt = now;
    this.show();
  }

  /** Shows the final count, unless the last update showed it already, and, on a terminal, moves past the bar. */
  finish(): void {
    if (this.options.quiet) return;
    if (this.lastShownDone !== this.done) this.show();
    if (this.bar) this.stream.write("\n");
  }

  private show(): void {
    this.lastShownDone = this.done;
    const percent = this.total === 0 ? 100 : Math.floor((this.done / this.total) * 100);
    const counts = `${this.done}/${this.total} ${this.options.unit} (${percent}%)`;
    if (!this.bar) {
      this.stream.write(`${this.label}: ${counts}\n`);
      return;
    }
    const width = Math.max(
      10,
      Math.min(40, (this.stream.columns || 80) - counts.length - this.label.length - 6),
    );
    const filled = Math.round((percent / 100) * width);
    const bar = "#".repeat(filled) + "-".repeat(width - filled);
    // \r returns to the line's start and \x1b[K clears what a longer line left.
    this.stream.write(`\r${this.label} [${bar}] ${counts}\x1b[K`);
  }
}

/**
 * The version in the package's package.json, found by walking up from this
 * module: `../package.json` from source (cli/), `../../package.json` from dist/cli/.
 */
export function packageVersion(): string {
  for (let dir = new URL("./", import.meta.url); ; dir = new URL("../", dir)) {
    try {
      const pkg = JSON.parse(readFileSync(new URL("package.json", dir), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "burrow-cache" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // No package.json here (or not ours): look one level up.
    }
    if (dir.pathname === "/") return "unknown";
  }
}
