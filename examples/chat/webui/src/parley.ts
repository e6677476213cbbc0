// parley's browser client runtime: gRPC-Web (unary, server streaming) over
// fetch, and parley's WebSocket framing (every kind of call) over
// WebSocket, with msgpack messages (@msgpack/msgpack). Written by
// `parley gen -lang ts` next to the generated clients; see docs/web.md.

import { decode, Encoder } from "@msgpack/msgpack";

/** The 17 gRPC status codes. */
export enum Code {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

/** Header or trailer metadata: lower-case keys, each with its values. */
export type Metadata = Record<string, string[]>;

/** How a call ended: its code, message and trailers. */
export interface Status {
  code: Code;
  message: string;
  trailers: Metadata;
}

/**
 * ParleyError is a call's failure status: the error every call method
 * rejects or throws with. `wire` tells a status the server sent from one
 * made here (a network failure, a deadline, a cancellation).
 */
export class ParleyError extends Error {
  readonly code: Code;
  readonly rawMessage: string;
  readonly trailers: Metadata;
  readonly wire: boolean;
  /** The error that caused this one, if any (a message that failed to decode...). */
  declare readonly cause: unknown;
  constructor(code: Code, message: string, trailers: Metadata = {}, wire = false, cause?: unknown) {
    super(`${Code[code] ?? code}: ${message}`);
    this.name = "ParleyError";
    this.code = code;
    this.rawMessage = message;
    this.trailers = trailers;
    this.wire = wire;
    this.cause = cause;
  }
  /**
   * The error details the server sent with the status (the
   * grpc-status-details-bin trailer, decoded), in order; none when it sent
   * none.
   */
  get details(): Detail[] {
    return statusDetails(this.trailers);
  }
  /** The status this error carries. */
  get status(): Status {
    return { code: this.code, message: this.rawMessage, trailers: this.trailers };
  }
}

/**
 * Detail is one of a failure's error details (google.protobuf.Any): the
 * detail's type URL and its encoded value, protobuf for a
 * `type.googleapis.com/` type (errdetails' google.rpc types), msgpack for
 * a `type.parleyrpc.dev/msgpack/` one (decode it with @msgpack/msgpack).
 */
export interface Detail {
  type_url: string;
  value: Uint8Array;
}

/** The trailer carrying a failure's details: a google.rpc.Status, base64. */
const DETAILS_KEY = "grpc-status-details-bin";

/** base64Bytes decodes standard base64, padded or not. */
function base64Bytes(s: string): Uint8Array {
  const bin = atob(s.replace(/=+$/, "") + "===".slice(0, (4 - (s.replace(/=+$/, "").length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

/**
 * protoFields reads the fields of a protobuf message: varints as numbers,
 * length-delimited fields as bytes; it throws on a malformed one.
 */
function protoFields(b: Uint8Array): [number, number | Uint8Array][] {
  const out: [number, number | Uint8Array][] = [];
  let i = 0;
  const varint = (): number => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      if (i >= b.length || shift > 63) throw new Error("malformed varint");
      const c = b[i++];
      v += (c & 0x7f) * 2 ** shift;
      if (c < 0x80) return v;
    }
  };
  while (i < b.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    switch (key & 7) {
      case 0:
        out.push([field, varint()]);
        break;
      case 1:
        i += 8;
        break;
      case 2: {
        const n = varint();
        if (i + n > b.length) throw new Error("truncated field");
        out.push([field, b.subarray(i, i + n)]);
        i += n;
        break;
      }
      case 5:
        i += 4;
        break;
      default:
        throw new Error(`wire type ${key & 7}`);
    }
    if (i > b.length) throw new Error("truncated field");
  }
  return out;
}

/**
 * statusDetails reads the details of a google.rpc.Status (field 3, each a
 * google.protobuf.Any: type_url 1, value 2) from its trailer; none when
 * the trailer is absent or malformed.
 */
function statusDetails(trailers: Metadata): Detail[] {
  const v = trailers[DETAILS_KEY]?.[0];
  if (!v) return [];
  try {
    const details: Detail[] = [];
    for (const [f, any] of protoFields(base64Bytes(v.split(",")[0].trim()))) {
      if (f !== 3 || !(any instanceof Uint8Array)) continue;
      const d: Detail = { type_url: "", value: new Uint8Array(0) };
      for (const [g, x] of protoFields(any)) {
        if (g === 1 && x instanceof Uint8Array) d.type_url = new TextDecoder().decode(x);
        if (g === 2 && x instanceof Uint8Array) d.value = x.slice();
      }
      details.push(d);
    }
    return details;
  } catch {
    return [];
  }
}

/** Per-call options. */
export interface CallOptions {
  /** Request metadata (custom keys: [0-9a-z_.-]+; "-bin" values are base64). */
  metadata?: Record<string, string>;
  /** The call's deadline, in milliseconds from now (sent as grpc-timeout). */
  timeoutMs?: number;
  /** Aborting it cancels the call (CANCELLED). */
  signal?: AbortSignal;
}

const FLAG_COMPRESSED = 0x01;
const FLAG_HEADERS = 0x40;
const FLAG_TRAILERS = 0x80;
const CONTENT_TYPE = "application/grpc-web+msgpack";
/** The WebSocket subprotocol of parley's framing. */
export const SUBPROTOCOL = "parley.v1";

/** frame returns one frame: flag, 4-byte big-endian length, payload. */
export function frame(flag: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = flag;
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, 5);
  return out;
}

/** headerBlock encodes fields as an HTTP/1 header block. */
export function headerBlock(fields: Record<string, string>): Uint8Array {
  let s = "";
  for (const [k, v] of Object.entries(fields)) s += `${k.toLowerCase()}: ${v}\r\n`;
  return new TextEncoder().encode(s);
}

/** parseHeaderBlock decodes an HTTP/1 header block. */
export function parseHeaderBlock(b: Uint8Array): Metadata {
  const md: Metadata = {};
  for (const line of new TextDecoder().decode(b).split(/\r?\n/)) {
    if (line === "") continue;
    const i = line.indexOf(":");
    if (i <= 0) throw new ParleyError(Code.INTERNAL, `malformed header line ${JSON.stringify(line)}`);
    const k = line.slice(0, i).trim().toLowerCase();
    (md[k] ??= []).push(line.slice(i + 1).trim());
  }
  return md;
}

/**
 * FrameParser splits a byte stream into frames, however the bytes arrive.
 */
export class FrameParser {
  private buf = new Uint8Array(0);
  push(chunk: Uint8Array): void {
    const b = new Uint8Array(this.buf.length + chunk.length);
    b.set(this.buf);
    b.set(chunk, this.buf.length);
    this.buf = b;
  }
  /** next returns the next whole frame, or undefined until more bytes arrive. */
  next(): { flag: number; payload: Uint8Array } | undefined {
    if (this.buf.length < 5) return undefined;
    const n = new DataView(this.buf.buffer, this.buf.byteOffset).getUint32(1);
    if (this.buf.length < 5 + n) return undefined;
    const f = { flag: this.buf[0], payload: this.buf.slice(5, 5 + n) };
    this.buf = this.buf.slice(5 + n);
    return f;
  }
  get pending(): number {
    return this.buf.length;
  }
}

function statusOf(md: Metadata): Status | undefined {
  const s = md["grpc-status"]?.[0];
  if (s === undefined) return undefined;
  const code = Number(s);
  let message = md["grpc-message"]?.[0] ?? "";
  try {
    message = decodeURIComponent(message);
  } catch {
    // Not percent-encoded after all: keep it as it came.
  }
  const trailers: Metadata = {};
  for (const [k, v] of Object.entries(md)) {
    // gRPC reserves the grpc- keys, but for the status's details, which
    // are metadata (docs/protocol.md): ParleyError.details decodes them.
    if ((!k.startsWith("grpc-") || k === DETAILS_KEY) && k !== "content-type") trailers[k] = v;
  }
  return { code: Number.isInteger(code) && code >= 0 && code <= 16 ? code : Code.UNKNOWN, message, trailers };
}

/**
 * HTTP's own response fields, which the server, the browser or a proxy
 * add to a response: not gRPC metadata, so not a trailers-only
 * response's trailers. (Metadata keys are the application's; gRPC
 * reserves these names, as it does content-type.)
 */
const HTTP_FIELDS = new Set([
  "accept-ranges",
  "age",
  "alt-svc",
  "cache-control",
  "connection",
  "content-encoding",
  "content-language",
  "content-length",
  "content-location",
  "content-type",
  "date",
  "etag",
  "expires",
  "keep-alive",
  "last-modified",
  "pragma",
  "server",
  "set-cookie",
  "strict-transport-security",
  "trailer",
  "transfer-encoding",
  "vary",
  "via",
]);

/**
 * trailersOnly reads the metadata of a trailers-only gRPC-Web response
 * from its HTTP headers: the grpc- fields and the application's metadata,
 * without HTTP's own fields and CORS's (access-control-*).
 */
function trailersOnly(h: Headers): Metadata {
  const md: Metadata = {};
  h.forEach((v, k) => {
    if (!HTTP_FIELDS.has(k) && !k.startsWith("access-control-")) md[k] = [v];
  });
  return md;
}

/** codeFromHTTP maps an HTTP status that is not a gRPC answer, as gRPC does. */
function codeFromHTTP(status: number): Code {
  switch (status) {
    case 400:
      return Code.INTERNAL;
    case 401:
      return Code.UNAUTHENTICATED;
    case 403:
      return Code.PERMISSION_DENIED;
    case 404:
      return Code.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return Code.UNAVAILABLE;
    default:
      return Code.UNKNOWN;
  }
}

/** grpc-timeout's units, smallest first, from milliseconds up. */
const TIMEOUT_UNITS: [number, string][] = [
  [1, "m"],
  [1_000, "S"],
  [60_000, "M"],
  [3_600_000, "H"],
];
/** grpc-timeout's value has at most 8 digits. */
const MAX_TIMEOUT_VALUE = 99_999_999;

/**
 * timeoutHeader encodes a timeout as grpc-timeout, as the Go side does
 * (wire.EncodeTimeout): in the largest unit that holds it exactly, or,
 * when that takes more than 8 digits, the smallest that fits, rounded up
 * so that the server never sees a shorter timeout than the caller's.
 */
export function timeoutHeader(ms: number): string {
  const whole = Math.max(1, Math.ceil(ms));
  let i = TIMEOUT_UNITS.length - 1;
  while (i > 0 && whole % TIMEOUT_UNITS[i][0] !== 0) i--;
  let v = Math.ceil(whole / TIMEOUT_UNITS[i][0]);
  while (v > MAX_TIMEOUT_VALUE && i + 1 < TIMEOUT_UNITS.length) {
    i++;
    v = Math.ceil(whole / TIMEOUT_UNITS[i][0]);
  }
  return `${Math.min(v, MAX_TIMEOUT_VALUE)}${TIMEOUT_UNITS[i][1]}`;
}

/** The longest delay setTimeout keeps: a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * deadline calls fire once ms milliseconds have passed, however long that
 * is (it chains timers past setTimeout's limit), and returns a function
 * that stops it.
 */
function deadline(ms: number, fire: () => void): () => void {
  const end = Date.now() + ms;
  let timer: ReturnType<typeof setTimeout>;
  const arm = (left: number) => {
    timer = setTimeout(() => {
      const rest = end - Date.now();
      if (rest > 0 && left > MAX_TIMER_MS) arm(rest);
      else fire();
    }, Math.min(Math.max(0, left), MAX_TIMER_MS));
  };
  arm(ms);
  return () => clearTimeout(timer);
}

function requestMetadata(opts: CallOptions): Record<string, string> {
  const h: Record<string, string> = { ...(opts.metadata ?? {}) };
  if (opts.timeoutMs !== undefined) h["grpc-timeout"] = timeoutHeader(opts.timeoutMs);
  return h;
}

const encoder = new Encoder();

/**
 * encodeMessage encodes one message as @msgpack/msgpack does, except for
 * two things it cannot write: a Map is a msgpack map whose keys keep their
 * own type (int, bool), and an integer past 2^53 (a 64-bit field) is a
 * msgpack int 64 rather than a float.
 */
export function encodeMessage(m: unknown): Uint8Array {
  try {
    if (!ownEncoding(m, 0)) return encoder.encode(m);
    const out: Uint8Array[] = [];
    encodeValue(m, out, 0);
    const b = new Uint8Array(out.reduce((n, p) => n + p.length, 0));
    let i = 0;
    for (const p of out) {
      b.set(p, i);
      i += p.length;
    }
    return b;
  } catch (e) {
    if (e instanceof ParleyError) throw e;
    throw new ParleyError(Code.INTERNAL, `cannot encode the request message: ${errorText(e)}`, {}, false, e);
  }
}

const MAX_DEPTH = 100;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !(v instanceof Date) && !ArrayBuffer.isView(v) && !(v instanceof Map) && !Array.isArray(v);
}

function bigInteger(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && !Number.isSafeInteger(v) && v >= -(2 ** 63) && v < 2 ** 64;
}

/** ownEncoding reports whether v holds a Map or an integer past 2^53. */
function ownEncoding(v: unknown, depth: number): boolean {
  if (depth > MAX_DEPTH) throw new Error(`too deeply nested: more than ${MAX_DEPTH} levels`);
  if (v instanceof Map || bigInteger(v)) return true;
  if (Array.isArray(v)) return v.some((x) => ownEncoding(x, depth + 1));
  if (isPlainObject(v)) return Object.keys(v).some((k) => ownEncoding(v[k], depth + 1));
  return false;
}

function containerHeader(fix: number, n16: number, n: number): Uint8Array {
  if (n < 16) return Uint8Array.of(fix + n);
  if (n < 0x10000) return Uint8Array.of(n16, n >>> 8, n & 0xff);
  return Uint8Array.of(n16 + 1, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

function encodeValue(v: unknown, out: Uint8Array[], depth: number): void {
  if (v instanceof Map) {
    out.push(containerHeader(0x80, 0xde, v.size));
    for (const [k, x] of v) {
      encodeValue(k, out, depth + 1);
      encodeValue(x, out, depth + 1);
    }
  } else if (Array.isArray(v)) {
    out.push(containerHeader(0x90, 0xdc, v.length));
    for (const x of v) encodeValue(x, out, depth + 1);
  } else if (isPlainObject(v)) {
    const keys = Object.keys(v);
    out.push(containerHeader(0x80, 0xde, keys.length));
    for (const k of keys) {
      out.push(encoder.encode(k));
      encodeValue(v[k], out, depth + 1);
    }
  } else if (bigInteger(v)) {
    const b = new Uint8Array(9);
    const view = new DataView(b.buffer);
    if (v < 0) {
      b[0] = 0xd3;
      view.setBigInt64(1, BigInt(v));
    } else {
      b[0] = 0xcf;
      view.setBigUint64(1, BigInt(v));
    }
    out.push(b);
  } else {
    out.push(encoder.encode(v));
  }
}

// Map keys: strings and numbers as @msgpack/msgpack decodes them, and
// bools as "true" and "false" until $decode_ functions make them Maps.
function mapKeyConverter(k: unknown): string | number {
  if (typeof k === "string" || typeof k === "number") return k;
  if (typeof k === "boolean") return String(k);
  throw new Error(`a map key of type ${typeof k}`);
}

const decodeOptions = { mapKeyConverter };

/**
 * decodeMessage decodes one response message, then converts it with
 * fromWire (a generated $decode_ function); a failure of either is a
 * ParleyError INTERNAL whose cause is the decoder's error.
 */
export function decodeMessage<Res>(payload: Uint8Array, fromWire?: (m: any) => Res): Res {
  try {
    const m = decode(payload, decodeOptions);
    return fromWire ? fromWire(m) : (m as Res);
  } catch (e) {
    throw new ParleyError(Code.INTERNAL, `cannot decode the response message: ${errorText(e)}`, {}, false, e);
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

const hasOwn = Object.prototype.hasOwnProperty;

/** intKey is an integer map key as decoded (a property name). */
export function intKey(k: string): number {
  return Number(k);
}

/** boolKey is a bool map key as decoded ("true" or "false"). */
export function boolKey(k: string): boolean {
  return k === "true";
}

function ownField(m: any, field: string): any {
  return m !== null && typeof m === "object" && hasOwn.call(m, field) ? m[field] : undefined;
}

/** wireMap turns the map m[field], decoded as an object, into a Map with the keys key parses, converting each value with value. */
export function wireMap(m: any, field: string, key: (k: string) => unknown, value?: (v: any) => unknown): void {
  const o = ownField(m, field);
  if (o === null || typeof o !== "object") return;
  const map = new Map<unknown, unknown>();
  for (const k of Object.keys(o)) map.set(key(k), value ? value(o[k]) : o[k]);
  m[field] = map;
}

/** wireValues converts every value of the string-keyed map m[field] with value. */
export function wireValues(m: any, field: string, value: (v: any) => unknown): void {
  const o = ownField(m, field);
  if (o === null || typeof o !== "object") return;
  for (const k of Object.keys(o)) o[k] = value(o[k]);
}

/** wireList converts every element of the list m[field] with value. */
export function wireList(m: any, field: string, value: (v: any) => unknown): void {
  const l = ownField(m, field);
  if (!Array.isArray(l)) return;
  for (let i = 0; i < l.length; i++) l[i] = value(l[i]);
}

/** wireField converts the message m[field] with value. */
export function wireField(m: any, field: string, value: (v: any) => unknown): void {
  const o = ownField(m, field);
  if (o !== null && typeof o === "object") m[field] = value(o);
}

function failure(s: Status): ParleyError {
  return new ParleyError(s.code, s.message, s.trailers, true);
}

/**
 * Transport carries calls to one server: baseUrl is its origin
 * ("https://chat.example.com", or "" for the page's own).
 */
export class Transport {
  readonly baseUrl: string;
  constructor(baseUrl = "") {
    this.baseUrl = baseUrl.replace(/\/$/, "");
  }

  /** unary makes a unary call over gRPC-Web. */
  async unary<Req, Res>(method: string, req: Req, opts: CallOptions = {}, fromWire?: (m: any) => Res): Promise<Res> {
    let res: Res | undefined;
    for await (const m of this.serverStream<Req, Res>(method, req, opts, fromWire)) {
      if (res !== undefined) throw new ParleyError(Code.INTERNAL, "more than one response message");
      res = m;
    }
    if (res === undefined) throw new ParleyError(Code.INTERNAL, "no response message");
    return res;
  }

  /**
   * serverStream makes a server-streaming call over gRPC-Web: it yields
   * the responses as they arrive (fetch streams the body), returns when the
   * call ends OK and throws ParleyError when it fails. fromWire converts
   * each decoded response (a generated $decode_ function).
   */
  async *serverStream<Req, Res>(
    method: string,
    req: Req,
    opts: CallOptions = {},
    fromWire?: (m: any) => Res,
  ): AsyncGenerator<Res, Status> {
    // A signal aborted already cancels the call before it is sent.
    if (opts.signal?.aborted) throw new ParleyError(Code.CANCELLED, "call cancelled");
    const body = frame(0, encodeMessage(req));
    const ctl = new AbortController();
    const onAbort = () => ctl.abort();
    opts.signal?.addEventListener("abort", onAbort);
    let timedOut = false;
    const stopTimer =
      opts.timeoutMs !== undefined
        ? deadline(opts.timeoutMs, () => {
            timedOut = true;
            ctl.abort();
          })
        : undefined;
    try {
      let resp: Response;
      try {
        resp = await fetch(this.baseUrl + method, {
          method: "POST",
          headers: { ...requestMetadata(opts), "content-type": CONTENT_TYPE, "x-grpc-web": "1" },
          body: body as BodyInit,
          signal: ctl.signal,
        });
      } catch (e) {
        throw this.abortError(e, timedOut, opts);
      }
      if (resp.status !== 200) {
        throw new ParleyError(codeFromHTTP(resp.status), `HTTP status ${resp.status}`);
      }
      const only = statusOf(trailersOnly(resp.headers));
      if (only !== undefined) {
        // A trailers-only response: its HTTP headers are its trailers.
        if (only.code !== Code.OK) throw failure(only);
        return only;
      }
      const parser = new FrameParser();
      const reader = resp.body!.getReader();
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          throw this.abortError(e, timedOut, opts);
        }
        if (chunk.done) break;
        parser.push(chunk.value);
        for (let f = parser.next(); f; f = parser.next()) {
          if (f.flag & FLAG_TRAILERS) {
            const s = statusOf(parseHeaderBlock(f.payload)) ?? {
              code: Code.INTERNAL,
              message: "trailers without grpc-status",
              trailers: {},
            };
            if (s.code !== Code.OK) throw failure(s);
            return s;
          }
          if (f.flag & FLAG_COMPRESSED) throw new ParleyError(Code.INTERNAL, "compressed message without grpc-encoding");
          yield decodeMessage(f.payload, fromWire);
        }
      }
      throw new ParleyError(Code.INTERNAL, "the response ended without trailers");
    } finally {
      stopTimer?.();
      opts.signal?.removeEventListener("abort", onAbort);
      ctl.abort();
    }
  }

  private abortError(e: unknown, timedOut: boolean, opts: CallOptions): ParleyError {
    if (timedOut) return new ParleyError(Code.DEADLINE_EXCEEDED, "deadline exceeded");
    if (opts.signal?.aborted) return new ParleyError(Code.CANCELLED, "call cancelled");
    return new ParleyError(Code.UNAVAILABLE, `network: ${e}`);
  }

  /** stream opens a call of any kind over parley's WebSocket framing; fromWire converts each decoded response. */
  stream<Req, Res>(method: string, opts: CallOptions = {}, fromWire?: (m: any) => Res): StreamCall<Req, Res> {
    const url = new URL(this.baseUrl + method, globalThis.location?.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return new StreamCall<Req, Res>(url.toString(), opts, fromWire);
  }
}

/**
 * StreamCall is one client-streaming or bidi call over a WebSocket: send
 * requests, closeSend to half-close, iterate over the responses (the
 * iteration ends when the call ends OK and throws ParleyError when it
 * fails), and `end` is the terminal event, the status, in every case.
 */
export class StreamCall<Req, Res> implements AsyncIterable<Res> {
  /** The response headers, once they have arrived. */
  readonly headers: Promise<Metadata>;
  /** The terminal event: the call's status, whether OK or not. */
  readonly end: Promise<Status>;

  private ws: WebSocket | undefined;
  private queue: Res[] = [];
  private waiters: (() => void)[] = [];
  private status: Status | undefined;
  private cause: unknown;
  private fromWire = false;
  private convert: ((m: any) => Res) | undefined;
  private sentClose = false;
  private resolveHeaders!: (md: Metadata) => void;
  private resolveEnd!: (s: Status) => void;
  private stopTimer: (() => void) | undefined;
  private opened: Promise<void>;
  private signal: AbortSignal | undefined;
  private onAbort = () => this.cancel();

  constructor(url: string, opts: CallOptions, fromWire?: (m: any) => Res) {
    this.convert = fromWire;
    this.headers = new Promise((r) => (this.resolveHeaders = r));
    this.end = new Promise((r) => (this.resolveEnd = r));
    if (opts.signal?.aborted) {
      // A signal aborted already cancels the call before it is opened:
      // no socket, nothing sent.
      this.opened = Promise.resolve();
      this.finish({ code: Code.CANCELLED, message: "call cancelled", trailers: {} });
      return;
    }
    const ws = new WebSocket(url, [SUBPROTOCOL]);
    this.ws = ws;
    ws.binaryType = "arraybuffer";
    const meta = requestMetadata(opts);
    // opened settles when the socket opens, or fails to: then the call
    // has ended and send reports its status.
    this.opened = new Promise((resolve) => {
      ws.addEventListener("open", () => {
        ws.send(frame(FLAG_HEADERS, headerBlock({ "content-type": "application/grpc+msgpack", ...meta })));
        resolve();
      });
      ws.addEventListener("close", () => resolve());
    });
    const parser = new FrameParser();
    ws.addEventListener("message", (ev: MessageEvent) => {
      if (!(ev.data instanceof ArrayBuffer)) return this.finish({ code: Code.INTERNAL, message: "text message", trailers: {} });
      parser.push(new Uint8Array(ev.data));
      for (let f = parser.next(); f; f = parser.next()) this.onFrame(f.flag, f.payload);
    });
    ws.addEventListener("close", (ev: CloseEvent) => {
      this.finish({
        code: Code.UNAVAILABLE,
        message: `connection closed before the call ended (${ev.code}${ev.reason ? ": " + ev.reason : ""})`,
        trailers: {},
      });
    });
    if (opts.timeoutMs !== undefined) {
      this.stopTimer = deadline(opts.timeoutMs, () => this.abort(Code.DEADLINE_EXCEEDED, "deadline exceeded"));
    }
    this.signal = opts.signal;
    this.signal?.addEventListener("abort", this.onAbort);
  }

  private onFrame(flag: number, payload: Uint8Array): void {
    if (this.status) return;
    if (flag === FLAG_HEADERS) {
      this.resolveHeaders(parseHeaderBlock(payload));
    } else if (flag & FLAG_TRAILERS) {
      const md = parseHeaderBlock(payload);
      this.resolveHeaders(md);
      this.finish(statusOf(md) ?? { code: Code.INTERNAL, message: "trailers without grpc-status", trailers: {} }, true);
      this.ws?.close(1000);
    } else if (flag & FLAG_COMPRESSED) {
      this.abort(Code.INTERNAL, "compressed message without grpc-encoding");
    } else {
      let m: Res;
      try {
        m = decodeMessage(payload, this.convert);
      } catch (e) {
        this.cause = (e as ParleyError).cause;
        this.abort(Code.INTERNAL, (e as ParleyError).rawMessage);
        return;
      }
      this.queue.push(m);
      this.wake();
    }
  }

  private finish(s: Status, wire = false): void {
    if (this.status) return;
    this.status = s;
    this.fromWire = wire;
    this.stopTimer?.();
    this.signal?.removeEventListener("abort", this.onAbort);
    this.resolveHeaders({});
    this.resolveEnd(s);
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private abort(code: Code, message: string): void {
    this.finish({ code, message, trailers: {} });
    this.ws?.close(1000);
  }

  /** cancel ends the call: the server sees CANCELLED, the call ends CANCELLED here. */
  cancel(): void {
    this.abort(Code.CANCELLED, "call cancelled");
  }

  /**
   * send queues one request. It resolves once the socket's send buffer is
   * below 1 MiB again (backpressure) and rejects with the call's status if
   * the call has ended.
   */
  async send(req: Req): Promise<void> {
    await this.opened;
    if (this.status) throw this.error(this.status);
    if (this.sentClose) throw new ParleyError(Code.FAILED_PRECONDITION, "send after closeSend");
    const ws = this.ws!;
    ws.send(frame(0, encodeMessage(req)));
    while (ws.bufferedAmount > 1 << 20 && !this.status) {
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** closeSend half-closes: the server's receive sees the end of the requests. */
  async closeSend(): Promise<void> {
    await this.opened;
    if (this.sentClose || this.status) return;
    this.sentClose = true;
    this.ws!.send(frame(FLAG_TRAILERS, new Uint8Array(0)));
  }

  /** recv returns the next response, or undefined when the call ended OK; it throws ParleyError when it failed. */
  async recv(): Promise<Res | undefined> {
    for (;;) {
      if (this.queue.length > 0) return this.queue.shift();
      if (this.status) {
        if (this.status.code === Code.OK) return undefined;
        throw this.error(this.status);
      }
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** closeAndRecv half-closes and returns the single response of a client-streaming call. */
  async closeAndRecv(): Promise<Res> {
    await this.closeSend();
    const res = await this.recv();
    if (res === undefined) throw new ParleyError(Code.INTERNAL, "no response message");
    return res;
  }

  private error(s: Status): ParleyError {
    return new ParleyError(s.code, s.message, s.trailers, this.fromWire, this.cause);
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Res> {
    for (;;) {
      const m = await this.recv();
      if (m === undefined) return;
      yield m;
    }
  }
}
