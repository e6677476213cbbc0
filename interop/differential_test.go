package interop

// Differential tests: the same edge cases against grpc-go and against
// parley, on either side of the call, compared field by field. Each table
// lists the cases where parley does what grpc-go does; where parley
// deliberately differs, the case is left out and the difference is named
// in the comment above the table (docs/protocol.md says why).

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// diffReq asks the edge service for one behaviour (op) and its arguments.
type diffReq struct {
	Op   string `msgpack:"op"`
	Code int32  `msgpack:"code"`
	Msg  string `msgpack:"msg"`
	Size int    `msgpack:"size"`
}

type diffRes struct {
	Msg  string `msgpack:"msg"`
	Body []byte `msgpack:"body"`
}

const (
	diffUnary = "/parley.edge.Edge/Unary"
	diffBidi  = "/parley.edge.Edge/Bidi"
)

// The edge service, on both servers. Unary runs one op; Bidi runs one op
// per request and answers each, then "eof after N" once the client
// half-closes. The ops:
//
//	status     fail with code and msg
//	plainerr   fail with a plain error (UNKNOWN)
//	ctxerr     fail with an error wrapping context.DeadlineExceeded
//	echo       copy the request's x-* metadata to the headers and trailers
//	hdrerr     set header x-h and trailer x-t, then fail with code and msg
//	reserved   set header and trailer metadata with the key msg besides x-ok, x-okt
//	hdrafter   (Bidi) send, then try to set a header: reports whether it failed
//	deadline   answer the seconds left until the call's deadline, or "none"
//	sleep      wait for the context to end and fail with its error
//	big        answer a body of size bytes
//	bigheader  set header x-big of size bytes
//	bigtrailer set trailer x-big of size bytes
//	anything else answers "ok".

// startGRPCEdge serves the edge service with grpc-go.
func startGRPCEdge(t *testing.T, opts ...grpc.ServerOption) string {
	t.Helper()
	gs := grpc.NewServer(opts...)
	gs.RegisterService(&grpc.ServiceDesc{
		ServiceName: "parley.edge.Edge",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Unary", Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
			req := new(diffReq)
			if err := dec(req); err != nil {
				return nil, err
			}
			return grpcEdgeOp(ctx, req, nil)
		}}},
		Streams: []grpc.StreamDesc{{StreamName: "Bidi", ServerStreams: true, ClientStreams: true, Handler: func(_ any, ss grpc.ServerStream) error {
			for n := 0; ; n++ {
				req := new(diffReq)
				if err := ss.RecvMsg(req); err == io.EOF {
					return ss.SendMsg(&diffRes{Msg: fmt.Sprintf("eof after %d", n)})
				} else if err != nil {
					return err
				}
				res, err := grpcEdgeOp(ss.Context(), req, ss)
				if err != nil {
					return err
				}
				if err := ss.SendMsg(res); err != nil {
					return err
				}
			}
		}}},
	}, struct{}{})
	l := listen(t)
	done := make(chan struct{})
	go func() { _ = gs.Serve(l); close(done) }()
	t.Cleanup(func() { gs.Stop(); <-done })
	return l.Addr().String()
}

func grpcEdgeOp(ctx context.Context, req *diffReq, ss grpc.ServerStream) (*diffRes, error) {
	switch req.Op {
	case "status":
		return nil, status.Error(codes.Code(req.Code), req.Msg)
	case "plainerr":
		return nil, fmt.Errorf("%s", req.Msg)
	case "ctxerr":
		return nil, fmt.Errorf("downstream: %w", context.DeadlineExceeded)
	case "echo":
		in, _ := metadata.FromIncomingContext(ctx)
		out := metadata.MD{}
		for k, v := range in {
			if strings.HasPrefix(k, "x-") {
				out[k] = v
			}
		}
		_ = grpc.SetHeader(ctx, out)
		_ = grpc.SetTrailer(ctx, out)
	case "hdrerr":
		_ = grpc.SetHeader(ctx, metadata.Pairs("x-h", "1"))
		_ = grpc.SetTrailer(ctx, metadata.Pairs("x-t", "1"))
		return nil, status.Error(codes.Code(req.Code), req.Msg)
	case "reserved":
		e1 := grpc.SetHeader(ctx, metadata.MD{req.Msg: {"v"}, "x-ok": {"1"}})
		e2 := grpc.SetTrailer(ctx, metadata.MD{req.Msg: {"v"}, "x-okt": {"1"}})
		return &diffRes{Msg: fmt.Sprint(e1 != nil, e2 != nil)}, nil
	case "hdrafter":
		if ss != nil {
			_ = ss.SendMsg(&diffRes{Msg: "first"})
			return &diffRes{Msg: fmt.Sprint(ss.SetHeader(metadata.Pairs("x-late", "1")) != nil)}, nil
		}
	case "deadline":
		return &diffRes{Msg: deadlineLeft(ctx)}, nil
	case "sleep":
		<-ctx.Done()
		return nil, status.FromContextError(ctx.Err()).Err()
	case "big":
		return &diffRes{Body: make([]byte, req.Size)}, nil
	case "bigheader":
		_ = grpc.SetHeader(ctx, metadata.Pairs("x-big", strings.Repeat("a", req.Size)))
	case "bigtrailer":
		_ = grpc.SetTrailer(ctx, metadata.Pairs("x-big", strings.Repeat("a", req.Size)))
	default:
		return &diffRes{Msg: "ok"}, nil
	}
	return &diffRes{}, nil
}

// startParleyEdge serves the edge service with parley over its own
// HTTP/2 (framer) or net/http's.
func startParleyEdge(t *testing.T, framer bool, opts ...runtime.ServerOption) string {
	t.Helper()
	// Response metadata that cannot be sent is logged; the tests send
	// some on purpose.
	quiet := runtime.WithLogger(slog.New(slog.DiscardHandler))
	srv := runtime.NewServer(append([]runtime.ServerOption{http2Impl(framer), quiet}, opts...)...)
	runtime.HandleUnary(srv, diffUnary, func(ctx context.Context, req *diffReq) (*diffRes, error) {
		return parleyEdgeOp(ctx, req)
	})
	runtime.HandleBidi(srv, diffBidi, func(call *runtime.ServerCall[diffReq, diffRes]) error {
		for n := 0; ; n++ {
			req, err := call.Recv()
			if err == io.EOF {
				return call.Send(&diffRes{Msg: fmt.Sprintf("eof after %d", n)})
			} else if err != nil {
				return err
			}
			res, err := parleyEdgeOp(call.Context(), req)
			if req.Op == "hdrafter" {
				_ = call.Send(&diffRes{Msg: "first"})
				res, err = &diffRes{Msg: fmt.Sprint(call.SetHeader(wire.Pairs("x-late", "1")) != nil)}, nil
			}
			if err != nil {
				return err
			}
			if err := call.Send(res); err != nil {
				return err
			}
		}
	})
	return serveParley(t, srv)
}

func parleyEdgeOp(ctx context.Context, req *diffReq) (*diffRes, error) {
	switch req.Op {
	case "status":
		return nil, wire.NewError(wire.Code(req.Code), req.Msg)
	case "plainerr":
		return nil, fmt.Errorf("%s", req.Msg)
	case "ctxerr":
		return nil, fmt.Errorf("downstream: %w", context.DeadlineExceeded)
	case "echo":
		out := wire.Metadata{}
		for k, v := range runtime.IncomingMetadata(ctx) {
			if strings.HasPrefix(k, "x-") {
				out[k] = v
			}
		}
		_ = runtime.SetHeader(ctx, out)
		_ = runtime.SetTrailer(ctx, out)
	case "hdrerr":
		_ = runtime.SetHeader(ctx, wire.Pairs("x-h", "1"))
		_ = runtime.SetTrailer(ctx, wire.Pairs("x-t", "1"))
		return nil, wire.NewError(wire.Code(req.Code), req.Msg)
	case "reserved":
		e1 := runtime.SetHeader(ctx, wire.Metadata{req.Msg: {"v"}, "x-ok": {"1"}})
		e2 := runtime.SetTrailer(ctx, wire.Metadata{req.Msg: {"v"}, "x-okt": {"1"}})
		return &diffRes{Msg: fmt.Sprint(e1 != nil, e2 != nil)}, nil
	case "hdrafter":
	case "deadline":
		return &diffRes{Msg: deadlineLeft(ctx)}, nil
	case "sleep":
		<-ctx.Done()
		return nil, ctx.Err()
	case "big":
		return &diffRes{Body: make([]byte, req.Size)}, nil
	case "bigheader":
		_ = runtime.SetHeader(ctx, wire.Pairs("x-big", strings.Repeat("a", req.Size)))
	case "bigtrailer":
		_ = runtime.SetTrailer(ctx, wire.Pairs("x-big", strings.Repeat("a", req.Size)))
	default:
		return &diffRes{Msg: "ok"}, nil
	}
	return &diffRes{}, nil
}

func deadlineLeft(ctx context.Context) string {
	d, ok := ctx.Deadline()
	if !ok {
		return "none"
	}
	return fmt.Sprintf("%.0f", time.Until(d).Round(time.Second).Seconds())
}

// outcome is what a client saw of a call: its status, its responses (or
// a body's size) and the x-* keys of its response metadata.
type outcome struct {
	code    codes.Code
	msg     string
	res     string
	header  string
	trailer string
}

func (o outcome) String() string {
	return fmt.Sprintf("%v %q res=%q header=%s trailer=%s", o.code, o.msg, o.res, o.header, o.trailer)
}

// same compares o with grpc-go's outcome w; the messages only if msg
// (a client makes up its own for the errors it detects itself).
func (o outcome) same(w outcome, msg bool) bool {
	if !msg {
		o.msg, w.msg = "", ""
	}
	return o == w
}

func xKeys(md map[string][]string) string {
	var kv []string
	for k, v := range md {
		if strings.HasPrefix(k, "x-") {
			val := strings.Join(v, ",")
			if len(val) > 32 {
				val = fmt.Sprintf("<%d bytes>", len(val))
			}
			kv = append(kv, k+"="+val)
		}
	}
	sort.Strings(kv)
	return "{" + strings.Join(kv, " ") + "}"
}

// diffCase is one call: its request, request metadata, timeout (5 s if
// zero) and kind. On Bidi the request is sent once (not at all if its op
// is "none"), then the client half-closes and reads to the end.
type diffCase struct {
	name    string
	req     diffReq
	md      []string
	timeout time.Duration
	bidi    bool
	// localMsg: the client makes the error up itself (a deadline, a size
	// limit), so its wording is the client's own and is not compared.
	localMsg bool
}

func (c diffCase) ctx() (context.Context, context.CancelFunc) {
	timeout := c.timeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	return context.WithTimeout(context.Background(), timeout)
}

func bodyString(r *diffRes) string {
	if len(r.Body) > 0 {
		return fmt.Sprintf("%s+%dB", r.Msg, len(r.Body))
	}
	return r.Msg
}

// grpcCall makes c with grpc-go's client.
func grpcCall(cc *grpc.ClientConn, c diffCase, opts ...grpc.CallOption) outcome {
	ctx, cancel := c.ctx()
	defer cancel()
	if len(c.md) > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, c.md...)
	}
	opts = append(opts, grpc.CallContentSubtype(CodecName))
	var hdr, tlr metadata.MD
	var res string
	var err error
	if c.bidi {
		var s grpc.ClientStream
		s, err = cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, diffBidi, opts...)
		if err == nil {
			if c.req.Op != "none" {
				_ = s.SendMsg(&c.req)
			}
			_ = s.CloseSend()
			var all []string
			for {
				r := new(diffRes)
				if err = s.RecvMsg(r); err != nil {
					break
				}
				all = append(all, bodyString(r))
			}
			if err == io.EOF {
				err = nil
			}
			res = strings.Join(all, "|")
			hdr, _ = s.Header()
			tlr = s.Trailer()
		}
	} else {
		r := new(diffRes)
		err = cc.Invoke(ctx, diffUnary, &c.req, r, append(opts, grpc.Header(&hdr), grpc.Trailer(&tlr))...)
		res = bodyString(r)
	}
	st := status.Convert(err)
	o := outcome{code: st.Code(), msg: st.Message(), header: xKeys(hdr), trailer: xKeys(tlr)}
	if err == nil {
		o.res = res
	}
	return o
}

// parleyCall makes c with parley's client.
func parleyCall(cl *runtime.Client, c diffCase, opts ...runtime.CallOption) outcome {
	ctx, cancel := c.ctx()
	defer cancel()
	if len(c.md) > 0 {
		ctx = runtime.AppendOutgoing(ctx, c.md...)
	}
	var hdr, tlr wire.Metadata
	var res string
	var err error
	if c.bidi {
		var call *runtime.ClientCall[diffReq, diffRes]
		call, err = runtime.Open[diffReq, diffRes](ctx, cl, diffBidi, opts...)
		if err == nil {
			if c.req.Op != "none" {
				_ = call.Send(&c.req)
			}
			_ = call.CloseSend()
			var all []string
			for {
				var r *diffRes
				if r, err = call.Recv(); err != nil {
					break
				}
				all = append(all, bodyString(r))
			}
			if err == io.EOF {
				err = nil
			}
			res = strings.Join(all, "|")
			hdr, _ = call.Header()
			tlr = call.Trailer()
		}
	} else {
		var r *diffRes
		r, err = runtime.CallUnary[diffReq, diffRes](ctx, cl, diffUnary, &c.req, append(opts, runtime.Header(&hdr), runtime.Trailer(&tlr))...)
		if err == nil {
			res = bodyString(r)
		}
	}
	o := outcome{header: xKeys(hdr), trailer: xKeys(tlr)}
	if err != nil {
		we := wire.AsError(err)
		o.code, o.msg = codes.Code(we.Code()), we.Message()
	} else {
		o.res = res
	}
	return o
}

// diffCases are made by a client against the edge service; parley's server
// and client both do what grpc-go's do in each. Left out, because parley
// differs on purpose: a wire.Error with code OK (parley has none: it is
// UNKNOWN), a handler panic (grpc-go's server crashes), a handler error
// wrapping a status (grpc-go's message is the whole chain, parley's the
// status's own), response metadata with an illegal key, upper case
// included (grpc-go's server sends it and the call fails with INTERNAL;
// parley drops the key, or lowers its case), and request metadata with a reserved key (grpc-go's client
// drops it; parley's fails the call).
var diffCases = []diffCase{
	{name: "ok", req: diffReq{Op: "x"}},
	{name: "every code", req: diffReq{Op: "status", Code: 1, Msg: "one"}},
	{name: "unicode, percent and control characters", req: diffReq{Op: "status", Code: 3, Msg: "héllo ☃ 100% \t\n\x01 done"}},
	{name: "invalid UTF-8", req: diffReq{Op: "status", Code: 3, Msg: "bad \xff\xfe end"}},
	{name: "long message", req: diffReq{Op: "status", Code: 9, Msg: strings.Repeat("long message ", 2000)}},
	{name: "code 17", req: diffReq{Op: "status", Code: 17, Msg: "seventeen"}},
	{name: "plain error", req: diffReq{Op: "plainerr", Msg: "plain"}},
	{name: "context error", req: diffReq{Op: "ctxerr"}},
	{name: "metadata round trip", req: diffReq{Op: "echo"}, md: []string{
		"x-a", "1", "x-a", "2", "x-b-bin", "\x00\x01\xff", "x-c", "", "X-Upper", "u",
		"x-spaces", " a ", "x-comma", "a,b", "x-bin-comma-bin", "a,b", "x-bin-comma-bin", "", "x-user-agent", "a",
	}},
	{name: "header, trailer, then an error", req: diffReq{Op: "hdrerr", Code: 5, Msg: "nf"}},
	{name: "bidi: header, trailer, then an error", req: diffReq{Op: "hdrerr", Code: 5, Msg: "nf"}, bidi: true},
	{name: "bidi: header after a message", req: diffReq{Op: "hdrafter"}, bidi: true},
	{name: "bidi: no messages", req: diffReq{Op: "none"}, bidi: true},
	{name: "bidi: one message", req: diffReq{Op: "x"}, bidi: true},
	{name: "bidi: error", req: diffReq{Op: "status", Code: 7, Msg: "denied ☃ %"}, bidi: true},
	{name: "bidi: context error", req: diffReq{Op: "ctxerr"}, bidi: true},
	{name: "deadline 100 s", req: diffReq{Op: "deadline"}, timeout: 100 * time.Second},
	{name: "deadline 1000 h", req: diffReq{Op: "deadline"}, timeout: 1000 * time.Hour},
	{name: "deadline 200000 h", req: diffReq{Op: "deadline"}, timeout: 200000 * time.Hour},
	{name: "bidi: deadline", req: diffReq{Op: "deadline"}, timeout: 100 * time.Second, bidi: true},
	{name: "deadline passes", req: diffReq{Op: "sleep"}, timeout: 50 * time.Millisecond, localMsg: true},
	{name: "bidi: deadline passes", req: diffReq{Op: "sleep"}, timeout: 50 * time.Millisecond, bidi: true, localMsg: true},
	{name: "deadline passed before the call", req: diffReq{Op: "x"}, timeout: -time.Second, localMsg: true},
	{name: "bidi: deadline passed before the call", req: diffReq{Op: "x"}, timeout: -time.Second, bidi: true, localMsg: true},
	{name: "response over the client's limit", req: diffReq{Op: "big", Size: 5 << 20}, localMsg: true},
	{name: "trailer of 17000 bytes", req: diffReq{Op: "bigtrailer", Size: 17000}},
	{name: "header of 100000 bytes", req: diffReq{Op: "bigheader", Size: 100000}},
	{name: "request metadata of 100000 bytes", req: diffReq{Op: "x"}, md: []string{"x-big", strings.Repeat("b", 100000)}},
}

func init() {
	for code := int32(2); code <= 16; code++ {
		diffCases = append(diffCases, diffCase{name: fmt.Sprintf("code %d", code), req: diffReq{Op: "status", Code: code, Msg: fmt.Sprintf("code %d", code)}})
	}
	for _, key := range []string{"grpc-foo", "grpc-status", "content-type", "te", ":path", "user-agent"} {
		diffCases = append(diffCases, diffCase{name: "response metadata key " + key, req: diffReq{Op: "reserved", Msg: key}})
	}
}

// TestDifferentialServers: a grpc-go client sees the same of every
// diffCase from a parley server, on either HTTP/2, as from a grpc-go
// server, messages included (but where the client may make the error up
// itself: a deadline may end the call on either side first).
func TestDifferentialServers(t *testing.T) {
	servers := []struct{ name, addr string }{
		{"grpc-go", startGRPCEdge(t)},
		{"framer", startParleyEdge(t, true)},
		{"nethttp", startParleyEdge(t, false)},
	}
	ccs := make([]*grpc.ClientConn, len(servers))
	for i, s := range servers {
		cc, err := DialGRPC(s.addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		ccs[i] = cc
	}
	for _, c := range diffCases {
		want := grpcCall(ccs[0], c)
		for i, s := range servers[1:] {
			if got := grpcCall(ccs[i+1], c); !got.same(want, !c.localMsg) {
				t.Errorf("%s, %s server:\n got %v\nwant %v (grpc-go server)", c.name, s.name, got, want)
			}
		}
	}
}

// TestDifferentialClients: parley's client, on either HTTP/2, sees the
// same of every diffCase from a grpc-go server as grpc-go's client does.
func TestDifferentialClients(t *testing.T) {
	addr := startGRPCEdge(t)
	cc, err := DialGRPC(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	for _, framer := range []bool{true, false} {
		cl, err := runtime.Dial(addr, http2Impl(framer))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range diffCases {
			want := grpcCall(cc, c)
			if got := parleyCall(cl, c); !got.same(want, !c.localMsg) {
				t.Errorf("%s, parley client (framer %v):\n got %v\nwant %v (grpc-go client)", c.name, framer, got, want)
			}
		}
		cl.Close()
	}
}

// TestDifferentialLimits: message size limits (1000 bytes received, 2000
// sent) and gzip on both sides, with grpc-go's and parley's servers, and
// with grpc-go's and parley's clients.
func TestDifferentialLimits(t *testing.T) {
	cases := []diffCase{
		{name: "response over the send limit", req: diffReq{Op: "big", Size: 3000}, localMsg: true},
		{name: "response at the send limit", req: diffReq{Op: "big", Size: 1990}, localMsg: true},
		{name: "request over the receive limit", req: diffReq{Op: "x", Msg: strings.Repeat("m", 2000)}, localMsg: true},
		{name: "request just over the receive limit", req: diffReq{Op: "x", Msg: strings.Repeat("m", 980)}, localMsg: true},
		{name: "bidi: response over the send limit", req: diffReq{Op: "big", Size: 3000}, bidi: true, localMsg: true},
		{name: "gzip", req: diffReq{Op: "big", Size: 1500}},
		{name: "gzip request over the receive limit", req: diffReq{Op: "x", Msg: strings.Repeat("m", 2000)}, localMsg: true},
		{name: "gzip request just over the receive limit", req: diffReq{Op: "x", Msg: strings.Repeat("m", 990)}, localMsg: true},
		{name: "gzip response compressed under the send limit", req: diffReq{Op: "big", Size: 100000}},
	}
	gzipped := func(c diffCase) bool { return strings.HasPrefix(c.name, "gzip") }
	t.Run("servers", func(t *testing.T) {
		servers := []struct{ name, addr string }{
			{"grpc-go", startGRPCEdge(t, grpc.MaxRecvMsgSize(1000), grpc.MaxSendMsgSize(2000))},
			{"framer", startParleyEdge(t, true, runtime.MaxRecvMsgSize(1000), runtime.MaxSendMsgSize(2000))},
			{"nethttp", startParleyEdge(t, false, runtime.MaxRecvMsgSize(1000), runtime.MaxSendMsgSize(2000))},
		}
		for _, c := range cases {
			var want outcome
			for i, s := range servers {
				cc, err := DialGRPC(s.addr, nil)
				if err != nil {
					t.Fatal(err)
				}
				var opts []grpc.CallOption
				if gzipped(c) {
					opts = append(opts, grpc.UseCompressor("gzip"))
				}
				got := grpcCall(cc, c, opts...)
				cc.Close()
				if i == 0 {
					want = got
				} else if !got.same(want, false) {
					t.Errorf("%s, %s server:\n got %v\nwant %v (grpc-go server)", c.name, s.name, got, want)
				}
			}
		}
	})
	t.Run("clients", func(t *testing.T) {
		addr := startGRPCEdge(t)
		cc, err := DialGRPC(addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		for _, framer := range []bool{true, false} {
			cl, err := runtime.Dial(addr, http2Impl(framer), runtime.MaxRecvMsgSize(1000), runtime.MaxSendMsgSize(2000))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range cases {
				gopts := []grpc.CallOption{grpc.MaxCallRecvMsgSize(1000), grpc.MaxCallSendMsgSize(2000)}
				var popts []runtime.CallOption
				if gzipped(c) {
					gopts = append(gopts, grpc.UseCompressor("gzip"))
					popts = append(popts, runtime.UseCompressor("gzip"))
				}
				want := grpcCall(cc, c, gopts...)
				if got := parleyCall(cl, c, popts...); !got.same(want, false) {
					t.Errorf("%s, parley client (framer %v):\n got %v\nwant %v (grpc-go client)", c.name, framer, got, want)
				}
			}
			cl.Close()
		}
	})
}

// answer is what a raw HTTP/2 request got: the HTTP status, the
// grpc-status and whether it came alone in the headers (trailers-only).
type answer struct {
	http         int
	status       string
	trailersOnly bool
	err          string
}

func rawRequest(addr, path string, hdr http.Header, body []byte) answer {
	tr := &http.Transport{Protocols: h2c()}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return answer{err: err.Error()}
	}
	req.Header = hdr
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return answer{err: err.Error()}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	a := answer{http: resp.StatusCode, status: resp.Header.Get("grpc-status")}
	if a.status != "" {
		a.trailersOnly = true
	} else {
		a.status = resp.Trailer.Get("grpc-status")
	}
	return a
}

func lengthPrefixed(flag byte, b []byte) []byte {
	out := []byte{flag, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[1:], uint32(len(b)))
	return append(out, b...)
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

// TestDifferentialRequests: requests no well-behaved client sends, sent
// raw to a grpc-go server and to parley's, on either HTTP/2: each gets
// the same HTTP status and grpc-status, in the same place. Left out,
// because parley differs on purpose: a wrong content-type (both answer
// 415; grpc-go adds grpc-status 3), an upper-case or parameterised
// content-type and comma-joined binary metadata (parley accepts them),
// a content-subtype without a codec (parley: UNIMPLEMENTED; grpc-go
// decodes it as protobuf), and a malformed (or empty) grpc-timeout or
// binary metadata (both INTERNAL; grpc-go answers with HTTP 400).
func TestDifferentialRequests(t *testing.T) {
	servers := []struct{ name, addr string }{
		{"grpc-go", startGRPCEdge(t)},
		{"framer", startParleyEdge(t, true)},
		{"nethttp", startParleyEdge(t, false)},
	}
	msg, err := msgpack.Marshal(&diffReq{Op: "x"})
	if err != nil {
		t.Fatal(err)
	}
	h := func(kv ...string) http.Header {
		hd := http.Header{"Content-Type": {"application/grpc+msgpack"}, "Te": {"trailers"}}
		for i := 0; i < len(kv); i += 2 {
			hd.Set(kv[i], kv[i+1])
		}
		return hd
	}
	noTE := h()
	noTE.Del("Te")
	cases := []struct {
		name string
		path string
		hdr  http.Header
		body []byte
	}{
		// A bidi handler whose deadline had passed on arrival may send
		// its response headers before the status is written, so only
		// the status is compared.
		{"bidi: grpc-timeout 0n", diffBidi, h("grpc-timeout", "0n"), lengthPrefixed(0, msg)},
		{"ok", diffUnary, h(), lengthPrefixed(0, msg)},
		{"no te", diffUnary, noTE, lengthPrefixed(0, msg)},
		{"unknown grpc-encoding", diffUnary, h("grpc-encoding", "br"), lengthPrefixed(0, msg)},
		{"unknown grpc-encoding, compressed", diffUnary, h("grpc-encoding", "br"), lengthPrefixed(1, msg)},
		{"compressed without grpc-encoding", diffUnary, h(), lengthPrefixed(1, gzipped(msg))},
		{"compressed with grpc-encoding identity", diffUnary, h("grpc-encoding", "identity"), lengthPrefixed(1, gzipped(msg))},
		{"grpc-encoding gzip, not compressed", diffUnary, h("grpc-encoding", "gzip"), lengthPrefixed(0, msg)},
		{"gzip", diffUnary, h("grpc-encoding", "gzip", "grpc-accept-encoding", "gzip"), lengthPrefixed(1, gzipped(msg))},
		{"gzip, empty payload", diffUnary, h("grpc-encoding", "gzip"), lengthPrefixed(1, nil)},
		{"flag 2", diffUnary, h(), lengthPrefixed(2, msg)},
		{"flag 255", diffUnary, h(), lengthPrefixed(255, msg)},
		{"no request message", diffUnary, h(), nil},
		{"zero-length message", diffUnary, h(), lengthPrefixed(0, nil)},
		{"truncated prefix", diffUnary, h(), []byte{0, 0, 0}},
		{"grpc-timeout 0n", diffUnary, h("grpc-timeout", "0n"), lengthPrefixed(0, msg)},
		{"grpc-timeout 0S", diffUnary, h("grpc-timeout", "0S"), lengthPrefixed(0, msg)},
		{"grpc-timeout 99999999H", diffUnary, h("grpc-timeout", "99999999H"), lengthPrefixed(0, msg)},
		{"grpc-timeout 1m", diffUnary, h("grpc-timeout", "1m"), lengthPrefixed(0, msg)},
		{"padded binary metadata", diffUnary, h("x-a-bin", "AAE="), lengthPrefixed(0, msg)},
		{"reserved request metadata", diffUnary, h("grpc-foo", "bar"), lengthPrefixed(0, msg)},
		{"unknown method", "/parley.edge.Edge/Nope", h(), lengthPrefixed(0, msg)},
		{"unknown service", "/parley.edge.Nope/Unary", h(), lengthPrefixed(0, msg)},
		{"malformed path", "/nopath", h(), lengthPrefixed(0, msg)},
		{"bidi: no messages", diffBidi, h(), nil},
		{"bidi: zero-length message", diffBidi, h(), lengthPrefixed(0, nil)},
		{"bidi: flag 2", diffBidi, h(), lengthPrefixed(2, msg)},
		{"bidi: compressed without grpc-encoding", diffBidi, h(), lengthPrefixed(1, gzipped(msg))},
		{"bidi: unknown grpc-encoding", diffBidi, h("grpc-encoding", "br"), lengthPrefixed(0, msg)},
	}
	for _, c := range cases {
		want := rawRequest(servers[0].addr, c.path, c.hdr.Clone(), c.body)
		for _, s := range servers[1:] {
			got := rawRequest(s.addr, c.path, c.hdr.Clone(), c.body)
			if c.path == diffBidi && c.hdr.Get("grpc-timeout") != "" {
				got.trailersOnly = want.trailersOnly
			}
			if got != want {
				t.Errorf("%s, %s server: got %+v, want %+v (grpc-go server)", c.name, s.name, got, want)
			}
		}
	}
}

// h2c is HTTP/2 without TLS, prior knowledge, and nothing else.
func h2c() *http.Protocols {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &p
}

// serveRaw serves h over h2c on 127.0.0.1 with net/http's HTTP/2 server,
// for responses no gRPC server sends.
func serveRaw(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	l := listen(t)
	srv := &http.Server{Handler: h, Protocols: h2c()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return l.Addr().String()
}

// TestDifferentialResponses: responses no gRPC server sends (a proxy's,
// or a broken server's), read by grpc-go's client and by parley's on
// either HTTP/2: each ends with the same code, responses and metadata.
// Left out, because parley differs on purpose (docs/protocol.md section
// 5): trailers without grpc-status (parley: INTERNAL; grpc-go: UNKNOWN),
// a grpc-status that is not an int32 (parley: INTERNAL), and a
// grpc-status-details-bin whose code is not grpc-status (grpc-go fails the
// call with INTERNAL; parley keeps grpc-status).
func TestDifferentialResponses(t *testing.T) {
	ok, err := msgpack.Marshal(&diffRes{Msg: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	const ct = "application/grpc+msgpack"
	type response struct {
		status  int
		header  []string
		body    []byte
		trailer []string
	}
	// fromServer are the responses whose status message is the server's
	// own grpc-message, compared exactly; for the others each client
	// describes what was wrong in its own words.
	fromServer := map[string]bool{
		"HTTP 429 with a grpc-status": true, "HTTP 503 with a grpc-status": true,
		"unknown grpc-encoding, error": true, "grpc-status 99": true, "grpc-status in the headers": true,
		"bad percent-encoding": true, "UTF-8 percent-encoding": true,
	}
	okTrailer := []string{"grpc-status", "0"}
	responses := map[string]response{
		"ok":                                 {200, []string{"content-type", ct}, lengthPrefixed(0, ok), okTrailer},
		"HTTP 400":                           {400, []string{"content-type", "text/html"}, []byte("no"), nil},
		"HTTP 401":                           {401, []string{"content-type", "text/html"}, []byte("no"), nil},
		"HTTP 403":                           {403, []string{"content-type", "text/html"}, []byte("no"), nil},
		"HTTP 404":                           {404, []string{"content-type", "text/html"}, []byte("no"), nil},
		"HTTP 415":                           {415, []string{"content-type", "text/html"}, []byte("no"), nil},
		"HTTP 429":                           {429, []string{"content-type", "text/html"}, []byte("no"), nil},
		"HTTP 500":                           {500, []string{"content-type", "text/html"}, []byte("no"), nil},
		"HTTP 502":                           {502, []string{"content-type", "text/html"}, []byte("no"), nil},
		"HTTP 503":                           {503, []string{"content-type", "text/html"}, []byte("no"), nil},
		"HTTP 504":                           {504, []string{"content-type", "text/html"}, []byte("no"), nil},
		"HTTP 429 with a grpc-status":        {429, []string{"content-type", "application/grpc", "grpc-status", "8", "grpc-message", "slow down"}, nil, nil},
		"HTTP 503 with a grpc-status":        {503, []string{"content-type", ct, "grpc-status", "5", "grpc-message", "gone"}, nil, nil},
		"HTTP 401, text, with a grpc-status": {401, []string{"content-type", "text/plain", "grpc-status", "7"}, nil, nil},
		"no content-type":                    {200, nil, lengthPrefixed(0, ok), okTrailer},
		"content-type text/plain":            {200, []string{"content-type", "text/plain"}, lengthPrefixed(0, ok), okTrailer},
		"content-type application/grpc":      {200, []string{"content-type", "application/grpc"}, lengthPrefixed(0, ok), okTrailer},
		"unknown grpc-encoding, plain":       {200, []string{"content-type", ct, "grpc-encoding", "br"}, lengthPrefixed(0, ok), okTrailer},
		"unknown grpc-encoding, error":       {200, []string{"content-type", ct, "grpc-encoding", "br"}, nil, []string{"grpc-status", "5", "grpc-message", "nf"}},
		"unknown grpc-encoding, compressed":  {200, []string{"content-type", ct, "grpc-encoding", "br"}, lengthPrefixed(1, ok), okTrailer},
		"grpc-encoding identity":             {200, []string{"content-type", ct, "grpc-encoding", "identity"}, lengthPrefixed(0, ok), okTrailer},
		"compressed without grpc-encoding":   {200, []string{"content-type", ct}, lengthPrefixed(1, gzipped(ok)), okTrailer},
		"gzip":                               {200, []string{"content-type", ct, "grpc-encoding", "gzip"}, lengthPrefixed(1, gzipped(ok)), okTrailer},
		"flag 2":                             {200, []string{"content-type", ct}, lengthPrefixed(2, ok), okTrailer},
		"OK without a message":               {200, []string{"content-type", ct}, nil, okTrailer},
		"trailers-only OK":                   {200, []string{"content-type", ct, "grpc-status", "0"}, nil, nil},
		"grpc-status in the headers":         {200, []string{"content-type", ct, "grpc-status", "0"}, lengthPrefixed(0, ok), []string{"grpc-status", "5", "grpc-message", "real"}},
		"two messages":                       {200, []string{"content-type", ct}, append(lengthPrefixed(0, ok), lengthPrefixed(0, ok)...), okTrailer},
		"zero-length message":                {200, []string{"content-type", ct}, lengthPrefixed(0, nil), okTrailer},
		"no trailers":                        {200, []string{"content-type", ct}, lengthPrefixed(0, ok), nil},
		"truncated message":                  {200, []string{"content-type", ct}, lengthPrefixed(0, ok)[:7], okTrailer},
		"grpc-status 99":                     {200, []string{"content-type", ct}, nil, []string{"grpc-status", "99", "grpc-message", "ninety-nine"}},
		"bad percent-encoding":               {200, []string{"content-type", ct}, nil, []string{"grpc-status", "5", "grpc-message", "a%zzb%4"}},
		"UTF-8 percent-encoding":             {200, []string{"content-type", ct}, nil, []string{"grpc-status", "5", "grpc-message", "caf%C3%A9 %E2%98%83"}},
		"grpc-message with OK":               {200, []string{"content-type", ct}, lengthPrefixed(0, ok), []string{"grpc-status", "0", "grpc-message", "fine"}},
		"padded and unpadded binary":         {200, []string{"content-type", ct, "x-a-bin", "AAE="}, lengthPrefixed(0, ok), []string{"grpc-status", "0", "x-b-bin", "AAE"}},
		"malformed binary header":            {200, []string{"content-type", ct, "x-a-bin", "!!!"}, lengthPrefixed(0, ok), okTrailer},
		"malformed binary trailer":           {200, []string{"content-type", ct}, lengthPrefixed(0, ok), []string{"grpc-status", "0", "x-a-bin", "!!!"}},
		"malformed grpc-status-details-bin":  {200, []string{"content-type", ct}, nil, []string{"grpc-status", "5", "grpc-message", "nf", "grpc-status-details-bin", "!!!"}},
	}
	addr := serveRaw(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		resp, ok := responses[r.Header.Get("x-response")]
		if !ok {
			w.WriteHeader(http.StatusTeapot)
			return
		}
		for i := 0; i < len(resp.trailer); i += 2 {
			w.Header().Add(http.TrailerPrefix+resp.trailer[i], resp.trailer[i+1])
		}
		for i := 0; i < len(resp.header); i += 2 {
			w.Header().Add(resp.header[i], resp.header[i+1])
		}
		w.WriteHeader(resp.status)
		_, _ = w.Write(resp.body)
	})
	names := make([]string, 0, len(responses))
	for n := range responses {
		names = append(names, n)
	}
	sort.Strings(names)
	cc, err := DialGRPC(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	for _, framer := range []bool{true, false} {
		cl, err := runtime.Dial(addr, http2Impl(framer))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			for _, bidi := range []bool{false, true} {
				c := diffCase{name: n, req: diffReq{Op: "x"}, md: []string{"x-response", n}, bidi: bidi}
				want := grpcCall(cc, c)
				if got := parleyCall(cl, c); !got.same(want, fromServer[n]) {
					t.Errorf("%s (bidi %v), parley client (framer %v):\n got %v\nwant %v (grpc-go client)", n, bidi, framer, got, want)
				}
			}
		}
		cl.Close()
	}
}
