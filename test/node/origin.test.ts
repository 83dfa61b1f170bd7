/** The HTTP origin loader (`--origin NS=URL-TEMPLATE`) against an msw-mocked data source. */
import { delay, HttpResponse, http } from "msw";
import { setupServer } from "msw/node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type LoadContext, Namespace } from "../../node/namespace.js";
import { httpOriginLoader } from "../../node/origin.js";
import { LoadFailedError, LoadTimeoutError } from "../../shared/errors.js";

const ORIGIN = "http://origin.test";
const server = setupServer();

beforeAll(() => server.listen({ onUnhandledRequest: "error" }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());

const context = (namespace = "users"): LoadContext => ({ namespace, signal: new AbortController().signal });

/** Serves `status` and `body` for every GET under the origin, recording the raw request URLs. */
function origin(status: number, body?: ConstructorParameters<typeof HttpResponse>[0]) {
  const urls: string[] = [];
  server.use(
    http.get(`${ORIGIN}/*`, ({ request }) => {
      urls.push(request.url);
      return new HttpResponse(body, { status });
    }),
  );
  return urls;
}

describe("origin answers", () => {
  it("200: the body's bytes are the value", async () => {
    const bytes = new Uint8Array([0, 1, 2, 253, 254, 255, 10, 13]);
    origin(200, bytes);
    const value = await httpOriginLoader(`${ORIGIN}/items/{key}`)("k", context());
    expect(value).toBeInstanceOf(Uint8Array);
    expect([...(value as Uint8Array)]).toEqual([...bytes]);
  });

  it("200 with an empty body: an empty value, not 'no such key'", async () => {
    origin(200);
    const value = await httpOriginLoader(`${ORIGIN}/items/{key}`)("k", context());
    expect(value).toBeInstanceOf(Uint8Array);
    expect((value as Uint8Array).byteLength).toBe(0);
  });

  it("404: no such key", async () => {
    origin(404, "not here");
    expect(await httpOriginLoader(`${ORIGIN}/items/{key}`)("k", context())).toBeUndefined();
  });

  it.each([500, 503, 403, 204, 400])("%i: a load failure naming the status", async (status) => {
    origin(status, status === 204 ? undefined : "nope");
    const loading = httpOriginLoader(`${ORIGIN}/items/{key}`)("k", context());
    await expect(loading).rejects.toBeInstanceOf(LoadFailedError);
    await expect(loading).rejects.toThrow(`HTTP ${status}`);
  });

  it("sends the configured headers", async () => {
    const seen: (string | null)[] = [];
    server.use(
      http.get(`${ORIGIN}/*`, ({ request }) => {
        seen.push(request.headers.get("x-api-key"));
        return HttpResponse.text("ok");
      }),
    );
    await httpOriginLoader(`${ORIGIN}/items/{key}`, { headers: { "x-api-key": "secret" } })("k", context());
    expect(seen).toEqual(["secret"]);
  });
});

describe("through a namespace", () => {
  it("200 is served and cached: one origin request for two reads", async () => {
    const urls = origin(200, "from origin");
    const ns = new Namespace("users", { load: httpOriginLoader(`${ORIGIN}/users/{key}`) });
    for (let i = 0; i < 2; i++) {
      expect(Buffer.from((await ns.read("42")).value as Uint8Array).toString()).toBe("from origin");
    }
    expect(urls).toEqual([`${ORIGIN}/users/42`]);
  });

  it("404 is 'no such key', negatively cached", async () => {
    const urls = origin(404);
    const ns = new Namespace("users", {
      load: httpOriginLoader(`${ORIGIN}/users/{key}`),
      negativeTtlMs: 10_000,
    });
    expect((await ns.read("missing")).value).toBeUndefined();
    expect((await ns.read("missing")).value).toBeUndefined();
    expect(urls).toHaveLength(1);
  });

  it("500 is a LoadFailedError, not cached", async () => {
    const urls = origin(500, "boom");
    const ns = new Namespace("users", { load: httpOriginLoader(`${ORIGIN}/users/{key}`) });
    await expect(ns.read("k")).rejects.toBeInstanceOf(LoadFailedError);
    await expect(ns.read("k")).rejects.toThrow("HTTP 500");
    expect(urls).toHaveLength(2);
  });

  it("a network error is a LoadFailedError", async () => {
    server.use(http.get(`${ORIGIN}/*`, () => HttpResponse.error()));
    const ns = new Namespace("users", { load: httpOriginLoader(`${ORIGIN}/users/{key}`) });
    await expect(ns.read("k")).rejects.toBeInstanceOf(LoadFailedError);
  });

  it("a hanging origin: LoadTimeoutError, and the load's signal aborts the request", async () => {
    let requestAborted = false;
    let requests = 0;
    server.use(
      http.get(`${ORIGIN}/*`, async ({ request }) => {
        requests++;
        request.signal.addEventListener("abort", () => {
          requestAborted = true;
        });
        await delay("infinite");
        return HttpResponse.text("never");
      }),
    );
    // Long enough for the request to reach the (mocked) origin first on a loaded machine.
    const ns = new Namespace("users", {
      load: httpOriginLoader(`${ORIGIN}/users/{key}`),
      loadTimeoutMs: 1_000,
    });
    await expect(ns.read("k")).rejects.toBeInstanceOf(LoadTimeoutError);
    await delay(10);
    expect(requests).toBe(1);
    expect(requestAborted).toBe(true);
    expect(ns.stats()).toMatchObject({ loadTimeouts: 1, items: 0 });
  });

  it("the loader itself rejects once its signal aborts (it does not just get abandoned)", async () => {
    server.use(
      http.get(`${ORIGIN}/*`, async () => {
        await delay("infinite");
        return HttpResponse.text("never");
      }),
    );
    const controller = new AbortController();
    const loading = Promise.resolve(
      httpOriginLoader(`${ORIGIN}/users/{key}`)("k", { namespace: "users", signal: controller.signal }),
    );
    setTimeout(() => controller.abort(new Error("deadline")), 20);
    const outcome = await Promise.race([
      loading.then(
        () => "resolved",
        () => "rejected",
      ),
      delay(5_000).then(() => "still pending"),
    ]);
    expect(outcome).toBe("rejected");
  });
});

describe("URL template", () => {
  it("percent-encodes {key} as one path segment", async () => {
    const urls = origin(200, "v");
    const load = httpOriginLoader(`${ORIGIN}/items/{key}`);
    await load("a b/c?d", context());
    await load("é#%&+", context());
    await load("日本", context());
    expect(urls.map((url) => new URL(url).pathname)).toEqual([
      "/items/a%20b%2Fc%3Fd",
      "/items/%C3%A9%23%25%26%2B",
      "/items/%E6%97%A5%E6%9C%AC",
    ]);
    expect(urls.every((url) => new URL(url).search === "")).toBe(true);
  });

  it("percent-encodes {namespace}, and replaces every occurrence", async () => {
    const urls = origin(200, "v");
    await httpOriginLoader(`${ORIGIN}/{namespace}/{key}/{key}`)("x/y", context("users.v2"));
    expect(new URL(urls[0] as string).pathname).toBe("/users.v2/x%2Fy/x%2Fy");
  });

  it("a key in the query string arrives whole", async () => {
    const urls = origin(200, "v");
    const key = "a&b=c d/e?f#g";
    await httpOriginLoader(`${ORIGIN}/lookup?ns={namespace}&key={key}`)(key, context("users"));
    const url = new URL(urls[0] as string);
    expect(url.pathname).toBe("/lookup");
    expect(url.searchParams.get("key")).toBe(key);
    expect(url.searchParams.get("ns")).toBe("users");
  });

  it("refuses the keys '.' and '..' as path segments (fetch would load another URL)", async () => {
    const urls = origin(200, "v");
    const load = httpOriginLoader(`${ORIGIN}/items/{key}`);
    await expect(load(".", context())).rejects.toBeInstanceOf(LoadFailedError);
    await expect(load("..", context())).rejects.toBeInstanceOf(LoadFailedError);
    expect(urls).toEqual([]);
    // In the query string they are ordinary values.
    await httpOriginLoader(`${ORIGIN}/lookup?key={key}`)("..", context());
    expect(new URL(urls[0] as string).searchParams.get("key")).toBe("..");
  });

  it.each([
    ["no {key}", `${ORIGIN}/items/fixed`],
    ["not a URL", "not a url/{key}"],
    ["a relative path", "/items/{key}"],
    ["not http(s)", "ftp://origin.test/{key}"],
    ["a file URL", "file:///tmp/{key}"],
  ])("refuses a template with %s", (_label, template) => {
    expect(() => httpOriginLoader(template)).toThrow(TypeError);
  });

  it("accepts https templates and {key} anywhere", () => {
    expect(() => httpOriginLoader("https://api.example.com/v1/{namespace}/items/{key}.json")).not.toThrow();
    expect(() => httpOriginLoader("http://127.0.0.1:8080/?id={key}")).not.toThrow();
  });
});
