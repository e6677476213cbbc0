package runtime_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// TestResponseOverClientHeaderLimit: response headers or trailers larger
// than the client's SETTINGS_MAX_HEADER_LIST_SIZE fail that call with
// INTERNAL and its handler's context ends; other calls on the connection
// go on (the client's Framer would have ended the connection for a block
// that large). Over parley's own transport: net/http's server does not
// check the client's limit. A request over the server's limit fails
// with INTERNAL before it is sent, as grpc-go's does.
func TestResponseOverClientHeaderLimit(t *testing.T) {
	big := func() wire.Metadata {
		md := wire.Metadata{}
		for i := range 8 {
			md.Set(fmt.Sprintf("x-big-%d", i), strings.Repeat("a", 4<<10))
		}
		return md
	}
	const (
		mHeaders      = "/limit.T/Headers"
		mTrailers     = "/limit.T/Trailers"
		mErrorHeaders = "/limit.T/ErrorHeaders"
		mStreamHeader = "/limit.T/StreamHeader"
	)
	handlerDone := make(chan error, 1)
	reg := func(s *prt.Server) {
		registerEcho(s)
		prt.HandleUnary(s, mHeaders, func(ctx context.Context, req *Msg) (*Msg, error) {
			_ = prt.SetHeader(ctx, big())
			return &Msg{Text: "ok"}, nil
		})
		prt.HandleUnary(s, mTrailers, func(ctx context.Context, req *Msg) (*Msg, error) {
			_ = prt.SetTrailer(ctx, big())
			return &Msg{Text: "ok"}, nil
		})
		prt.HandleUnary(s, mErrorHeaders, func(ctx context.Context, req *Msg) (*Msg, error) {
			_ = prt.SetHeader(ctx, big()) // trailers-only: one HEADERS frame
			return nil, wire.NewError(wire.NotFound, "none")
		})
		prt.HandleServerStream(s, mStreamHeader, func(req *Msg, call *prt.ServerCall[Msg, Msg]) error {
			_ = call.SendHeader(big())
			var err error
			for err == nil { // the first Send fails, or a later one once the reset is seen
				err = call.Send(&Msg{Text: "x"})
			}
			<-call.Context().Done()
			handlerDone <- err
			return err
		})
	}
	for _, name := range []string{"framer-h2c", "framer-tls"} {
		t.Run(name, func(t *testing.T) {
			tr := transportNamed(t, name)
			e := newEnv(t, tr, reg, envOpts{
				server: []prt.ServerOption{prt.MaxHeaderListSize(32 << 10)},
				dial:   []prt.DialOption{prt.MaxHeaderListSize(16 << 10)},
			})
			ctx := testCtx(t)
			bystander, err := prt.Open[Msg, Msg](ctx, e.client, mBidi)
			if err != nil {
				t.Fatal(err)
			}
			roundTrip := func(text string) {
				t.Helper()
				if err := bystander.Send(&Msg{Text: text}); err != nil {
					t.Fatalf("bystander send: %v", err)
				}
				if _, err := bystander.Recv(); err != nil {
					t.Fatalf("bystander stream on the same connection failed: %v", err)
				}
			}
			roundTrip("before")
			for _, m := range []string{mHeaders, mTrailers, mErrorHeaders} {
				_, err := prt.CallUnary[Msg, Msg](ctx, e.client, m, &Msg{})
				if wire.CodeOf(err) != wire.Internal {
					t.Errorf("%s: %v, want INTERNAL", m, err)
				}
				roundTrip(m)
			}
			call, err := prt.OpenServerStream[Msg, Msg](ctx, e.client, mStreamHeader, &Msg{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := call.Recv(); wire.CodeOf(err) != wire.Internal {
				t.Errorf("server stream: %v, want INTERNAL", err)
			}
			if err := <-handlerDone; err == nil {
				t.Errorf("handler's Send after the reset: %v", err)
			}
			roundTrip("after")
			// Request metadata over the server's limit is not sent.
			_, err = prt.CallUnary[Msg, Msg](prt.AppendOutgoing(ctx, "x-big", strings.Repeat("r", 40<<10)), e.client, mUnary, &Msg{})
			if wire.CodeOf(err) != wire.Internal || !strings.Contains(err.Error(), "SETTINGS_MAX_HEADER_LIST_SIZE") {
				t.Errorf("request over the server's limit: %v, want INTERNAL naming the setting", err)
			}
			// A response within the limit still goes through.
			if _, err := prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, &Msg{Text: "small"}); err != nil {
				t.Fatalf("small call: %v", err)
			}
		})
	}
}
