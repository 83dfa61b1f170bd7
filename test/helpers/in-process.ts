/**
 * Several real nodes in the test process, on 127.0.0.1, that know each
 * other. Each binds port 0 and names itself by the port it got; once all
 * listen, each is given the full member list (`setPeers`).
 */
import { type BurrowNode, createNode, type NamespaceOptions, type NodeOptions } from "../../node/index.js";
import { HashRing } from "../../shared/ring.js";

export interface InProcessNodes {
  nodes: BurrowNode[];
  /** Node ids, `http://127.0.0.1:<port>`, also their base URLs. */
  ids: string[];
  /** A key, `${prefix}<n>`, owned by the node with id `owner`. */
  keyOwnedBy(owner: string, prefix: string): string;
  close(): Promise<void>;
}

type SharedOptions = Omit<NodeOptions, "self" | "peers">;

/**
 * Starts `count` nodes with the same options (each with its own id and the
 * full member list). `options(self)` is given each node's id; the id is only
 * known once the node listens, so loaders come from a second call made then
 * (the first, with `self` empty, gives every other option, which cannot
 * wait for the port).
 */
export async function startNodes(
  count: number,
  options: (self: string) => SharedOptions,
): Promise<InProcessNodes> {
  const ids: string[] = new Array(count).fill("");
  const nodes = ids.map((_, i) => createNode(loadersByIdOnceKnown(options, () => ids[i] as string)));
  try {
    const bound = await Promise.all(nodes.map((node) => node.listen(0)));
    bound.forEach(({ id }, i) => {
      ids[i] = id;
    });
    // One node takes the list and sends it to the others.
    const unreached = await (nodes[0] as BurrowNode).setPeers(ids);
    if (unreached.length > 0) throw new Error(`the member list did not reach ${unreached.join(", ")}`);
  } catch (err) {
    await Promise.all(nodes.map((node) => node.close()));
    throw err;
  }
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

/** `options("")`, with each namespace's loader taken from `options(id())` at its first call. */
function loadersByIdOnceKnown(options: (self: string) => SharedOptions, id: () => string): SharedOptions {
  const draft = options("");
  let final: SharedOptions | undefined;
  const namespaces: Record<string, NamespaceOptions> = {};
  for (const [name, ns] of Object.entries(draft.namespaces)) {
    namespaces[name] = {
      ...ns,
      load: (key, ctx) => {
        final ??= options(id());
        const load = final.namespaces[name]?.load ?? ns.load;
        return load(key, ctx);
      },
    };
  }
  return { ...draft, namespaces };
}
