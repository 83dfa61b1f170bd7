/**
 * Tokens between the SDK and a real node: a node that needs one and is
 * given none or a wrong one is named with what to set; a client given a
 * token talks to a node that has none (as Redis clients do with a password
 * the server does not need).
 */
import { afterEach, describe, expect, it } from "vitest";
import { BurrowClient, UnauthorizedError } from "../../client/index.js";
import { type BurrowNode, createNode } from "../../node/index.js";
import { rejection } from "../helpers/rejection.js";

const opened: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((it) => it.close()));
});

async function node(authToken?: string): Promise<BurrowNode> {
  const started = createNode({
    authToken,
    logLevel: "silent",
    namespaces: { users: { load: async (key: string) => `v:${key}` } },
  });
  opened.push(started);
  await started.listen(0);
  return started;
}

function client(servers: string[], authToken?: string): BurrowClient {
  const made = new BurrowClient(servers, { authToken, timeoutMs: 2000, retries: 0 });
  opened.push(made);
  return made;
}

describe("auth tokens", () => {
  it("names what to set when the node needs a token and the client has none", async () => {
    const secured = await node("s3cret");
    const err = await rejection<Error>(client([secured.id]).getString("users", "1"));
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect(err.message).toBe(
      "the node needs an auth token (NOAUTH): give the client authToken (burrow: --auth-token or $BURROW_AUTH_TOKEN)",
    );
  });

  it("says the token was refused when it is wrong", async () => {
    const secured = await node("s3cret");
    const err = await rejection<Error>(client([secured.id], "wrong").getString("users", "1"));
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect(err.message).toMatch(
      /^the node refused the auth token \(WRONGPASS\): check the client's authToken/,
    );
  });

  it("reads from a node without a token when the client has one", async () => {
    const open = await node();
    const withToken = client([open.id], "s3cret");
    expect(await withToken.getString("users", "1")).toBe("v:1");
    await withToken.set("users", "2", "two");
    expect(await withToken.getString("users", "2")).toBe("two");
  });

  it("reads with the right token", async () => {
    const secured = await node("s3cret");
    expect(await client([secured.id], "s3cret").getString("users", "1")).toBe("v:1");
  });
});
