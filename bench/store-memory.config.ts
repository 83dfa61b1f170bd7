/**
 * The namespace of the store memory benchmark's node (`burrow node
 * --config`): values come only from SETs (the loader finds nothing), and
 * entries stay until evicted. The benchmark gives the budget with
 * `--max-bytes`, which overrides the 256 MiB here.
 */
const nothing = async () => undefined;

export const namespaces = {
  bench: { maxBytes: 256 << 20, ttlMs: 0, load: nothing },
};
