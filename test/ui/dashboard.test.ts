/**
 * The dashboard at `/_burrow/_ui`. Over plain HTTP: the page and its assets
 * are open and carry a strict content policy, the data route needs the auth
 * token, HEAD answers headers only, unknown subpaths are 404. In a real
 * browser (Debian's chromium) against a real cluster of three node
 * processes: the page loads without errors, lists the members, shows the
 * hit ratio rising after a warm-up and a killed member going down; against
 * a node of its own, a lone burst of loads between idle seconds is drawn on
 * the latency chart (counted by the page and found on the canvas); against
 * a node with an auth token it asks for the token once and then shows data.
 */
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BurrowNode, createNode } from "../../node/index.js";
import { startCluster, startNode, type TestCluster, type TestNode } from "../helpers/cluster.js";
import {
  browserMissing,
  canvasPixelsNear,
  launchBrowser,
  openWatchedPage,
  percentOf,
  pollUntil,
  textOf,
  type WatchedPage,
} from "./browser.js";

const TOKEN = "dashboard-test-token";
const REPORTS = fileURLToPath(new URL("../../reports/", import.meta.url));
const NODE_CONFIG = fileURLToPath(new URL("../fixtures/node.config.ts", import.meta.url));

describe("dashboard routes over HTTP", () => {
  let guarded: BurrowNode;
  let open: BurrowNode;
  let guardedBase = "";
  let openBase = "";

  beforeAll(async () => {
    const namespaces = { users: { maxBytes: 1 << 20, load: async (key: string) => `v:${key}` } };
    guarded = createNode({ namespaces, authToken: TOKEN, logLevel: "silent" });
    open = createNode({ namespaces, logLevel: "silent" });
    const [a, b] = await Promise.all([guarded.listen(0), open.listen(0)]);
    guardedBase = `http://127.0.0.1:${a.port}/_burrow/_ui`;
    openBase = `http://127.0.0.1:${b.port}/_burrow/_ui`;
  });

  afterAll(async () => {
    await Promise.all([guarded?.close(), open?.close()]);
  });

  it("serves the page without a token, with a policy that allows only the node itself", async () => {
    for (const url of [guardedBase, `${guardedBase}/`]) {
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toBe("text/html; charset=utf-8");
      const policy = res.headers.get("content-security-policy") ?? "";
      expect(policy).toContain("default-src 'self'");
      expect(policy).toContain("script-src 'self'");
      expect(policy).not.toContain("unsafe-inline");
      const html = await res.text();
      expect(html).toContain('<script src="/_burrow/_ui/app.js" defer></script>');
      expect(html).not.toMatch(/<script>|style="|https?:\/\/(?!www\.w3\.org)/);
    }
  });

  it("serves the script, stylesheet and icon without a token, revalidated by etag", async () => {
    const expected: Record<string, string> = {
      "/app.js": "text/javascript; charset=utf-8",
      "/style.css": "text/css; charset=utf-8",
      "/favicon.svg": "image/svg+xml",
    };
    for (const [path, type] of Object.entries(expected)) {
      const res = await fetch(`${guardedBase}${path}`);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-type")).toBe(type);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      const etag = res.headers.get("etag") ?? "";
      expect(etag).not.toBe("");
      expect((await res.text()).length).toBeGreaterThan(0);
      const again = await fetch(`${guardedBase}${path}`, { headers: { "if-none-match": etag } });
      expect(again.status).toBe(304);
    }
  });

  it("answers the data route only with the auth token", async () => {
    const refused = await fetch(`${guardedBase}/api/cluster`);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: string }).error).toBe("unauthorized");
    const wrong = await fetch(`${guardedBase}/api/cluster`, { headers: { authorization: "Bearer nope" } });
    expect(wrong.status).toBe(401);

    const res = await fetch(`${guardedBase}/api/cluster`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json; charset=utf-8");
    expect(res.headers.get("cache-control")).toBe("no-store");
    const view = (await res.json()) as {
      self: string;
      epoch: number;
      at: number;
      members: { id: string; state: string; share: number; stats: { namespaces: Record<string, unknown> } }[];
      events: { event: string }[];
    };
    expect(view.self).toBe(guarded.id);
    expect(typeof view.epoch).toBe("number");
    expect(typeof view.at).toBe("number");
    expect(view.members).toHaveLength(1);
    expect(view.members[0]).toMatchObject({ id: guarded.id, state: "up", share: 1 });
    expect(view.members[0]?.stats.namespaces.users).toMatchObject({ maxBytes: 1 << 20, gets: 0 });
    expect(view.events.map((e) => e.event)).toContain("listening");
  });

  it("answers the data route without a token when the node has none", async () => {
    const res = await fetch(`${openBase}/api/cluster`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { self: string }).self).toBe(open.id);
  });

  it("answers HEAD with headers only", async () => {
    const page = await fetch(guardedBase, { method: "HEAD" });
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(Number(page.headers.get("content-length"))).toBeGreaterThan(0);
    expect(await page.text()).toBe("");
    const api = await fetch(`${guardedBase}/api/cluster`, {
      method: "HEAD",
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(api.status).toBe(200);
    expect(api.headers.get("cache-control")).toBe("no-store");
    expect(await api.text()).toBe("");
    expect((await fetch(`${guardedBase}/api/cluster`, { method: "HEAD" })).status).toBe(401);
  });

  it("answers unknown subpaths and other methods with the error body", async () => {
    for (const path of ["/nope", "/api", "/api/cluster/more", "/app.js/x", "//"]) {
      const res = await fetch(`${guardedBase}${path}`);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { error: string }).error).toBe("unknown_route");
    }
    const post = await fetch(guardedBase, { method: "POST", body: "x" });
    expect(post.status).toBe(405);
  });
});

const missing = browserMissing();
if (missing !== undefined) console.warn(missing);

describe.skipIf(missing !== undefined)("dashboard in a browser", () => {
  let browser: Browser;
  let cluster: TestCluster;
  let guardedNode: TestNode;

  beforeAll(async () => {
    [browser, cluster, guardedNode] = await Promise.all([
      launchBrowser(),
      // Loads take a little time, so the latency chart has something to show.
      startCluster({ origin: { delayMs: 8 } }),
      startNode(["--port", "0", "--config", NODE_CONFIG, "--auth-token", TOKEN], TOKEN),
    ]);
    await mkdir(REPORTS, { recursive: true });
  }, 40_000);

  afterAll(async () => {
    await Promise.all([browser?.close(), cluster?.close(), guardedNode?.kill("SIGKILL")]);
  });

  /** Each member row's id and the state it shows. */
  const memberStates = (page: Page) =>
    page.$$eval('[data-testid="member"]', (rows) =>
      rows.map((row) => [row.getAttribute("data-member-id"), row.getAttribute("data-state")]),
    );

  /** GETs of `keys` in namespace users, spread over the nodes; each must answer its value. */
  async function getAll(nodes: string[], keys: string[]): Promise<void> {
    await Promise.all(
      keys.map(async (key, i) => {
        const res = await fetch(`http://${nodes[i % nodes.length]}/_burrow/users/${key}`);
        expect(await res.text()).toBe(`value:users:${key}`);
      }),
    );
  }

  it("lists the members, shows the hit ratio rising and a killed member down", async () => {
    const { page, errors }: WatchedPage = await openWatchedPage(browser);
    await page.goto(`http://${cluster.addresses[0]}/_burrow/_ui`);

    const states = await pollUntil(
      "three members listed",
      () => memberStates(page),
      (rows) => rows.length === 3,
    );
    expect(states.map(([id]) => id).sort()).toEqual([...cluster.ids].sort());
    expect(states.every(([, state]) => state === "up")).toBe(true);
    expect(await textOf(page, "self")).toBe(cluster.ids[0]?.replace("http://", ""));

    // Before any GET there is nothing to divide: the page says so rather than 0%.
    expect(await textOf(page, "hit-ratio")).toBe("—");
    const keys = Array.from({ length: 40 }, (_, i) => `warm-${i}`);
    await getAll(cluster.addresses, keys);
    const cold = percentOf(
      await pollUntil(
        "a hit ratio after the first GETs",
        () => textOf(page, "hit-ratio"),
        (t) => t !== "—",
      ),
    );
    await getAll(cluster.addresses, keys);
    const warm = percentOf(
      await pollUntil(
        "the hit ratio rising after the warm-up",
        () => textOf(page, "hit-ratio"),
        (t) => percentOf(t) > cold + 10,
      ),
    );
    expect(warm).toBeGreaterThan(cold);
    const nsRatio = await page
      .locator('[data-testid="namespace"][data-namespace="users"] [data-testid="namespace-hit-ratio"]')
      .textContent();
    expect(percentOf(nsRatio ?? "")).toBeGreaterThan(cold);

    // A few seconds of steady traffic: the gets/s tile shows a rate and the charts have lines.
    const traffic = (async () => {
      for (let round = 0; round < 6; round++) {
        const batch = Array.from({ length: 12 }, (_, i) => `live-${(round * 7 + i) % 60}`);
        await getAll(cluster.addresses, batch);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();
    await pollUntil(
      "a gets/s rate above zero",
      () => textOf(page, "gets-rate"),
      (t) => Number(t.replace(/,/g, "")) > 0,
      8000,
    );
    await traffic;
    await page.screenshot({ path: `${REPORTS}dashboard.png`, fullPage: true });

    const victim = cluster.nodes[2] as TestNode;
    process.kill(victim.pid as number, "SIGKILL");
    await victim.kill("SIGKILL"); // waits for the exit
    const after = await pollUntil(
      "the killed member marked down",
      () => memberStates(page),
      (rows) => rows.some(([id, state]) => id === victim.id && state === "down"),
      8000,
    );
    expect(after.filter(([, state]) => state === "up")).toHaveLength(2);
    await pollUntil(
      "the tile counting two members up",
      () => textOf(page, "members-up"),
      (t) => t === "2 / 3",
    );
    await page.screenshot({ path: `${REPORTS}dashboard-down.png`, fullPage: true });

    expect(errors).toEqual([]);
    await page.context().close();
  });

  it("draws a lone burst of loads, with idle seconds either side, on the latency chart", async () => {
    // A node of its own: no earlier loads, so the burst is the only latency point there is.
    const node = createNode({
      namespaces: {
        users: {
          maxBytes: 1 << 20,
          load: async (key: string) => {
            await new Promise((resolve) => setTimeout(resolve, 20));
            return `value:users:${key}`;
          },
        },
      },
      logLevel: "silent",
    });
    const { port } = await node.listen(0);
    const { page, errors } = await openWatchedPage(browser);
    try {
      await page.goto(`http://127.0.0.1:${port}/_burrow/_ui`);
      // A gets/s figure needs two polls: from then on every poll adds a point.
      await pollUntil(
        "a gets/s figure",
        () => textOf(page, "gets-rate"),
        (t) => t !== "—",
      );
      // Each poll stamps the status with the node's time (polls are over a second apart).
      const nextPoll = async () => {
        const seen = await textOf(page, "status");
        await pollUntil(
          "the next poll",
          () => textOf(page, "status"),
          (t) => t !== seen && t.startsWith("live"),
          5000,
          20,
        );
      };
      // The burst starts just after a poll, so all of it lands between two polls.
      await nextPoll();
      await getAll([`127.0.0.1:${port}`], ["burst-1", "burst-2", "burst-3", "burst-4"]);
      await pollUntil(
        "the load latency tile",
        () => textOf(page, "load-latency"),
        (t) => t.endsWith(" ms"),
        5000,
      );
      // Two idle polls: the burst's point is neither the newest nor joined to a neighbour.
      await nextPoll();
      await nextPoll();

      const chart = page.locator('[data-testid="latency-chart"]');
      expect(Number(await chart.getAttribute("data-points-drawn"))).toBeGreaterThan(0);
      // And it is on the canvas: pixels in the member's colour (its legend swatch's, set inline).
      const colour = await page
        .locator("#latency-legend .swatch")
        .first()
        .evaluate(
          (swatch) => (swatch as unknown as { style: { backgroundColor: string } }).style.backgroundColor,
        );
      expect(colour).toMatch(/^rgb\(/);
      const inColour = await canvasPixelsNear(chart, colour);
      expect(inColour).toBeGreaterThan(0);
      await page.screenshot({ path: `${REPORTS}dashboard-burst.png`, fullPage: true });
      expect(errors).toEqual([]);
    } finally {
      await page.context().close();
      await node.close();
    }
  });

  it("asks for the auth token once, keeps it for the tab and shows the data", async () => {
    const { page, errors } = await openWatchedPage(browser);
    const url = `http://${guardedNode.address}/_burrow/_ui`;
    await page.goto(url);
    const form = page.locator('[data-testid="token-form"]');
    await form.waitFor({ state: "visible" });
    expect(await memberStates(page)).toEqual([]);

    // A wrong token is refused and asked for again.
    await page.locator('[data-testid="token-input"]').fill("not-the-token");
    await page.locator('[data-testid="token-submit"]').click();
    await pollUntil(
      "the refusal shown",
      () => page.locator("#token-reason").textContent(),
      (t) => (t ?? "").includes("refused"),
    );
    await form.waitFor({ state: "visible" });

    await page.locator('[data-testid="token-input"]').fill(TOKEN);
    await page.locator('[data-testid="token-submit"]').click();
    await form.waitFor({ state: "hidden" });
    const rows = await pollUntil(
      "the member listed",
      () => memberStates(page),
      (r) => r.length === 1,
    );
    expect(rows).toEqual([[guardedNode.id, "up"]]);
    await page.locator('[data-testid="namespace"][data-namespace="greetings"]').waitFor();
    expect(await page.evaluate('sessionStorage.getItem("burrow.dashboard.token")')).toBe(TOKEN);

    // Reloaded in the same tab, the page uses the kept token and does not ask again.
    await page.reload();
    await pollUntil(
      "the member listed after a reload",
      () => memberStates(page),
      (r) => r.length === 1,
    );
    expect(await form.isVisible()).toBe(false);
    await page.screenshot({ path: `${REPORTS}dashboard-auth.png` });

    // The browser reports each refused poll as a failed load; nothing else may go wrong.
    const unexpected = errors.filter((e) => !/status of 401/.test(e));
    expect(unexpected).toEqual([]);
    await page.context().close();
  });
});
