/** The root entry: the client SDK, the node, and the shared contract. */

export type {
  BurrowClientOptions,
  CallOptions,
  ClientStats,
  NearCacheOptions,
  NodeStats,
  SetOptions,
} from "./client/index.js";
export { BurrowClient, type BurrowClientEvents } from "./client/index.js";
export * from "./node/index.js";
export * from "./shared/index.js";
