/**
 * Namespaces of the wire benchmark's nodes (`burrow node --config`): values
 * come from SETs, so the loaders find nothing. `bench` holds the SDK's keys
 * (`bench:k000123`, the same bytes the Redis reference reads); `key` holds
 * redis-benchmark's (`key:000000001234`).
 */
const nothing = async () => undefined;

export const namespaces = {
  bench: { maxBytes: 64 << 20, load: nothing },
  key: { maxBytes: 64 << 20, load: nothing },
};
