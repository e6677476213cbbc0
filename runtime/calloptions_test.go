package runtime_test

import (
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
