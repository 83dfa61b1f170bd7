/** Reading requests and writing answers: the node's wire helpers, kept free of cache logic. */
import type { IncomingMessage, ServerResponse } from "node:http";
import { BadRequestError, type BurrowError, PayloadTooLargeError } from "../shared/errors.js";
import { CONTENT_TYPE_JSON } from "../shared/protocol.js";

/** Reads a request body, refusing (413) anything over `limitBytes`. */
export async function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > limitBytes) {
    throw new PayloadTooLargeError(`the body is ${declared} bytes; this route accepts at most ${limitBytes}`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > limitBytes) throw new PayloadTooLargeError(`the body is larger than ${limitBytes} bytes`);
      chunks.push(chunk);
    }
  } catch (err) {
    if (err instanceof PayloadTooLargeError) throw err;
    // The client hung up mid-body: its fault, not the node's (not reported as an internal error).
    throw new BadRequestError("the connection closed before the whole body arrived", { cause: err });
  }
  return chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
}

/** Decodes one percent-encoded path segment; malformed encoding is a 400. */
export function decodeSegment(segment: string, what: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new BadRequestError(`the ${what} has malformed percent-encoding`);
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": CONTENT_TYPE_JSON, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(
  res: ServerResponse,
  error: BurrowError,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  // A refused body may still be arriving: close the connection rather than read it.
  if (error.status === 413) res.setHeader("connection", "close");
  sendJson(res, error.status, error.toJSON());
}
