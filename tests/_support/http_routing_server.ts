// A routing endpoint for HTTP provider tests: a real HTTP server on loopback whose answer the
// test sets, which honours ETag/Last-Modified conditional requests and records what it was sent.
import type { HttpHandle, Runtime } from "../../src/runtime/types.ts";

export interface RoutingAnswer {
  /** @default 200 */
  status?: number;
  body?: string | Uint8Array;
  /** Omitted: no Content-Type header. */
  contentType?: string;
  etag?: string;
  lastModified?: string;
  headers?: Record<string, string>;
  /** Send the body as a stream of this many chunks (no Content-Length), e.g. to test max_bytes. */
  chunks?: number;
  /** Send the first half of the body, then nothing more and never finish (a stuck server). */
  hang?: boolean;
}

export interface RecordedRequest {
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** What the server answered */
  readonly status: number;
}

export interface RoutingServer {
  readonly port: number;
  /** http://127.0.0.1:PORT + path */
  url(path?: string): string;
  readonly requests: RecordedRequest[];
  set(a: RoutingAnswer): void;
  /** Stop listening (clients get "connection refused"); the port is kept for up(). */
  down(): Promise<void>;
  /** Listen again on the same port. */
  up(): Promise<void>;
  close(): Promise<void>;
}

function bodyOf(a: RoutingAnswer): BodyInit | null {
  const raw = a.body ?? "";
  const bytes = typeof raw === "string" ? new TextEncoder().encode(raw) : raw;
  if (a.hang) {
    return new ReadableStream<Uint8Array>({
      start(ctl) {
        ctl.enqueue(bytes.slice(0, Math.floor(bytes.byteLength / 2)));
      },
    });
  }
  if (!a.chunks) return bytes as Uint8Array<ArrayBuffer>;
  const n = a.chunks;
  const size = Math.ceil(bytes.byteLength / n);
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(ctl) {
      if (i >= bytes.byteLength) return ctl.close();
      ctl.enqueue(bytes.slice(i, i + size));
      i += size;
    },
  });
}

export async function startRoutingServer(
  rt: Runtime,
  initial: RoutingAnswer = {},
): Promise<RoutingServer> {
  let answer = initial;
  const requests: RecordedRequest[] = [];
  let port = 0;

  function handle(r: Request): Response {
    const headers: Record<string, string> = {};
    r.headers.forEach((v, k) => {
      headers[k] = v;
    });
    const a = answer;
    const h = new Headers(a.headers);
    if (a.contentType !== undefined) h.set("content-type", a.contentType);
    if (a.etag !== undefined) h.set("etag", a.etag);
    if (a.lastModified !== undefined) h.set("last-modified", a.lastModified);
    const inm = r.headers.get("if-none-match");
    const ims = r.headers.get("if-modified-since");
    const notModified = (a.status ?? 200) === 200 &&
      ((a.etag !== undefined && inm === a.etag) ||
        (inm === null && a.lastModified !== undefined && ims === a.lastModified));
    const status = notModified ? 304 : a.status ?? 200;
    requests.push({ path: new URL(r.url).pathname, headers, status });
    if (notModified) {
      h.delete("content-type");
      return new Response(null, { status, headers: h });
    }
    return new Response(bodyOf(a), { status, headers: h });
  }

  let handle_: HttpHandle | undefined = await rt.serveHttp({ host: "127.0.0.1", port: 0 }, handle);
  port = handle_.port;

  return {
    port,
    url: (path = "/routing") => `http://127.0.0.1:${port}${path}`,
    requests,
    set(a) {
      answer = a;
    },
    async down() {
      const h = handle_;
      handle_ = undefined;
      await h?.close({ force: true });
    },
    async up() {
      if (handle_) return;
      handle_ = await rt.serveHttp({ host: "127.0.0.1", port }, handle);
    },
    async close() {
      const h = handle_;
      handle_ = undefined;
      await h?.close({ force: true });
    },
  };
}
