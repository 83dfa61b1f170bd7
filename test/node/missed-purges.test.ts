/**
 * A purge a peer missed (it was down, or did not answer in time) is sent to
 * it again, with the write's stamp, once the peer is seen up: a copy it
 * held does not outlive the write by hotTtlMs.
 */
import { describe, expect, it } from "vitest";
import { Membership } from "../../node/membership.js";
import { PeerClient } from "../../node/peer-client.js";
import type { NodeLinks } from "../../shared/node-link.js";

interface SentPurge {
  peer: string;
  key: string;
  stamp: number | undefined;
}

/** Links whose purges of the peers in `away` fail, and whose others succeed; every purge is recorded. */
function fakeLinks(away: Set<string>, sent: SentPurge[]): NodeLinks {
  const links = {
    purge: async (
      peer: string,
      _namespace: string,
      key: string,
      options: { order?: { stamp: number; applyBy: number } },
    ) => {
      sent.push({ peer, key, stamp: options.order?.stamp });
      if (away.has(peer)) throw new Error("no answer");
    },
  };
  return links as unknown as NodeLinks;
}

function setup() {
  const membership = new Membership("http://self:1", ["http://self:1", "http://b:1", "http://c:1"], {});
  const away = new Set<string>();
  const sent: SentPurge[] = [];
  const client = new PeerClient({
    links: fakeLinks(away, sent),
    membership,
    forwardTimeoutMs: 1000,
    forwardPollMs: 100,
    forwardWaitMs: 5000,
    purgeTimeoutMs: 300,
    isAlive: async () => true,
  });
  return { membership, away, sent, client };
}

/** Lets the purges sent from an event handler run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

describe("purges a peer missed", () => {
  it("are sent again with their stamps when it is seen up, and only to it", async () => {
    const { membership, away, sent, client } = setup();
    away.add("http://b:1");
    expect(await client.purge(["http://b:1", "http://c:1"], "n", "k1", 101)).toEqual(["http://b:1"]);
    membership.health.recordConnectionError("http://b:1");
    // Known down now: not even tried, remembered all the same.
    expect(await client.purge(["http://b:1", "http://c:1"], "n", "k2", 102)).toEqual(["http://b:1"]);
    expect(client.missedPurges).toBe(2);
    away.delete("http://b:1");
    sent.length = 0;
    membership.health.recordHealthyProbe("http://b:1");
    membership.health.recordHealthyProbe("http://b:1");
    await settle();
    expect(sent).toEqual([
      { peer: "http://b:1", key: "k1", stamp: 101 },
      { peer: "http://b:1", key: "k2", stamp: 102 },
    ]);
    expect(client.missedPurges).toBe(0);
  });

  it("keep the latest stamp per key, and are kept again when the resend is missed too", async () => {
    const { membership, away, sent, client } = setup();
    away.add("http://b:1");
    await client.purge(["http://b:1"], "n", "k", 1);
    await client.purge(["http://b:1"], "n", "k", 2);
    expect(client.missedPurges).toBe(1);
    membership.health.recordConnectionError("http://b:1");
    membership.health.recordHealthyProbe("http://b:1");
    membership.health.recordHealthyProbe("http://b:1");
    await settle();
    expect(sent.at(-1)).toEqual({ peer: "http://b:1", key: "k", stamp: 2 });
    expect(client.missedPurges).toBe(1); // b did not answer the resend either
  });

  it("are dropped for a peer that left the member list", async () => {
    const { membership, away, sent, client } = setup();
    away.add("http://b:1");
    await client.purge(["http://b:1"], "n", "k", 1);
    membership.health.recordConnectionError("http://b:1");
    membership.replace(["http://self:1", "http://c:1"]);
    sent.length = 0;
    membership.health.add("http://b:1", "down");
    membership.health.recordHealthyProbe("http://b:1");
    membership.health.recordHealthyProbe("http://b:1");
    await settle();
    expect(sent).toEqual([]);
    expect(client.missedPurges).toBe(0);
  });

  it("of peers that left are forgotten when another peer misses one", async () => {
    const { membership, away, client } = setup();
    away.add("http://b:1");
    away.add("http://c:1");
    await client.purge(["http://b:1"], "n", "k", 1);
    membership.replace(["http://self:1", "http://c:1"]);
    await client.purge(["http://c:1"], "n", "k", 2);
    expect(client.missedPurges).toBe(1);
  });
});
