/**
 * A hand-written HTTP/2 client side, frame by frame (RFC 9113 4.1), for attacks node:http2's
 * client cannot make: a request head split over CONTINUATION frames and trickled, a frame left
 * half sent, a connection that stops reading. Header blocks use HPACK literals without indexing
 * and without Huffman coding (RFC 7541 6.2.2), so any block is a plain concatenation.
 */

import type { TLSSocket } from 'node:tls';
import { tlsSocket } from './tls.js';

export const FRAME = {
  DATA: 0,
  HEADERS: 1,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
};
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 };

/** One frame: the 9-byte header and its payload. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

/** An HPACK integer with an N-bit prefix (RFC 7541 5.1); `first` holds the bits above the prefix. */
function hpackInteger(value: number, prefixBits: number, first = 0): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [first | value];
  const bytes = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return bytes;
}

function hpackString(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  return Buffer.concat([Buffer.from(hpackInteger(bytes.length, 7)), bytes]);
}

/** A header block: every field a literal without indexing, new name. */
export function headerBlock(fields: Array<[string, string]>): Buffer {
  return Buffer.concat(fields.flatMap(([name, value]) => [Buffer.from([0]), hpackString(name), hpackString(value)]));
}

/** A SETTINGS payload from [identifier, value] pairs. */
export function settings(entries: Array<[number, number]>): Buffer {
  const payload = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], index) => {
    payload.writeUInt16BE(id, index * 6);
    payload.writeUInt32BE(value, index * 6 + 2);
  });
  return payload;
}

export function windowUpdate(streamId: number, increment: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(increment, 0);
  return frame(FRAME.WINDOW_UPDATE, 0, streamId, payload);
}

/** The largest flow-control window (RFC 9113 6.9.1). */
export const MAX_WINDOW = 2 ** 31 - 1;

/**
 * Opens an h2 connection over TLS, sends the preface and `initialSettings`, and resolves once the
 * server's SETTINGS have arrived and been acknowledged. `received` collects what the server sends.
 */
export async function rawH2(
  port: number,
  ca: Buffer,
  initialSettings: Array<[number, number]> = [],
): Promise<{ socket: TLSSocket; received: () => Buffer }> {
  const socket = await tlsSocket(port, ca, { alpn: ['h2'] });
  if (socket.alpnProtocol !== 'h2') throw new Error(`server did not select h2 (got ${socket.alpnProtocol})`);
  socket.on('error', () => {});
  const chunks: Buffer[] = [];
  let serverSettingsSeen = false;
  let resolveSettings: () => void = () => {};
  const settingsSeen = new Promise<void>((resolve) => {
    resolveSettings = resolve;
  });
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    if (serverSettingsSeen) return;
    // The server's first frame is its SETTINGS (RFC 9113 3.4).
    const all = Buffer.concat(chunks);
    if (all.length >= 9 && all[3] === FRAME.SETTINGS) {
      serverSettingsSeen = true;
      resolveSettings();
    }
  });
  socket.write(
    Buffer.concat([
      Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
      frame(FRAME.SETTINGS, 0, 0, settings(initialSettings)),
    ]),
  );
  await settingsSeen;
  socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
  return { socket, received: () => Buffer.concat(chunks) };
}

/** The header block of a GET of `path` from localhost:`port` over https, and `extra` fields after it. */
export function getHead(port: number, path: string, extra: Array<[string, string]> = []): Buffer {
  return headerBlock([
    [':method', 'GET'],
    [':scheme', 'https'],
    [':path', path],
    [':authority', `localhost:${port}`],
    ...extra,
  ]);
}

/** A GET of `path` (one HEADERS frame, END_HEADERS and END_STREAM) on each of `streamIds`. */
export function getRequests(port: number, path: string, streamIds: number[]): Buffer {
  return Buffer.concat(
    streamIds.map((streamId) =>
      frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, streamId, getHead(port, path)),
    ),
  );
}

/** The frames of `type` the server sent on `streamId` (in `all`, what it sent), as [flags, payload]. */
export function framesOf(all: Buffer, type: number, streamId: number): Array<[number, Buffer]> {
  const found: Array<[number, Buffer]> = [];
  for (let at = 0; at + 9 <= all.length; at += 9 + all.readUIntBE(at, 3)) {
    if (all[at + 3] === type && all.readUInt32BE(at + 5) === streamId) {
      found.push([all[at + 4] ?? 0, all.subarray(at + 9, at + 9 + all.readUIntBE(at, 3))]);
    }
  }
  return found;
}

/**
 * Trickles a request head on stream 1 until the server closes the connection: `before` (frames
 * sent first), a HEADERS frame with the first 40 bytes of a 16 KB head (no END_HEADERS), and the
 * first 10 bytes of one CONTINUATION frame announcing the rest, then a byte of it every 100 ms
 * (nghttp2 1.61 answers PROTOCOL_ERROR to a CONTINUATION frame header read without any of its
 * payload, so a trickle byte by byte from the start ends at once). Resolves with how many bytes of
 * the CONTINUATION frame were sent, and its length.
 */
export async function trickleHead(
  socket: TLSSocket,
  port: number,
  before: Buffer = Buffer.alloc(0),
): Promise<{ sent: number; length: number }> {
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const block = getHead(port, '/healthz', [['x-padding', 'p'.repeat(16_000)]]);
  const continuation = frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1, block.subarray(40));
  socket.write(
    Buffer.concat([
      before,
      frame(FRAME.HEADERS, FLAG.END_STREAM, 1, block.subarray(0, 40)),
      continuation.subarray(0, 10),
    ]),
  );
  let sent = 10;
  const timer = setInterval(() => {
    if (socket.destroyed || sent >= continuation.length) return clearInterval(timer);
    socket.write(continuation.subarray(sent, sent + 1));
    sent++;
  }, 100);
  await closed;
  clearInterval(timer);
  return { sent, length: continuation.length };
}
