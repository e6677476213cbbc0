package runtime_test

import (
	"context"
	"strings"
	"testing"

	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// TestCallSizeLimits: MaxCallRecvMsgSize and MaxCallSendMsgSize bound one
// call's messages in place of the client's limits, lower or higher, on
// unary and streaming calls.
func TestCallSizeLimits(t *testing.T) { forEachImpl(t, testCallSizeLimits) }

func testCallSizeLimits(t *testing.T, tr transport) {
	e := newEnv(t, tr, registerEcho, envOpts{dial: []prt.DialOption{prt.MaxRecvMsgSize(1 << 10)}})
	big := &Msg{Data: make([]byte, 4<<10)}
	ctx := testCtx(t)

	// The client's limit refuses the 4 KiB echo; the call's raises it.
	_, err := prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, big)
	wantCode(t, err, wire.ResourceExhausted)
	if res, err := prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, big, prt.MaxCallRecvMsgSize(8<<10)); err != nil || len(res.Data) != len(big.Data) {
		t.Fatalf("with MaxCallRecvMsgSize(8 KiB): %v", err)
	}
	// A lower send limit fails locally, before anything is sent.
	_, err = prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, big, prt.MaxCallRecvMsgSize(8<<10), prt.MaxCallSendMsgSize(1<<10))
	wantCode(t, err, wire.ResourceExhausted)
	if wire.IsWireError(err) {
		t.Fatalf("a message over the call's send limit reached the server: %v", err)
	}

	// Streaming: a Send over the call's limit fails and the call goes on;
	// a response over its receive limit ends the call.
	call, err := prt.Open[Msg, Msg](ctx, e.client, mBidi, prt.MaxCallSendMsgSize(2<<10), prt.MaxCallRecvMsgSize(3<<10))
	if err != nil {
		t.Fatal(err)
	}
	err = call.Send(big)
	wantCode(t, err, wire.ResourceExhausted)
	if err := call.Send(&Msg{Text: "small", Data: make([]byte, 1500)}); err != nil {
		t.Fatalf("a message under the call's limits: %v", err)
	}
	if m, err := call.Recv(); err != nil || !strings.HasSuffix(m.Text, "small") {
		t.Fatalf("the echo of a 1.5 KiB message (over the client's 1 KiB, under the call's 3 KiB): %v, %v", m, err)
	}
	_ = call.CloseSend()
	if _, err := call.Recv(); err == nil {
		t.Fatal("the call did not end")
	}
}

// tokenCreds is a bearer token as PerRPCCredentials.
type tokenCreds struct {
	token  string
	secure bool
}

func (c tokenCreds) RequestMetadata(context.Context, string) (wire.Metadata, error) {
	return wire.Metadata{"authorization": {"Bearer " + c.token}}, nil
}

func (c tokenCreds) RequireTransportSecurity() bool { return c.secure }

// TestCallCredentials: CallCredentials authenticates one call, unary or
// streaming, with the rules of WithPerRPCCredentials: credentials that
// require TLS are refused locally on an h2c client.
func TestCallCredentials(t *testing.T) { forEachImpl(t, testCallCredentials) }

func testCallCredentials(t *testing.T, tr transport) {
	auth := prt.AuthInterceptor(func(ctx context.Context, token string) (context.Context, error) {
		if token != "good" {
			return nil, wire.NewError(wire.Unauthenticated, "bad token")
		}
		return context.WithValue(ctx, userKey{}, "ann"), nil
	})
	e := newEnv(t, tr.withTLS(t), registerWho, envOpts{server: []prt.ServerOption{auth}})
	ctx := testCtx(t)
	good := prt.CallCredentials(tokenCreds{token: "good", secure: true})

	res, err := prt.CallUnary[Msg, Msg](ctx, e.client, "/test.Auth/Who", &Msg{}, good)
	if err != nil || res.Text != "ann" {
		t.Fatalf("unary with CallCredentials: %v, %v", res, err)
	}
	_, err = prt.CallUnary[Msg, Msg](ctx, e.client, "/test.Auth/Who", &Msg{})
	wantCode(t, err, wire.Unauthenticated)

	call, err := prt.Open[Msg, Msg](ctx, e.client, "/test.Auth/WhoStream", good)
	if err != nil {
		t.Fatal(err)
	}
	_ = call.CloseSend()
	if m, err := call.Recv(); err != nil || m.Text != "ann" {
		t.Fatalf("stream with CallCredentials: %v, %v", m, err)
	}

	// Over h2c, credentials that require TLS never leave the client.
	h2c := newEnv(t, tr, registerWho, envOpts{server: []prt.ServerOption{auth}})
	_, err = prt.CallUnary[Msg, Msg](ctx, h2c.client, "/test.Auth/Who", &Msg{}, good)
	wantCode(t, err, wire.Unauthenticated)
	if wire.IsWireError(err) {
		t.Fatalf("the token went out over h2c: %v", err)
	}
	_, err = prt.Open[Msg, Msg](ctx, h2c.client, "/test.Auth/WhoStream", good)
	wantCode(t, err, wire.Unauthenticated)
}
