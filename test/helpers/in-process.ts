/** Several real nodes in the test process, on 127.0.0.1 ports, that know each other. */
import { type BurrowNode, createNode, type NodeOptions } from "../../node/index.js";
import { HashRing } from "../../shared/ring.js";
import { freePorts } from "./cluster.js";

export interface InProcessNodes {
  nodes: BurrowNode[];
  /** Node ids, `http://127.0.0.1:<port>`, also their base URLs. */
  ids: string[];
  /** A key, `${prefix}<n>`, owned by the node with id `owner`. */
  keyOwnedBy(owner: string, prefix: string): string;
  close(): Promise<void>;
}

/** Starts `count` nodes with the same options (each gets its own self and the full peer list). */
export async function startNodes(
  count: number,
  options: (self: string) => Omit<NodeOptions, "self" | "peers">,
): Promise<InProcessNodes> {
  const ports = await freePorts(count);
  const ids = ports.map((p) => `http://127.0.0.1:${p}`);
  const nodes = ids.map((self) => createNode({ ...options(self), self, peers: ids }));
  await Promise.all(nodes.map((node, i) => node.listen(ports[i])));
  const ring = new HashRing(ids);
  return {
    nodes,
    ids,
    keyOwnedBy(owner, prefix) {
      for (let i = 0; i < 100_000; i++) if (ring.ownerOf(`${prefix}${i}`) === owner) return `${prefix}${i}`;
      throw new Error(`no key with prefix ${prefix} is owned by ${owner}`);
    },
    close: async () => {
      await Promise.all(nodes.map((node) => node.close()));
    },
  };
}
