/**
 * A loader that reads keys from an HTTP data source, for `--origin
 * NS=URL-TEMPLATE`: origin 200 is the value (body bytes), 404 is "no such
 * key", anything else, or no answer within the load timeout, is a load
 * failure. Uses global fetch, so the caller's AbortSignal cancels it.
 */
import { LoadFailedError } from "../shared/errors.js";
import type { Loader } from "./namespace.js";

export interface HttpOriginOptions {
  /** Extra request headers sent to the origin (e.g. an API key). */
  headers?: Record<string, string>;
}

/**
 * Builds a loader from a URL template; `{key}` and `{namespace}` are replaced
 * by their percent-encoded values. The namespace's `loadTimeoutMs` bounds
 * each call through the signal it passes.
 */
export function httpOriginLoader(template: string, options: HttpOriginOptions = {}): Loader {
  if (!template.includes("{key}")) throw new TypeError(`the origin template must contain {key}: ${template}`);
  const probe = template.replaceAll("{key}", "k").replaceAll("{namespace}", "ns");
  let parsed: URL;
  try {
    parsed = new URL(probe);
  } catch {
    throw new TypeError(`the origin template is not a URL: ${template}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new TypeError(`the origin template must be an http(s) URL: ${template}`);
  }
  const query = template.indexOf("?");
  const keyInPath = query === -1 || template.indexOf("{key}") < query;
  return async (key, { namespace, signal }) => {
    // fetch collapses "." and ".." path segments (even percent-encoded), so
    // such a key would silently load another URL.
    if (keyInPath && (key === "." || key === "..")) {
      throw new LoadFailedError(`the key ${JSON.stringify(key)} cannot be a path segment of an origin URL`);
    }
    const url = template
      .replaceAll("{key}", encodeURIComponent(key))
      .replaceAll("{namespace}", encodeURIComponent(namespace));
    const res = await fetch(url, { signal, headers: options.headers });
    if (res.status === 200) return new Uint8Array(await res.arrayBuffer());
    // Drain the body so the connection can be reused.
    await res.arrayBuffer().catch(() => undefined);
    if (res.status === 404) return undefined;
    throw new LoadFailedError(`origin answered HTTP ${res.status} for ${namespace}/${key}`);
  };
}
