/** The root entry: the node, the shared contract, and (from burrow/client) the SDK. */
export * from "./node/index.js";
export * from "./shared/index.js";
