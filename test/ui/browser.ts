/**
 * A real browser for UI tests: Debian's chromium driven by playwright-core
 * (never a downloaded browser build), pages that record every console error
 * and uncaught exception, a bounded poll of what a page shows, and a count
 * of what a canvas actually painted.
 */
import { existsSync } from "node:fs";
import { type Browser, chromium, type Locator, type Page } from "playwright-core";

/** Where Debian's chromium package puts the browser. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Why browser tests cannot run here, or undefined when they can. */
export function browserMissing(): string | undefined {
  return existsSync(CHROMIUM_PATH)
    ? undefined
    : `${CHROMIUM_PATH} is absent (apt-get install chromium): browser tests skipped`;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ["--headless", "--no-sandbox", "--disable-gpu"],
    timeout: 20_000,
  });
}

/** A page and what went wrong in it: console errors and uncaught exceptions, in order. */
export interface WatchedPage {
  page: Page;
  errors: string[];
}

export interface OpenOptions {
  /** @default 1360 */
  widthPx?: number;
  /** @default 900 */
  heightPx?: number;
}

/** A new page in its own context (its own sessionStorage) that records its errors. */
export async function openWatchedPage(browser: Browser, options: OpenOptions = {}): Promise<WatchedPage> {
  const context = await browser.newContext({
    viewport: { width: options.widthPx ?? 1360, height: options.heightPx ?? 900 },
    deviceScaleFactor: 1,
    colorScheme: "light",
  });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => errors.push(`pageerror: ${error.message}`));
  return { page, errors };
}

/**
 * Calls `read` every `everyMs` until `done` accepts what it returns, and
 * returns that; throws, naming `what` and the last value, after `timeoutMs`.
 */
export async function pollUntil<T>(
  what: string,
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 10_000,
  everyMs = 100,
): Promise<T> {
  const giveUpAt = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (done(last)) return last;
    if (Date.now() >= giveUpAt) {
      throw new Error(`${what}: not seen within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
    }
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** The text of the element with this data-testid, trimmed ("" when absent). */
export async function textOf(page: Page, testId: string): Promise<string> {
  const texts = await page.locator(`[data-testid="${testId}"]`).allTextContents();
  return (texts[0] ?? "").trim();
}

/** A percentage as the page prints it ("52.5%"), as a number; NaN for "—" or anything else. */
export function percentOf(text: string): number {
  const match = /^(\d+(?:\.\d+)?)%$/.exec(text.trim());
  return match ? Number(match[1]) : Number.NaN;
}

/** The little of a canvas element that canvasPixelsNear reads (the tests compile without the DOM library). */
interface CanvasReadback {
  width: number;
  height: number;
  getContext(kind: "2d"): {
    getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> };
  } | null;
}

/**
 * How many opaque pixels of the canvas at `canvas` are within `tolerance`
 * (the sum of the red, green and blue differences) of `rgb`, a colour as the
 * browser writes it ("rgb(37, 99, 235)"). Anti-aliased edges blend into the
 * background, so a shape counts by its inner pixels.
 */
export function canvasPixelsNear(canvas: Locator, rgb: string, tolerance = 24): Promise<number> {
  return canvas.evaluate(
    (element, [colour, within]) => {
      const [r = -1, g = -1, b = -1] = (colour.match(/\d+/g) ?? []).map(Number);
      const node = element as unknown as CanvasReadback;
      const ctx = node.getContext("2d");
      if (ctx === null || node.width === 0 || node.height === 0) return 0;
      const { data } = ctx.getImageData(0, 0, node.width, node.height);
      let count = 0;
      for (let i = 0; i + 3 < data.length; i += 4) {
        const near =
          Math.abs((data[i] ?? 0) - r) + Math.abs((data[i + 1] ?? 0) - g) + Math.abs((data[i + 2] ?? 0) - b);
        if (near <= within && (data[i + 3] ?? 0) > 200) count++;
      }
      return count;
    },
    [rgb, tolerance] as const,
  );
}
