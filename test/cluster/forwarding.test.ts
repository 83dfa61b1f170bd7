/** Plain HTTP against any node of a real three-node cluster: routing, forwarding, one load per key. */
import { request } from "node:http";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HashRing } from "../../shared/ring.js";
import { startCluster, type TestCluster } from "../helpers/cluster.js";

const PATIENT_PURGES = fileURLToPath(new URL("../fixtures/patient-purges.config.ts", import.meta.url));

let cluster: TestCluster;

beforeAll(async () => {
  // Writes here must purge every peer (no x-burrow-purge-failed, no stale hot copy): give
  // healthy peers time to answer the purge on a loaded machine.
  cluster = await startCluster({ nodes: 3, nodeArgs: ["--config", PATIENT_PURGES] });
});
afterAll(async () => {
  await cluster?.close();
});

function nodeUrl(i: number): string {
  return `http://${cluster.addresses[i]}`;
}

function get(i: number, ns: string, key: string, init?: RequestInit): Promise<Response> {
  return fetch(`${nodeUrl(i)}/_burrow/${ns}/${encodeURIComponent(key)}`, init);
}

describe("plain HTTP against any node", () => {
  it("answers 1,000 keys from random nodes with the right value and owner", async () => {
    const ring = new HashRing(cluster.ids);
    const keys = Array.from({ length: 1000 }, (_, i) => `user-${i}`);
    for (let start = 0; start < keys.length; start += 50) {
      await Promise.all(
        keys.slice(start, start + 50).map(async (key) => {
          const res = await get(Math.floor(Math.random() * 3), "users", key);
          expect(res.status).toBe(200);
          expect(res.headers.get("x-burrow-owner")).toBe(ring.ownerOf(key));
          expect(await res.text()).toBe(`value:users:${key}`);
        }),
      );
    }
    // Every key was loaded exactly once, by its owner.
    for (const key of keys) expect(cluster.origin.loads("users", key)).toBe(1);
  });

  it("loads a cold key once when 200 concurrent GETs hit all three nodes", async () => {
    // The origin holds "slow" keys for 3 s, so every GET arrives while the load is in flight.
    const key = "slow-stampede";
    const answers = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const res = await get(i % 3, "items", key);
        return [res.status, await res.text()] as const;
      }),
    );
    for (const [status, body] of answers) {
      expect(status).toBe(200);
      expect(body).toBe(`value:items:${key}`);
    }
    expect(cluster.origin.loads("items", key)).toBe(1);
  });

  it("reloads a key after DELETE, from whichever node it is asked", async () => {
    const key = "deleted-then-read";
    expect(await (await get(0, "users", key)).text()).toBe(`value:users:${key}`);
    expect(await (await get(1, "users", key)).text()).toBe(`value:users:${key}`);
    expect(cluster.origin.loads("users", key)).toBe(1);
    const del = await fetch(`${nodeUrl(2)}/_burrow/users/${key}`, { method: "DELETE" });
    expect(del.status).toBe(204);
    expect(del.headers.get("x-burrow-purge-failed")).toBeNull();
    for (let i = 0; i < 3; i++) expect(await (await get(i, "users", key)).text()).toBe(`value:users:${key}`);
    expect(cluster.origin.loads("users", key)).toBe(2);
  });

  it("serves a PUT value from every node at once, purging hot copies", async () => {
    const key = "put-then-read";
    // Warm hot copies on every node.
    for (let i = 0; i < 3; i++) expect(await (await get(i, "users", key)).text()).toBe(`value:users:${key}`);
    const put = await fetch(`${nodeUrl(1)}/_burrow/users/${key}`, {
      method: "PUT",
      body: "fresh",
      headers: { "x-burrow-ttl-ms": "60000" },
    });
    expect(put.status).toBe(204);
    for (let i = 0; i < 3; i++) expect(await (await get(i, "users", key)).text()).toBe("fresh");
  });

  it("round-trips keys with reserved characters and Unicode", async () => {
    for (const key of ["a b/c,d", "ключ/ü?x=1#y", "🦡 burrow", "%41", "...", ".x"]) {
      for (let i = 0; i < 3; i++) {
        const res = await get(i, "items", key);
        expect(res.status).toBe(200);
        expect(await res.text()).toBe(`value:items:${key}`);
      }
      expect(cluster.origin.loads("items", key)).toBe(1);
    }
  });

  it("stores and serves the keys '.' and '..' for clients that send the path as it is", async () => {
    // URL parsers (fetch, browsers, curl without --path-as-is) collapse these
    // segments; node:http with a raw path and the Burrow client send it untouched.
    const send = (method: string, i: number, key: string, body?: string) =>
      new Promise<[number, string]>((resolve, reject) => {
        const [host, port] = (cluster.addresses[i] as string).split(":");
        const req = request({ host, port, method, path: `/_burrow/items/${key}` }, (res) => {
          let text = "";
          res.on("data", (chunk: Buffer) => {
            text += chunk.toString();
          });
          res.on("end", () => resolve([res.statusCode ?? 0, text]));
        });
        req.on("error", reject);
        req.end(body);
      });
    for (const key of [".", ".."]) {
      expect((await send("PUT", 0, key, `dots ${key}`))[0]).toBe(204);
      for (let i = 0; i < 3; i++) expect(await send("GET", i, key)).toEqual([200, `dots ${key}`]);
    }
  });

  it("answers 404 for a key the origin does not have, and remembers it", async () => {
    for (let i = 0; i < 3; i++) {
      const res = await get(i, "users", "missing-1");
      expect(res.status).toBe(404);
      expect(await res.json()).toMatchObject({ error: "not_found" });
    }
    expect(cluster.origin.loads("users", "missing-1")).toBe(1);
  });

  it("answers 502 load_failed with the reason when the origin fails, and does not cache it", async () => {
    for (let i = 0; i < 2; i++) {
      const res = await get(0, "users", "fail-1");
      expect(res.status).toBe(502);
      const body = (await res.json()) as { error: string; message: string };
      expect(body.error).toBe("load_failed");
      expect(body.message).toContain("500");
    }
    expect(cluster.origin.loads("users", "fail-1")).toBe(2);
  });

  it("answers many keys in one batch request with per-key results", async () => {
    const { encodeBatchRequest, decodeBatchResponse, BATCH_VALUE, BATCH_NOT_FOUND, BATCH_ERROR } =
      await import("../../shared/protocol.js");
    const keys = ["b-1", "b-2", "missing-b", "fail-b", ...Array.from({ length: 50 }, (_, i) => `batch-${i}`)];
    const res = await fetch(`${nodeUrl(0)}/_burrow/_batch/items`, {
      method: "POST",
      body: encodeBatchRequest(keys),
      headers: { "content-type": "application/x-burrow-batch" },
    });
    expect(res.status).toBe(200);
    const results = decodeBatchResponse(Buffer.from(await res.arrayBuffer()));
    expect(results).toHaveLength(keys.length);
    keys.forEach((key, i) => {
      const result = results[i];
      if (key.startsWith("missing")) expect(result?.status).toBe(BATCH_NOT_FOUND);
      else if (key.startsWith("fail")) {
        expect(result).toMatchObject({ status: BATCH_ERROR, error: { error: "load_failed" } });
      } else {
        expect(result?.status).toBe(BATCH_VALUE);
        if (result?.status === BATCH_VALUE)
          expect(Buffer.from(result.value).toString()).toBe(`value:items:${key}`);
      }
    });
    for (const key of keys.filter((k) => !k.startsWith("fail")))
      expect(cluster.origin.loads("items", key)).toBe(1);
  });
});
