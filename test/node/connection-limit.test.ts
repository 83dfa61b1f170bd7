/**
 * A node keeps at most maxConnections open: a flood of idle sockets is
 * closed as it arrives instead of using up the process's file descriptors,
 * and the node serves again as soon as the flood ends.
 */
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { type BurrowNode, createNode } from "../../node/index.js";

const LIMIT = 20;
const FLOOD = 50;
let node: BurrowNode | undefined;
const sockets: Socket[] = [];

afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.destroy();
  await node?.close();
  node = undefined;
});

/** Opens a socket that sends nothing; resolves once connected, with a promise of its close. */
function idle(port: number): Promise<{ closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    sockets.push(socket);
    const closed = new Promise<void>((done) => socket.once("close", () => done()));
    socket.once("connect", () => resolve({ closed }));
    socket.once("error", (err) => {
      // A socket the node closes at once may reset: it counts as closed.
      if ((err as NodeJS.ErrnoException).code !== "ECONNRESET") reject(err);
    });
  });
}

describe("maxConnections", () => {
  it("closes connections past the limit at once, keeps the others, and serves again after", async () => {
    node = createNode({ maxConnections: LIMIT, namespaces: { users: { load: async (key) => `v:${key}` } } });
    const { port } = await node.listen(0);
    const opened = [];
    for (let i = 0; i < FLOOD; i++) opened.push(await idle(port));
    // The ones past the limit are closed by the node, well before the first-line timeout (10 s).
    const closedSoon = await Promise.all(
      opened.map((s) =>
        Promise.race([
          s.closed.then(() => true),
          new Promise<boolean>((r) => setTimeout(() => r(false), 2000)),
        ]),
      ),
    );
    expect(closedSoon.filter(Boolean)).toHaveLength(FLOOD - LIMIT);
    expect(closedSoon.slice(0, LIMIT).every((closed) => !closed)).toBe(true);
    for (const socket of sockets.splice(0)) socket.destroy();
    // Served again once the flood is gone (bounded wait: the node notices the closes).
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = await fetch(`http://127.0.0.1:${port}/_burrow/users/a`)
        .then((r) => r.status)
        .catch(() => 0);
      if (status !== 200) await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe(200);
  });

  it("refuses a limit that is not a whole number >= 1", () => {
    expect(() => createNode({ maxConnections: 0, namespaces: { users: { load: async () => "v" } } })).toThrow(
      /maxConnections/,
    );
  });
});
