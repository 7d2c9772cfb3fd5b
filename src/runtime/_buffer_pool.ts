// A small pool of large copy buffers, lent to a splice direction only while data flows so that
// idle connections do not each hold 64 KiB per direction.

export interface BufferPool {
  readonly size: number;
  get(): Uint8Array;
  release(b: Uint8Array): void;
}

export function createBufferPool(o: { size: number; keep: number }): BufferPool {
  const free: Uint8Array[] = [];
  return {
    size: o.size,
    get() {
      return free.pop() ?? new Uint8Array(o.size);
    },
    release(b) {
      if (b.byteLength === o.size && free.length < o.keep) free.push(b);
    },
  };
}
