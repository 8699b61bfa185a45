import { request as httpRequest, type IncomingMessage } from 'node:http';

/**
 * Requests sent from a chosen loopback source address: 127.0.0.2, 127.0.0.3, ... (Linux routes all
 * of 127/8 to lo), bound as the client's local address, so the server sees them as the TCP peer.
 * By default only 127.0.0.1 and ::1 are trusted proxies, so any other 127.x peer is an untrusted
 * client: the address-based throttles can be tested without spoofable headers.
 */

/** What came back: the status, the headers and the JSON body (`{ text }` when it was not JSON). */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

/** Sends one request from `source` on its own TCP connection (no keep-alive agent). */
export function requestFrom(
  source: string,
  url: string | URL,
  options: { method: string; headers: Record<string, string | number>; body?: string },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      url,
      { method: options.method, localAddress: source, agent: false, headers: options.headers },
      (response) => {
        readAnswer(response).then(resolve, reject);
      },
    );
    req.once('error', reject);
    req.end(options.body);
  });
}

/** Reads an answer whole: its status, headers and JSON body (`{ text }` when it was not JSON). */
export function readAnswer(response: IncomingMessage): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let text = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => {
      text += chunk;
    });
    response.on('error', reject);
    response.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
      } catch {
        body = { text };
      }
      resolve({ status: response.statusCode ?? 0, headers: response.headers, body });
    });
  });
}
