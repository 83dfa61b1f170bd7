/**
 * A client that hangs up halfway through its request is the client's fault:
 * the node reports nothing as its own error and keeps serving.
 */
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type BurrowNode, createNode } from "../../node/index.js";

let node: BurrowNode;
let port: number;
const reported: unknown[] = [];

beforeAll(async () => {
  node = createNode({
    onError: (err) => reported.push(err),
    namespaces: { users: { load: async (key) => `v:${key}` } },
  });
  ({ port } = await node.listen(0));
});
afterAll(async () => {
  await node.close();
});

/** Sends `text` on a fresh connection, then hangs up without waiting for an answer. */
function sendAndHangUp(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.write(text, () => {
        // Give the node a moment to start reading the body, then cut the connection.
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 50);
      });
    });
    socket.on("error", reject);
  });
}

describe("client faults", () => {
  it("an upload dropped halfway (HTTP PUT and batch) is not reported as a node error", async () => {
    for (let i = 0; i < 5; i++) {
      await sendAndHangUp(
        `PUT /_burrow/users/k${i} HTTP/1.1\r\nHost: x\r\ncontent-length: 100000\r\n\r\n${"x".repeat(1000)}`,
      );
      await sendAndHangUp(
        `POST /_burrow/users/_batch HTTP/1.1\r\nHost: x\r\ncontent-length: 5000\r\n\r\n\x00\x00`,
      );
    }
    // The node saw the hang-ups (a later request is served), and reported none of them.
    const res = await fetch(`http://127.0.0.1:${port}/_burrow/users/after`);
    expect(await res.text()).toBe("v:after");
    await new Promise((r) => setTimeout(r, 100));
    expect(reported).toEqual([]);
    expect((await fetch(`http://127.0.0.1:${port}/_burrow/users/k0`)).status).toBe(200);
  });
});
