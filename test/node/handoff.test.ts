/**
 * A key that just moved to this node (the members changed) is asked of its
 * previous owner before it is loaded: one peek, shared by every waiting
 * read, and a load only when the previous owner holds nothing.
 */
import { describe, expect, it } from "vitest";
import { Namespace } from "../../node/namespace.js";
import { FakeCluster, found } from "../helpers/fake-peers.js";

const text = (bytes: Uint8Array | undefined) => new TextDecoder().decode(bytes);

function setup(held: (member: string, key: string) => ReturnType<typeof found> | undefined) {
  let loads = 0;
  const fake = new FakeCluster({
    members: ["self", "old"],
    previousOwners: (key) => (key.startsWith("moved-") ? "old" : undefined),
    held,
  });
  const ns = new Namespace(
    "n",
    {
      load: (key) => {
        loads++;
        return `loaded ${key}`;
      },
    },
    fake,
  );
  return { ns, fake, loads: () => loads };
}

describe("a key that moved here", () => {
  it("is taken from its previous owner, once for every waiting read, and kept", async () => {
    const { ns, fake, loads } = setup((member, key) =>
      member === "old" ? found(`old's ${key}`, 5000) : undefined,
    );
    const answers = await Promise.all([ns.read("moved-1"), ns.read("moved-1"), ns.read("moved-1")]);
    expect(answers.map((a) => text(a.value))).toEqual(Array(3).fill("old's moved-1"));
    expect(answers[0]?.ttlMs).toBeLessThanOrEqual(5000);
    expect(fake.peeks).toEqual([{ member: "old", key: "moved-1" }]);
    expect(loads()).toBe(0);
    expect(ns.stats()).toMatchObject({ handoffs: 1, loads: 0, items: 1 });
    expect(text((await ns.read("moved-1")).value)).toBe("old's moved-1");
    expect(fake.peeks).toHaveLength(1);
  });

  it("is loaded when the previous owner holds nothing (or did not answer)", async () => {
    const { ns, fake, loads } = setup(() => undefined);
    expect(text((await ns.read("moved-2")).value)).toBe("loaded moved-2");
    expect(fake.peeks).toHaveLength(1);
    expect(loads()).toBe(1);
    expect(ns.stats()).toMatchObject({ handoffs: 0, loads: 1 });
  });

  it("is not asked for when no previous owner is named (members did not change)", async () => {
    const { ns, fake, loads } = setup(() => found("never"));
    expect(text((await ns.read("stayed-1")).value)).toBe("loaded stayed-1");
    expect(fake.peeks).toEqual([]);
    expect(loads()).toBe(1);
  });

  it("answers a peek from the main store only: never loads, and says nothing for a missing or absent key", async () => {
    const { ns, loads } = setup(() => undefined);
    expect(ns.peek("cold").value).toBeUndefined();
    await ns.read("stayed-2");
    expect(text(ns.peek("stayed-2").value)).toBe("loaded stayed-2");
    expect(loads()).toBe(1);
  });
});
