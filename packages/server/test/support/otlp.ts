import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { trace } from '@opentelemetry/api';

/** One span as an OTLP/HTTP receiver decodes it (ids in hex, as W3C traceparent writes them). */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  kind: number;
  attributes: Record<string, string | number | boolean>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  resource: Record<string, string | number | boolean>;
}

/**
 * A reader of the protobuf wire format, just enough for ExportTraceServiceRequest
 * (opentelemetry/proto/collector/trace/v1/trace_service.proto and trace/v1/trace.proto).
 */
class Reader {
  private position = 0;
  constructor(private readonly bytes: Uint8Array) {}
  get done(): boolean {
    return this.position >= this.bytes.length;
  }
  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = this.bytes[this.position++];
      if (byte === undefined) throw new Error('truncated varint');
      result += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return result;
      shift += 7;
    }
  }
  tag(): { field: number; wire: number } {
    const tag = this.varint();
    return { field: Math.floor(tag / 8), wire: tag & 7 };
  }
  bytesField(): Uint8Array {
    const length = this.varint();
    const slice = this.bytes.subarray(this.position, this.position + length);
    this.position += length;
    return slice;
  }
  string(): string {
    return new TextDecoder().decode(this.bytesField());
  }
  double(): number {
    const view = new DataView(this.bytes.buffer, this.bytes.byteOffset + this.position, 8);
    this.position += 8;
    return view.getFloat64(0, true);
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.position += 8;
    else if (wire === 2) this.bytesField();
    else if (wire === 5) this.position += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
  /** Calls `onField` for every field of the message. */
  each(onField: (field: number, wire: number) => boolean): void {
    while (!this.done) {
      const { field, wire } = this.tag();
      if (!onField(field, wire)) this.skip(wire);
    }
  }
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

function anyValue(bytes: Uint8Array): string | number | boolean {
  let value: string | number | boolean = '';
  const reader = new Reader(bytes);
  reader.each((field, wire) => {
    if (field === 1 && wire === 2) value = reader.string();
    else if (field === 2 && wire === 0) value = reader.varint() !== 0;
    else if (field === 3 && wire === 0) value = reader.varint();
    else if (field === 4 && wire === 1) value = reader.double();
    else return false;
    return true;
  });
  return value;
}

function keyValues(list: Uint8Array[]): Record<string, string | number | boolean> {
  const attributes: Record<string, string | number | boolean> = {};
  for (const bytes of list) {
    const reader = new Reader(bytes);
    let key = '';
    let value: string | number | boolean = '';
    reader.each((field, wire) => {
      if (field === 1 && wire === 2) key = reader.string();
      else if (field === 2 && wire === 2) value = anyValue(reader.bytesField());
      else return false;
      return true;
    });
    attributes[key] = value;
  }
  return attributes;
}

/** Collects the length-delimited fields numbered `wanted` of a message. */
function repeated(bytes: Uint8Array, wanted: number): Uint8Array[] {
  const found: Uint8Array[] = [];
  const reader = new Reader(bytes);
  reader.each((field, wire) => {
    if (field !== wanted || wire !== 2) return false;
    found.push(reader.bytesField());
    return true;
  });
  return found;
}

/** Decodes an OTLP ExportTraceServiceRequest (protobuf) into its spans. */
export function decodeTraceRequest(body: Uint8Array): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const resourceSpans of repeated(body, 1)) {
    const [resourceBytes] = repeated(resourceSpans, 1);
    const resource = resourceBytes ? keyValues(repeated(resourceBytes, 1)) : {};
    for (const scopeSpans of repeated(resourceSpans, 2)) {
      for (const spanBytes of repeated(scopeSpans, 2)) {
        const span: ReceivedSpan = {
          traceId: '',
          spanId: '',
          parentSpanId: '',
          name: '',
          kind: 0,
          attributes: {},
          statusCode: 0,
          resource,
        };
        const attributes: Uint8Array[] = [];
        const reader = new Reader(spanBytes);
        reader.each((field, wire) => {
          if (field === 1 && wire === 2) span.traceId = hex(reader.bytesField());
          else if (field === 2 && wire === 2) span.spanId = hex(reader.bytesField());
          else if (field === 4 && wire === 2) span.parentSpanId = hex(reader.bytesField());
          else if (field === 5 && wire === 2) span.name = reader.string();
          else if (field === 6 && wire === 0) span.kind = reader.varint();
          else if (field === 9 && wire === 2) attributes.push(reader.bytesField());
          else if (field === 15 && wire === 2) {
            const status = new Reader(reader.bytesField());
            status.each((statusField, statusWire) => {
              if (statusField !== 3 || statusWire !== 0) return false;
              span.statusCode = status.varint();
              return true;
            });
          } else return false;
          return true;
        });
        span.attributes = keyValues(attributes);
        spans.push(span);
      }
    }
  }
  return spans;
}

/** An OTLP/HTTP traces receiver (`POST /v1/traces`, protobuf), as a collector would be. */
export interface OtlpReceiver {
  /** For `OTEL_EXPORTER_OTLP_ENDPOINT` (the exporter appends `/v1/traces`). */
  endpoint: string;
  spans: ReceivedSpan[];
  /** Content types of the export requests received. */
  contentTypes: string[];
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const contentTypes: string[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method !== 'POST' || request.url !== '/v1/traces') {
        response.writeHead(404).end();
        return;
      }
      contentTypes.push(String(request.headers['content-type']));
      spans.push(...decodeTraceRequest(Buffer.concat(chunks)));
      // An empty ExportTraceServiceResponse: everything accepted.
      response.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    contentTypes,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * Whether a span started now through the OpenTelemetry API records: a tracer provider is still the
 * process' global one (tracing not shut down).
 *
 * @example
 * ```ts
 * await running.close();
 * expect(tracingOn()).toBe(false);
 * ```
 */
export function tracingOn(): boolean {
  const span = trace.getTracer('hmac-kit-test-probe').startSpan('probe');
  const recording = span.isRecording();
  span.end();
  return recording;
}
