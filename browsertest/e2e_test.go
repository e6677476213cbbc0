package browsertest

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyrpc/parley/browsertest/e2epb"
	"github.com/parleyrpc/parley/errdetails"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/stubs"
	"github.com/parleyrpc/parley/web"
	"github.com/parleyrpc/parley/wire"
)

// bundleE2E generates the TypeScript client of e2e.proto as a user does
// (`parley gen -lang ts`) and bundles it with the page's script using the
// chat page's pinned esbuild; it skips when npm ci has not installed it.
func bundleE2E(t *testing.T) []byte {
	t.Helper()
	modules, err := filepath.Abs("../examples/chat/webui/node_modules")
	if err != nil {
		t.Fatal(err)
	}
	esbuild := filepath.Join(modules, ".bin", "esbuild")
	if _, err := os.Stat(esbuild); err != nil {
		t.Skip("no esbuild in examples/chat/webui/node_modules (npm ci --prefix examples/chat/webui; .ci/run does it): cannot bundle the client")
	}
	files, err := stubs.GenerateTS([]string{"e2e.proto"}, stubs.Options{ImportPaths: []string{"."}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	app, err := os.ReadFile("testdata/e2e/app.ts")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "app.ts"), app, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(esbuild, "app.ts", "--bundle", "--format=iife", "--target=es2020", "--outfile=app.js", "--log-level=warning")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("esbuild: %v\n%s", err, b)
	}
	js, err := os.ReadFile(filepath.Join(dir, "app.js"))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// probe implements the e2e service and counts its handlers, so that the
// test can tell that a call the browser ended ended on the server too.
type probe struct {
	e2epb.UnimplementedProbeServer
	active    atomic.Int64 // handlers running
	cancelled atomic.Int64 // handlers that returned with their context ended
	mu        sync.Mutex
	last      *e2epb.Value // the last value received
}

func (p *probe) enter() func(ctx context.Context) {
	p.active.Add(1)
	return func(ctx context.Context) {
		if ctx.Err() != nil {
			p.cancelled.Add(1)
		}
		p.active.Add(-1)
	}
}

func (p *probe) record(v *e2epb.Value) {
	p.mu.Lock()
	p.last = v
	p.mu.Unlock()
}

// hold waits ms milliseconds or until ctx ends.
func hold(ctx context.Context, ms int32) error {
	if ms <= 0 {
		return nil
	}
	select {
	case <-time.After(time.Duration(ms) * time.Millisecond):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// failure is the error a request with fail set ends its call with: a
// message to percent-encode, details and trailers.
func failure(ctx context.Context, code int32) error {
	_ = runtime.SetTrailer(ctx, wire.Metadata{"x-trail": {"t1"}, "x-trail-bin": {"\x00\xffbin"}})
	return wire.NewError(wire.Code(code), "nope: 100% ünïcode\nline").WithDetails(
		errdetails.MustPack(&errdetails.ErrorInfo{Reason: "PROBE_FAILED", Domain: "e2e.parley.dev", Metadata: map[string]string{"k": "v"}}))
}

func (p *probe) response(req *e2epb.EchoRequest, n int32) *e2epb.EchoResponse {
	res := &e2epb.EchoResponse{Value: req.Value, Received: n}
	if req.Pad > 0 {
		res.Pad = make([]byte, req.Pad)
		for i := range res.Pad {
			res.Pad[i] = byte(i)
		}
	}
	return res
}

func (p *probe) Echo(ctx context.Context, req *e2epb.EchoRequest) (*e2epb.EchoResponse, error) {
	defer p.enter()(ctx)
	p.record(req.Value)
	_ = runtime.SetHeader(ctx, wire.Metadata{"x-head": {"h1"}, "x-head-bin": {"\x01\x02"}})
	if err := hold(ctx, req.HoldMs); err != nil {
		return nil, err
	}
	if req.Fail != 0 {
		return nil, failure(ctx, req.Fail)
	}
	return p.response(req, 1), nil
}

func (p *probe) Count(req *e2epb.EchoRequest, call *runtime.ServerCall[e2epb.EchoRequest, e2epb.EchoResponse]) error {
	ctx := call.Context()
	defer p.enter()(ctx)
	p.record(req.Value)
	_ = call.SetHeader(wire.Metadata{"x-head": {"h1"}})
	for i := int32(0); i < req.Count; i++ {
		if err := call.Send(p.response(req, i+1)); err != nil {
			return err
		}
	}
	if err := hold(ctx, req.HoldMs); err != nil {
		return err
	}
	if req.Fail != 0 {
		return failure(ctx, req.Fail)
	}
	return nil
}

func (p *probe) Sum(call *runtime.ServerCall[e2epb.EchoRequest, e2epb.EchoResponse]) (*e2epb.EchoResponse, error) {
	ctx := call.Context()
	defer p.enter()(ctx)
	var last *e2epb.EchoRequest
	n := int32(0)
	for {
		req, err := call.Recv()
		if err != nil {
			if wire.CodeOf(err) == wire.OK || err.Error() == "EOF" {
				break
			}
			return nil, err
		}
		n++
		last = req
		p.record(req.Value)
		if err := hold(ctx, req.HoldMs); err != nil {
			return nil, err
		}
		if req.Fail != 0 {
			return nil, failure(ctx, req.Fail)
		}
	}
	if last == nil {
		last = &e2epb.EchoRequest{}
	}
	return p.response(last, n), nil
}

func (p *probe) Chat(call *runtime.ServerCall[e2epb.EchoRequest, e2epb.EchoResponse]) error {
	ctx := call.Context()
	defer p.enter()(ctx)
	_ = call.SetHeader(wire.Metadata{"x-head": {"h1"}, "x-head-bin": {"\x01\x02"}})
	n := int32(0)
	for {
		req, err := call.Recv()
		if err != nil {
			if err.Error() == "EOF" {
				return nil
			}
			return err
		}
		n++
		p.record(req.Value)
		if err := hold(ctx, req.HoldMs); err != nil {
			return err
		}
		if req.Fail != 0 {
			return failure(ctx, req.Fail)
		}
		if err := call.Send(p.response(req, n)); err != nil {
			return err
		}
	}
}

const e2ePage = `<!doctype html><html><head><meta charset="utf-8"><title>e2e</title></head><body><script src="/app.js"></script></body></html>`

// e2eServer serves the page, its bundle and the service on 127.0.0.1.
type e2eServer struct {
	probe *probe
	srv   *runtime.Server
	addr  string
	done  chan error
	once  sync.Once
}

func startE2E(t *testing.T, js []byte, addr string, opts ...web.Option) *e2eServer {
	t.Helper()
	p := &probe{}
	mux := http.NewServeMux()
	srv := runtime.NewServer(runtime.WithHTTPHandler(mux))
	e2epb.RegisterProbeServer(srv, p)
	mux.Handle("/", srv.Handler(opts...))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(e2ePage))
	})
	mux.HandleFunc("GET /app.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("content-type", "text/javascript")
		_, _ = w.Write(js)
	})
	var l net.Listener
	var err error
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if l, err = net.Listen("tcp4", addr); err == nil || time.Now().After(end) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	s := &e2eServer{probe: p, srv: srv, addr: l.Addr().String(), done: make(chan error, 1)}
	go func() { s.done <- srv.Serve(l) }()
	return s
}

func (s *e2eServer) stop() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(ctx)
		_ = s.srv.Close()
		<-s.done
	})
}

// waitIdle waits until no handler runs, and fails if one still does.
func (s *e2eServer) waitIdle(t *testing.T, what string) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if s.probe.active.Load() == 0 {
			return
		}
	}
	t.Errorf("%s: %d handlers still running on the server", what, s.probe.active.Load())
}

// jsCall runs an async function body in the tab and decodes the JSON it returns into out.
func jsCall(t *testing.T, tab context.Context, body string, out any) {
	t.Helper()
	js := `(async () => { ` + body + ` })().then((r) => JSON.stringify(r), (e) => JSON.stringify({threw: String(e && e.stack || e)}))`
	s, err := chromedp.Run(tab, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if err := json.Unmarshal([]byte(s), out); err != nil {
		t.Fatalf("%s: %v: %s", body, err, s)
	}
}

// e2eHelpers defines, in the page, the value every call sends and a deep
// comparison that knows Maps and Uint8Arrays.
const e2eHelpers = `
window.V = () => ({
  text: "héllo ✓ \u0000 end", big: 2 ** 60, ubig: 2 ** 63, neg: -(2 ** 60), ratio: 0.1, flag: true,
  blob: Uint8Array.of(0, 1, 254, 255), color: pb.Color.COLOR_BLUE, tags: ["a", "", "c"],
  inners: [{ name: "i1", ids: [1, -2, 2147483647] }, { name: "i2" }],
  by_name: { x: { name: "nx", ids: [7] }, "": { name: "empty" } },
  by_id: new Map([[2 ** 60, "big"], [-3, "neg"]]), by_flag: new Map([[true, 1], [false, -1]]),
  maybe: 0, inner: { name: "in", ids: [] }, number: 2 ** 55,
});
window.same = (a, b) => {
  if (a instanceof Uint8Array || b instanceof Uint8Array) return a instanceof Uint8Array && b instanceof Uint8Array && a.length === b.length && a.every((x, i) => x === b[i]);
  if (a instanceof Map || b instanceof Map) return a instanceof Map && b instanceof Map && a.size === b.size && [...a].every(([k, v]) => b.has(k) && same(v, b.get(k)));
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (a && b && typeof a === "object" && typeof b === "object") {
    const ka = Object.keys(a).filter((k) => !isZero(a[k])), kb = Object.keys(b).filter((k) => !isZero(b[k]));
    return ka.length === kb.length && ka.every((k) => same(a[k], b[k]));
  }
  return Object.is(a, b);
};
// zero values are omitted on the wire, except an optional's
window.isZero = (v) => v === undefined || v === "" || v === false || (Array.isArray(v) && v.length === 0);
window.err = (e) => ({ isParley: e instanceof parley.ParleyError, code: e.code, message: e.rawMessage, trailers: e.trailers, wire: e.wire, details: e.details === undefined ? undefined : e.details.map((d) => d.type_url + " " + d.value.length) });
`

// wantValue is V() of e2eHelpers as the Go server decodes it.
func wantValue() *e2epb.Value {
	zero := int32(0)
	return &e2epb.Value{
		Text: "héllo ✓ \x00 end", Big: 1 << 60, Ubig: 1 << 63, Neg: -(1 << 60), Ratio: 0.1, Flag: true,
		Blob: []byte{0, 1, 254, 255}, Color: e2epb.Color_COLOR_BLUE, Tags: []string{"a", "", "c"},
		Inners: []*e2epb.Inner{{Name: "i1", Ids: []int32{1, -2, 2147483647}}, {Name: "i2"}},
		ByName: map[string]*e2epb.Inner{"x": {Name: "nx", Ids: []int32{7}}, "": {Name: "empty"}},
		ById:   map[int64]string{1 << 60: "big", -3: "neg"}, ByFlag: map[bool]int32{true: 1, false: -1},
		Maybe: &zero, Inner: &e2epb.Inner{Name: "in"}, Choice: &e2epb.Value_Number{Number: 1 << 55},
	}
}

// e2eTab opens a headless Chromium tab on the page at base, with the helpers defined.
func e2eTab(t *testing.T, exe, base string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	t.Cleanup(cancel)
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Flag("disable-dev-shm-usage", true))...)
	t.Cleanup(cancelAlloc)
	tab, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(cancelTab)
	if err := chromedp.Do(tab, chromedp.Navigate(base+"/"), chromedp.Poll[chromedp.Void](`window.probe !== undefined`),
		chromedp.Evaluate[chromedp.Void](e2eHelpers)); err != nil {
		t.Fatalf("load the page: %v", err)
	}
	return tab
}

type jsErr struct {
	IsParley bool                `json:"isParley"`
	Code     int                 `json:"code"`
	Message  string              `json:"message"`
	Trailers map[string][]string `json:"trailers"`
	Wire     bool                `json:"wire"`
	Details  []string            `json:"details"`
}

// TestBrowserClientCalls: a page calls a service of its own through the
// client `parley gen -lang ts` generates, bundled as a user bundles it,
// served by the same parley server: every kind of call, values that
// round-trip exactly, errors with details and trailers, metadata,
// deadlines, cancellation the handlers see, and large messages.
func TestBrowserClientCalls(t *testing.T) {
	exe := chromium(t)
	js := bundleE2E(t)
	s := startE2E(t, js, "127.0.0.1:0")
	defer func() { s.stop() }()
	tab := e2eTab(t, exe, "http://"+s.addr)

	t.Run("round trip", func(t *testing.T) {
		var r map[string]any
		jsCall(t, tab, `
const out = {};
const u = await probe.echo({ value: V() });
out.unary = same(u.value, V());
const got = [];
for await (const m of probe.count({ value: V(), count: 3 })) got.push(m);
out.stream = got.length === 3 && got.every((m, i) => same(m.value, V()) && m.received === i + 1);
const sum = probe.sum();
await sum.send({ value: { text: "first" } });
await sum.send({ value: V() });
const sres = await sum.closeAndRecv();
out.client = same(sres.value, V()) && sres.received === 2;
const chat = probe.chat();
const back = [];
for (let i = 0; i < 3; i++) { await chat.send({ value: V() }); back.push((await chat.recv()).value); }
await chat.closeSend();
out.bidiEnd = (await chat.recv()) === undefined && (await chat.end).code === 0;
out.bidi = back.every((v) => same(v, V()));
out.bidiDetail = JSON.stringify([back[0].big, back[0].ubig, back[0].neg, [...back[0].by_id.keys()], back[0].number]);
return out;`, &r)
		for _, k := range []string{"unary", "stream", "client", "bidi", "bidiEnd"} {
			if r[k] != true {
				t.Errorf("%s: the value did not round-trip: %v", k, r)
			}
		}
		s.probe.mu.Lock()
		last := s.probe.last
		s.probe.mu.Unlock()
		if !reflect.DeepEqual(last, wantValue()) {
			t.Errorf("the server decoded\n%+v\nwant\n%+v", last, wantValue())
		}
	})

	t.Run("errors", func(t *testing.T) {
		var r map[string]jsErr
		jsCall(t, tab, `
const out = {};
try { await probe.echo({ fail: 5 }); } catch (e) { out.unary = err(e); }
try { for await (const m of probe.count({ fail: 9, count: 1 })) {} } catch (e) { out.stream = err(e); }
try { const c = probe.sum(); await c.send({ fail: 7 }); await c.closeAndRecv(); } catch (e) { out.client = err(e); }
try { const c = probe.chat(); await c.send({ fail: 10 }); for await (const m of c) {} } catch (e) { out.bidi = err(e); }
return out;`, &r)
		want := map[string]int{"unary": 5, "stream": 9, "client": 7, "bidi": 10}
		for k, code := range want {
			e := r[k]
			if !e.IsParley || e.Code != code || !e.Wire || e.Message != "nope: 100% ünïcode\nline" {
				t.Errorf("%s: %+v, want a wire ParleyError %d with the server's message", k, e, code)
			}
			if got := e.Trailers["x-trail"]; len(got) != 1 || got[0] != "t1" {
				t.Errorf("%s: trailers %v, want x-trail: t1", k, e.Trailers)
			}
			if got := e.Trailers["x-trail-bin"]; len(got) != 1 || got[0] != "AP9iaW4" {
				t.Errorf("%s: trailers %v, want x-trail-bin (base64 of the bytes)", k, e.Trailers)
			}
			if got := e.Trailers["grpc-status-details-bin"]; len(got) != 1 || got[0] == "" {
				t.Errorf("%s: trailers %v, want the status's details (grpc-status-details-bin)", k, e.Trailers)
			}
			if len(e.Details) != 1 || !strings.HasPrefix(e.Details[0], "type.googleapis.com/google.rpc.ErrorInfo ") {
				t.Errorf("%s: details %q, want the ErrorInfo the server sent", k, e.Details)
			}
		}
	})

	t.Run("headers", func(t *testing.T) {
		var r map[string]map[string][]string
		jsCall(t, tab, `
const c = probe.chat(); await c.send({}); await c.recv(); const h = await c.headers; await c.closeSend(); await c.end;
return { bidi: h };`, &r)
		if h := r["bidi"]; len(h["x-head"]) != 1 || h["x-head"][0] != "h1" || len(h["x-head-bin"]) != 1 || h["x-head-bin"][0] != "AQI" {
			t.Errorf("bidi response headers %v, want x-head: h1 and x-head-bin: AQI", h)
		}
	})

	t.Run("deadlines", func(t *testing.T) {
		before := s.probe.cancelled.Load()
		var r map[string]jsErr
		jsCall(t, tab, `
const out = {}; const o = { timeoutMs: 300 };
try { await probe.echo({ hold_ms: 20000 }, o); } catch (e) { out.unary = err(e); }
try { for await (const m of probe.count({ hold_ms: 20000, count: 1 }, o)) {} } catch (e) { out.stream = err(e); }
try { const c = probe.sum(o); await c.send({ hold_ms: 20000 }); await c.closeAndRecv(); } catch (e) { out.client = err(e); }
try { const c = probe.chat(o); await c.send({ hold_ms: 20000 }); for await (const m of c) {} } catch (e) { out.bidi = err(e); }
return out;`, &r)
		for _, k := range []string{"unary", "stream", "client", "bidi"} {
			if e := r[k]; !e.IsParley || e.Code != int(wire.DeadlineExceeded) {
				t.Errorf("%s: %+v, want DEADLINE_EXCEEDED", k, e)
			}
		}
		s.waitIdle(t, "after the deadlines")
		if n := s.probe.cancelled.Load() - before; n != 4 {
			t.Errorf("%d handlers saw their context end, want 4", n)
		}
	})

	t.Run("abort", func(t *testing.T) {
		before := s.probe.cancelled.Load()
		var r map[string]jsErr
		jsCall(t, tab, `
const out = {};
const later = () => { const a = new AbortController(); setTimeout(() => a.abort(), 300); return { signal: a.signal }; };
try { await probe.echo({ hold_ms: 20000 }, later()); } catch (e) { out.unary = err(e); }
try { for await (const m of probe.count({ hold_ms: 20000, count: 1 }, later())) {} } catch (e) { out.stream = err(e); }
try { const c = probe.sum(later()); await c.send({ hold_ms: 20000 }); await c.closeAndRecv(); } catch (e) { out.client = err(e); }
try { const c = probe.chat(later()); await c.send({ hold_ms: 20000 }); for await (const m of c) {} } catch (e) { out.bidi = err(e); }
return out;`, &r)
		for _, k := range []string{"unary", "stream", "client", "bidi"} {
			if e := r[k]; !e.IsParley || e.Code != int(wire.Canceled) {
				t.Errorf("%s: %+v, want CANCELLED", k, e)
			}
		}
		s.waitIdle(t, "after the aborts")
		if n := s.probe.cancelled.Load() - before; n != 4 {
			t.Errorf("%d handlers saw their context end, want 4", n)
		}
	})

	t.Run("large", func(t *testing.T) {
		var r map[string]any
		jsCall(t, tab, `
const out = {}; const big = new Uint8Array(4 * 1024 * 1024 - 256).map((_, i) => i & 0xff);
const pad = 4 * 1024 * 1024 - 256;
const u = await probe.echo({ value: { blob: big }, pad });
out.unary = same(u.value.blob, big) && u.pad.length === pad && u.pad[pad - 1] === ((pad - 1) & 0xff);
const c = probe.chat(); await c.send({ value: { blob: big }, pad }); const m = await c.recv(); await c.closeSend(); await c.end;
out.bidi = same(m.value.blob, big) && m.pad.length === pad;
try { await probe.echo({ value: { blob: new Uint8Array(4 * 1024 * 1024 + 1) } }); } catch (e) { out.overUnary = e.code; }
try { const c = probe.chat(); await c.send({ value: { blob: new Uint8Array(4 * 1024 * 1024 + 1) } }); for await (const m of c) {} } catch (e) { out.overBidi = e.code; }
return out;`, &r)
		if r["unary"] != true || r["bidi"] != true {
			t.Errorf("large messages: %v", r)
		}
		if r["overUnary"] != float64(wire.ResourceExhausted) || r["overBidi"] != float64(wire.ResourceExhausted) {
			t.Errorf("messages over the limit: %v, want RESOURCE_EXHAUSTED", r)
		}
	})

	t.Run("many", func(t *testing.T) {
		var r map[string]any
		jsCall(t, tab, `
const one = async (i) => { const c = probe.chat(); const vs = [];
  for (let j = 0; j < 5; j++) { await c.send({ value: { text: "c" + i + "." + j } }); vs.push((await c.recv()).value.text); }
  await c.closeSend(); const s = await c.end; return s.code === 0 && vs.every((v, j) => v === "c" + i + "." + j); };
const rs = await Promise.all(Array.from({ length: 100 }, (_, i) => one(i)));
const us = await Promise.all(Array.from({ length: 50 }, (_, i) => probe.echo({ value: { text: "u" + i } })));
return { ok: rs.filter(Boolean).length, unary: us.every((u, i) => u.value.text === "u" + i) };`, &r)
		if r["ok"] != float64(100) || r["unary"] != true {
			t.Errorf("concurrent calls: %v", r)
		}
		s.waitIdle(t, "after the concurrent calls")
	})

	t.Run("cors", func(t *testing.T) {
		closed := startE2E(t, js, "127.0.0.1:0")
		defer closed.stop()
		origin := "http://" + s.addr
		open := startE2E(t, js, "127.0.0.1:0", web.WithAllowedOrigins(origin), web.WithExposedHeaders("x-trail", "x-trail-bin"))
		defer open.stop()
		var r map[string]any
		jsCall(t, tab, `
const out = {};
const closed = new pb.ProbeClient(new parley.Transport("http://`+closed.addr+`"));
const open = new pb.ProbeClient(new parley.Transport("http://`+open.addr+`"));
try { await closed.echo({}); out.closedUnary = "served"; } catch (e) { out.closedUnary = e.code; }
const c = closed.chat(); out.closedBidi = (await c.end).code;
out.openUnary = (await open.echo({ value: { text: "x" } }, { metadata: { "x-any": "1" } })).value.text;
for await (const m of open.count({ count: 2, value: { text: "y" } })) out.openStream = m.value.text;
const b = open.chat(); await b.send({ value: { text: "z" } }); out.openBidi = (await b.recv()).value.text; await b.closeSend(); await b.end;
try { await open.echo({ fail: 5 }); } catch (e) { out.openErr = err(e); }
return out;`, &r)
		// The refused preflight (403, no CORS headers) is a network error
		// to the page: the browser hides the answer from it.
		if r["closedUnary"] != float64(wire.Unavailable) {
			t.Errorf("a unary call from an origin not allowed: %v, want UNAVAILABLE (refused)", r["closedUnary"])
		}
		if r["closedBidi"] != float64(wire.Unavailable) {
			t.Errorf("a WebSocket call from an origin not allowed: %v, want UNAVAILABLE (refused)", r["closedBidi"])
		}
		if r["openUnary"] != "x" || r["openStream"] != "y" || r["openBidi"] != "z" {
			t.Errorf("calls from an allowed origin: %v", r)
		}
		e, _ := json.Marshal(r["openErr"])
		var je jsErr
		_ = json.Unmarshal(e, &je)
		if je.Code != 5 || len(je.Trailers["x-trail"]) != 1 || len(je.Details) != 1 {
			t.Errorf("an error across origins: %+v, want NOT_FOUND with the exposed trailers and the details", je)
		}
		if n := closed.probe.active.Load() + closed.probe.cancelled.Load(); n != 0 {
			t.Errorf("a call from an origin not allowed reached a handler")
		}
	})

	t.Run("server goes away", func(t *testing.T) {
		var started string
		started, err := chromedp.Run(tab, chromedp.Evaluate[string](`window.gone = {};
window.goneChat = probe.chat(); window.goneChat.send({ hold_ms: 0 }).then(() => window.goneChat.recv()).then(() => "ok", (e) => "recv: " + e)`, chromedp.EvalAwaitPromise))
		if err != nil || started != "ok" {
			t.Fatalf("open a conversation: %v %s", err, started)
		}
		_, _ = chromedp.Run(tab, chromedp.Evaluate[chromedp.Void](`window.goneStream = (async () => { try { for await (const m of probe.count({ count: 1, hold_ms: 20000 })) {} return "ended OK"; } catch (e) { return e.code; } })(); true`))
		time.Sleep(300 * time.Millisecond)
		addr := s.addr
		s.once.Do(func() { _ = s.srv.Close(); <-s.done })
		var r map[string]any
		jsCall(t, tab, `
const t = (p) => Promise.race([p, new Promise((r) => setTimeout(() => r("hang"), 5000))]);
return { bidi: (await t(window.goneChat.end)).code, stream: await t(window.goneStream) };`, &r)
		if r["bidi"] != float64(wire.Unavailable) || r["stream"] != float64(wire.Unavailable) {
			t.Errorf("calls when the server closed: %v, want UNAVAILABLE", r)
		}
		s2 := startE2E(t, js, addr)
		s = s2
		jsCall(t, tab, `const c = probe.chat(); await c.send({ value: { text: "again" } }); const m = await c.recv(); await c.closeSend(); return { text: m.value.text, code: (await c.end).code };`, &r)
		if r["text"] != "again" || r["code"] != float64(0) {
			t.Errorf("after a restart: %v", r)
		}
	})
}
