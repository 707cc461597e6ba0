import type { Readable } from 'node:stream';

/** Reads a request stream to its end; undefined as soon as it exceeds `limitBytes`. */
export async function readBody(stream: Readable, limitBytes: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    size += buffer.length;
    // Stop buffering at the limit; the rest is drained and dropped, never held in memory.
    if (size > limitBytes) {
      stream.resume();
      return undefined;
    }
    chunks.push(buffer);
  }
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
}
