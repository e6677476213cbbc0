package stubs

import (
	"context"
	"math"
	"time"

	"bytes"
	"encoding/hex"
	"encoding/json"
	"github.com/parleyrpc/parley/wire"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parleyrpc/parley/stubs/internal/featurepb"
	"github.com/vmihailenco/msgpack/v5"
)

// goldenTSDir holds the TypeScript generated from testdata/feature.proto
// and testdata/common.proto.
const goldenTSDir = "testdata/ts"

// TestGoldenTS regenerates the feature schema as TypeScript and fails on
// any difference from the checked-in files (go test ./stubs -run TestGolden
// -update rewrites them, with the Go ones).
func TestGoldenTS(t *testing.T) {
	files, err := GenerateTS([]string{"testdata/feature.proto", "testdata/common.proto"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 || files[0].Name != TSRuntimeName {
		t.Fatalf("got %d files, the first %q; want the runtime and 2", len(files), files[0].Name)
	}
	for _, f := range files[1:] {
		path := filepath.Join(goldenTSDir, filepath.FromSlash(f.Name))
		if *update {
			if err := os.MkdirAll(goldenTSDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, f.Content, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./stubs -run TestGolden -update)", err)
		}
		if !bytes.Equal(f.Content, want) {
			t.Errorf("%s differs from the generator's output; run go test ./stubs -run TestGolden -update and review the diff\n%s", path, firstDiff(want, f.Content))
		}
	}
	feature := string(files[1].Content)
	for _, want := range []string{
		`import type { Level, Page } from "./common.parley";`, // a type from the imported file
		"export class FeatureClient {",
		"echo(req: EchoRequest, opts?: $parley.CallOptions): Promise<EchoResponse>",
		"sum(opts?: $parley.CallOptions): $parley.StreamCall<Number_, Total>", // Number would shadow the global
		"count(req: CountRequest, opts?: $parley.CallOptions): AsyncGenerator<Number_, $parley.Status>",
		"counts?: { [key: string]: number };", // string keys: an object
		"by_id?: Map<number, Scalars>;",       // other keys: a Map, whose keys keep their msgpack type
		"flags?: Map<boolean, string>;",
		"list?: (number | null)[];",
		`$parley.wireMap(m, "by_id", $parley.intKey);`,
		"chat(opts?: $parley.CallOptions): $parley.StreamCall<ChatMessage, ChatMessage>",
	} {
		if !strings.Contains(feature, want) {
			t.Errorf("feature.parley.ts lacks %q", want)
		}
	}
}

// tsModules returns the chat page's node_modules, where npm ci in
// examples/chat/webui installs the pinned typescript, esbuild and
// @msgpack/msgpack, and skips the test when they are not installed.
func tsModules(t *testing.T) string {
	t.Helper()
	modules, err := filepath.Abs("../examples/chat/webui/node_modules")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(modules, ".bin", "tsc")); err != nil {
		t.Skip("typescript not installed (npm ci in examples/chat/webui)")
	}
	return modules
}

// writeTS writes the generated files, and the extra ones, into a new
// directory with the chat page's node_modules, and returns it.
func writeTS(t *testing.T, modules string, files []File, extra map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, content []byte) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		write(f.Name, f.Content)
	}
	for name, content := range extra {
		write(name, content)
	}
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tsc typechecks the named files of dir, strictly, as the chat page's
// tsconfig.json does.
func tsc(t *testing.T, modules, dir string, names ...string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(modules, ".bin", "tsc"), "--noEmit", "--strict", "--target", "es2020",
		"--module", "esnext", "--moduleResolution", "bundler", "--isolatedModules",
		"--lib", "es2020,dom,dom.iterable,dom.asynciterable", "--skipLibCheck")
	cmd.Args = append(cmd.Args, names...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}
}

// TestTSTypecheck compiles the golden TypeScript and the runtime with tsc,
// where the chat page's npm packages are installed.
func TestTSTypecheck(t *testing.T) {
	modules := tsModules(t)
	files, err := GenerateTS([]string{"testdata/feature.proto", "testdata/common.proto"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := writeTS(t, modules, files, nil)
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	tsc(t, modules, dir, names...)
}

// namesDir holds the adversarial schema: every name that could collide
// in the TypeScript output, in files under subdirectories of their import
// path, and use.ts, a program that uses the output.
const namesDir = "testdata/ts/names"

func generateNames(t *testing.T) []File {
	t.Helper()
	var protos []string
	for _, p := range []string{"adv/v1/adversarial.proto", "pa/common.proto", "pb/common.proto", "nopkg/m.proto"} {
		protos = append(protos, filepath.Join(namesDir, filepath.FromSlash(p)))
	}
	files, err := GenerateTS(protos, Options{ImportPaths: []string{namesDir}})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestTSNames checks the output for the adversarial schema: relative
// imports from subdirectories, imports aliased where names collide across
// packages, and names escaped where they would shadow a global or a
// member; then typechecks it with use.ts.
func TestTSNames(t *testing.T) {
	files := generateNames(t)
	byName := map[string]string{}
	for _, f := range files {
		byName[f.Name] = string(f.Content)
	}
	adv := byName["adv/v1/adversarial.parley.ts"]
	for _, want := range []string{
		`import * as $parley from "../../parley";`,
		`import type { M as nopkg_m_M } from "../../nopkg/m.parley";`,
		`import type { Common as pa_Common, E as pa_E, M as pa_M, WithMap } from "../../pa/common.parley";`,
		`import { $decode_WithMap } from "../../pa/common.parley";`,
		`import type { Common as pb_Common, E as pb_E, M as pb_M } from "../../pb/common.parley";`,
		"export interface M {",
		"  a?: pa_M;",
		"  b?: pb_M;",
		"export interface Promise_ {",
		"  when?: Date;",
		"  data?: Uint8Array;",
		"  date?: Date_;",
		"  u8?: Uint8Array_;",
		"export interface Promise__ {",
		"export interface AsyncGenerator_ {",
		"export interface globalThis_ {",
		"export interface undefined_ {",
		"export interface class_ {",
		"export interface Outer_Inner {",
		"export interface Outer_Inner_ {",
		"export class AdvClient_ {",
		"  __proto___ = 0,",
		"  static readonly name_ = \"/adv.v1.Adv/name\";",
		"  static readonly prototype_ = \"/adv.v1.Adv/prototype\";",
		"  constructor_(req: M, opts?: $parley.CallOptions): Promise<M> {",
		"  then_(req: M, opts?: $parley.CallOptions): Promise<M> {",
		"  transport_(req: M, opts?: $parley.CallOptions): Promise<M> {",
		"  toString_(req: M, opts?: $parley.CallOptions): Promise<M> {",
		"  get(req: Promise_, opts?: $parley.CallOptions): Promise<AsyncGenerator_> {",
		"    return this.transport.unary(AdvClient_.Imported, req, opts, $decode_WithMap);",
		"    return this.transport.stream(AdvClient_.Talk, opts, $decode_Maps);",
	} {
		if !strings.Contains(adv, want) {
			t.Errorf("adversarial.parley.ts lacks %q", want)
		}
	}
	if want := `import * as $parley from "../parley";`; !strings.Contains(byName["pa/common.parley.ts"], want) {
		t.Errorf("pa/common.parley.ts lacks %q", want)
	}
	modules := tsModules(t)
	use, err := os.ReadFile(filepath.Join(namesDir, "use.ts"))
	if err != nil {
		t.Fatal(err)
	}
	dir := writeTS(t, modules, files, map[string][]byte{"use.ts": use})
	names := []string{"use.ts"}
	for _, f := range files {
		names = append(names, f.Name)
	}
	tsc(t, modules, dir, names...)
}

// TestTSProtoField: a field named __proto__ cannot be carried by the
// TypeScript client, and the generator says so where it is declared.
func TestTSProtoField(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "p.proto")
	if err := os.WriteFile(p, []byte("syntax = \"proto3\";\npackage p;\nmessage M {\n  message N {\n    int32 __proto__ = 1;\n  }\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := GenerateTS([]string{p}, Options{})
	if err == nil || !strings.Contains(err.Error(), "p.proto:5:5: field p.M.N.__proto__: a field named __proto__ cannot be carried by the TypeScript client") {
		t.Fatalf("got %v, want the __proto__ field refused at p.proto:5:5", err)
	}
	if _, err := Generate([]string{p}, Options{}); err != nil {
		t.Errorf("the Go output refuses it too: %v", err)
	}
}

// tsCodecScript encodes a Collections with Maps in the generated client's
// runtime, decodes the Collections given in hex, and a message with a
// __proto__ key, and prints what it found as JSON.
const tsCodecScript = `
import { Code, ParleyError, decodeMessage, encodeMessage } from "./parley";
import { $decode_Collections, type Collections } from "./feature.parley";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (x) => parseInt(x, 16));
const c: Collections = {
  by_id: new Map([[-3, { int32_val: 7 }]]),
  flags: new Map([[true, "t"], [false, "f"]]),
  blobs_by_key: new Map([[2 ** 60, new Uint8Array([1, 2])]]),
  counts: { a: 1 },
};
const d = decodeMessage(unhex(process.argv[2]), $decode_Collections);
let proto: unknown[] = [];
try {
  decodeMessage(unhex("81a95f5f70726f746f5f5f01"));
} catch (e) {
  proto = [e instanceof ParleyError, (e as ParleyError).code === Code.INTERNAL, ((e as ParleyError).cause as Error).message];
}
console.log(JSON.stringify({
  encoded: hex(encodeMessage(c)),
  by_id: d.by_id instanceof Map ? [...d.by_id].map(([k, v]) => [typeof k, k, v.int32_val]) : d.by_id,
  flags: d.flags instanceof Map ? [...d.flags].map(([k, v]) => [typeof k, k, v]) : d.flags,
  blobs_by_key: d.blobs_by_key instanceof Map ? [...d.blobs_by_key].map(([k, v]) => [typeof k, k, Array.from(v)]) : d.blobs_by_key,
  counts: d.counts,
  proto,
}));
`

// TestTSMsgpack runs the generated client's encoding and decoding in node
// against the Go generated code's: maps with integer and bool keys go
// out with msgpack int and bool keys and come back as Maps, and a message
// the decoder refuses is a ParleyError INTERNAL with the decoder's error
// as its cause.
func TestTSMsgpack(t *testing.T) {
	modules := tsModules(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	files, err := GenerateTS([]string{"testdata/feature.proto", "testdata/common.proto"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := writeTS(t, modules, files, map[string][]byte{"codec.ts": []byte(tsCodecScript)})
	build := exec.Command(filepath.Join(modules, ".bin", "esbuild"), "codec.ts", "--bundle", "--platform=node", "--outfile=codec.js", "--log-level=warning")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("esbuild: %v\n%s", err, out)
	}

	want := featurepb.Collections{
		ById:       map[int32]*featurepb.Scalars{-3: {Int32Val: 7}},
		Flags:      map[bool]string{true: "t", false: "f"},
		BlobsByKey: map[uint64][]byte{1 << 60: {1, 2}},
		Counts:     map[string]int64{"a": 1},
	}
	b, err := msgpack.Marshal(&want)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "codec.js", hex.EncodeToString(b))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got struct {
		Encoded    string
		ByID       []any `json:"by_id"`
		Flags      []any
		BlobsByKey []any `json:"blobs_by_key"`
		Counts     map[string]any
		Proto      []any
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}

	// What TypeScript encoded, as the Go server decodes it.
	enc, err := hex.DecodeString(got.Encoded)
	if err != nil {
		t.Fatal(err)
	}
	var fromTS featurepb.Collections
	if err := msgpack.Unmarshal(enc, &fromTS); err != nil {
		t.Fatalf("Go cannot decode the TypeScript encoding % x: %v", enc, err)
	}
	if !reflect.DeepEqual(fromTS, want) {
		t.Errorf("Go decoded the TypeScript encoding as %+v, want %+v", fromTS, want)
	}

	// What Go encoded, as TypeScript decodes it.
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"by_id", got.ByID, []any{[]any{"number", -3.0, 7.0}}},
		{"flags", got.Flags, []any{[]any{"boolean", false, "f"}, []any{"boolean", true, "t"}}},
		{"blobs_by_key", got.BlobsByKey, []any{[]any{"number", float64(1 << 60), []any{1.0, 2.0}}}},
		{"counts", got.Counts, map[string]any{"a": 1.0}},
		{"__proto__", got.Proto, []any{true, true, "The key __proto__ is not allowed"}},
	} {
		if c.name == "flags" && len(got.Flags) == 2 && reflect.DeepEqual(got.Flags[0], []any{"boolean", true, "t"}) {
			c.got = []any{got.Flags[1], got.Flags[0]} // either order
		}
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: TypeScript decoded %v, want %v", c.name, c.got, c.want)
		}
	}
}

// tsCallScript drives the runtime's calls in node against a fetch and a
// WebSocket that record what they are given (node has no server here):
// a signal aborted before the call, grpc-timeout for long timeouts, a
// deadline past setTimeout's limit, and the trailers of a trailers-only
// gRPC-Web answer. It prints what it found as JSON.
const tsCallScript = `
import { Code, ParleyError, Transport, encodeMessage, frame, headerBlock, timeoutHeader } from "./parley";

const fetches: Record<string, string>[] = [];
let answer: () => Response = () => new Response(null, { status: 200, headers: { "grpc-status": "0" } });
(globalThis as any).fetch = (url: string, init: RequestInit) =>
  new Promise<Response>((resolve, reject) => {
    fetches.push(init.headers as Record<string, string>);
    const signal = init.signal!;
    if (signal.aborted) return reject(new DOMException("aborted", "AbortError"));
    signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
    setTimeout(() => resolve(answer()), 5);
  });
let sockets = 0;
const sent: Uint8Array[] = [];
class FakeSocket extends EventTarget {
  binaryType = "blob";
  bufferedAmount = 0;
  constructor() {
    super();
    sockets++;
    setTimeout(() => this.dispatchEvent(new Event("open")), 1);
  }
  send(b: Uint8Array) {
    sent.push(b);
  }
  close() {
    setTimeout(() => this.dispatchEvent(Object.assign(new Event("close"), { code: 1000, reason: "" })), 1);
  }
}
(globalThis as any).WebSocket = FakeSocket;

const outcome = (p: Promise<unknown>) =>
  p.then(
    () => "OK",
    (e) => (e instanceof ParleyError ? Code[e.code] : "not a ParleyError: " + e),
  );
const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<string>((r) => setTimeout(() => r("pending"), ms))]);

(async () => {
  const t = new Transport("http://localhost");
  const out: Record<string, unknown> = {};
  const aborted = new AbortController();
  aborted.abort();

  out.unaryAborted = await outcome(t.unary("/t.T/Echo", {}, { signal: aborted.signal }));
  out.serverStreamAborted = await outcome((async () => { for await (const _ of t.serverStream("/t.T/Count", {}, { signal: aborted.signal })); })());
  out.fetchesAborted = fetches.length;
  const c = t.stream("/t.T/Bidi", { signal: aborted.signal });
  out.sendAborted = await outcome(c.send({}));
  out.endAborted = Code[(await within(c.end, 100) as any).code];
  out.socketsAborted = sockets;
  out.sentAborted = sent.length;

  out.headers = [1, 999, 1000, 60000, 3600000, 99999999, 1e8, 2e8, 3e9, 123456789.5, 1e12].map(timeoutHeader);

  const ok = new Uint8Array([...frame(0, encodeMessage({})), ...frame(0x80, headerBlock({ "grpc-status": "0" }))]);
  answer = () => new Response(ok, { status: 200 });
  out.unaryLongTimeout = await within(outcome(t.unary("/t.T/Echo", {}, { timeoutMs: 3e9 })), 200);
  out.sentTimeout = fetches[fetches.length - 1]["grpc-timeout"];
  answer = () => new Response(new ReadableStream(), { status: 200 }); // a stream that never answers
  let n = 0;
  const slow = (async () => { for await (const _ of t.serverStream("/t.T/Count", {}, { timeoutMs: 2 ** 31 + 5 })) n++; })();
  out.streamLongTimeout = await within(outcome(slow), 200);
  const bidi = t.stream("/t.T/Bidi", { timeoutMs: 3e9 });
  await bidi.send({});
  out.bidiLongTimeout = await within(bidi.end.then((s) => Code[s.code]), 200);
  bidi.cancel();

  answer = () =>
    new Response(null, {
      status: 200,
      headers: {
        "grpc-status": "5",
        "grpc-message": "no%20such%20thing",
        "x-why": "because",
        "grpc-status-details-bin": "CAUSBGdvbmUaCQoDdC94EgIBAg",
        "access-control-allow-origin": "http://localhost",
        "access-control-expose-headers": "grpc-status, grpc-message",
        "content-length": "0",
        "content-type": "application/grpc-web+msgpack",
        date: "Thu, 03 Dec 2026 18:00:00 GMT",
        vary: "Origin",
      },
    });
  try {
    await t.unary("/t.T/Echo", {});
    out.trailersOnly = "OK";
  } catch (e) {
    const err = e as ParleyError;
    out.trailersOnly = { code: Code[err.code], message: err.rawMessage, wire: err.wire, trailers: err.trailers };
    out.details = err.details.map((d) => ({ type_url: d.type_url, value: Array.from(d.value) }));
  }
  console.log(JSON.stringify(out));
  process.exit(0);
})();
`

// TestTSCalls runs the runtime's calls in node (tsCallScript): a signal
// aborted already fails the call at once with CANCELLED and sends nothing;
// grpc-timeout is encoded as wire.EncodeTimeout encodes it, within its 8
// digits; a deadline longer than setTimeout's limit (2^31-1 ms) does not
// fire at once; a trailers-only answer's trailers are its metadata and
// the status's details (grpc-status-details-bin), not HTTP's or CORS's
// headers; and ParleyError.details decodes the details.
func TestTSCalls(t *testing.T) {
	modules := tsModules(t)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not installed")
	}
	files, err := GenerateTS([]string{"testdata/feature.proto"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := writeTS(t, modules, files[:1], map[string][]byte{"calls.ts": []byte(tsCallScript)})
	build := exec.Command(filepath.Join(modules, ".bin", "esbuild"), "calls.ts", "--bundle", "--platform=node", "--outfile=calls.js", "--log-level=warning")
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("esbuild: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "calls.js")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s%s", err, out, stderr.Bytes())
	}
	if stderr.Len() > 0 {
		t.Errorf("node warned: %s", stderr.Bytes())
	}
	var got map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	for key, want := range map[string]any{
		"unaryAborted":        "CANCELLED",
		"serverStreamAborted": "CANCELLED",
		"fetchesAborted":      0.0,
		"sendAborted":         "CANCELLED",
		"endAborted":          "CANCELLED",
		"socketsAborted":      0.0,
		"sentAborted":         0.0,
		"unaryLongTimeout":    "OK",
		"sentTimeout":         wire.EncodeTimeout(3e9 * time.Millisecond),
		"streamLongTimeout":   "pending",
		"bidiLongTimeout":     "pending",
		"trailersOnly": map[string]any{
			"code": "NOT_FOUND", "message": "no such thing", "wire": true,
			"trailers": map[string]any{"x-why": []any{"because"}, "grpc-status-details-bin": []any{"CAUSBGdvbmUaCQoDdC94EgIBAg"}},
		},
		"details": []any{map[string]any{"type_url": "t/x", "value": []any{1.0, 2.0}}},
	} {
		if !reflect.DeepEqual(got[key], want) {
			t.Errorf("%s: got %v, want %v", key, got[key], want)
		}
	}
	headers, _ := got["headers"].([]any)
	for i, ms := range []float64{1, 999, 1000, 60000, 3600000, 99999999, 1e8, 2e8, 3e9, 123456789.5, 1e12} {
		d := time.Duration(math.Ceil(ms)) * time.Millisecond
		want := wire.EncodeTimeout(d)
		if i >= len(headers) || headers[i] != want {
			t.Errorf("timeoutHeader(%v): got %v, want %s", ms, headers, want)
			continue
		}
		if back, err := wire.DecodeTimeout(want); err != nil || back < d {
			t.Errorf("%s decodes as %v, %v: shorter than %v", want, back, err, d)
		}
	}
}
