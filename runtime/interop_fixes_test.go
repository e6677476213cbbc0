package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	prt "github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// Regression tests for bugs found by the gRPC interop suite (interop/).

// TestCancelAfterFirstResponse is gRPC's cancel_after_first_response: a
// streaming call that has received a response (so its response headers are
// in) and has not half-closed is cancelled. The stream must be reset at
// once, with CANCELLED on the client and a cancelled context in the
// handler; it used to hang until the deadline, because nothing watched the
// call's context once the response headers had arrived while the
// transport's body writer waited for the next request.
func TestCancelAfterFirstResponse(t *testing.T) {
	handlerErr := make(chan error, 1)
	register := func(s *prt.Server) {
		prt.HandleBidi(s, "/test.Cancel/First", func(call *prt.ServerCall[Msg, Msg]) error {
			if _, err := call.Recv(); err != nil {
				return err
			}
			if err := call.Send(&Msg{Text: "first"}); err != nil {
				return err
			}
			<-call.Context().Done()
			handlerErr <- call.Context().Err()
			return nil
		})
	}
	forEach(t, func(t *testing.T, tr transport) {
		e := newEnv(t, tr, register, envOpts{})
		for _, how := range []string{"context", "Cancel"} {
			ctx, cancel := context.WithCancel(testCtx(t))
			call, err := prt.Open[Msg, Msg](ctx, e.client, "/test.Cancel/First")
			if err != nil {
				t.Fatal(err)
			}
			if err := call.Send(&Msg{}); err != nil {
				t.Fatal(err)
			}
			if _, err := call.Recv(); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if how == "context" {
				cancel()
			} else {
				call.Cancel()
			}
			_, err = call.Recv()
			wantCode(t, err, wire.Canceled)
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("%s: the call ended %v after the cancel", how, d)
			}
			select {
			case err := <-handlerErr:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("%s: handler saw %v, want Canceled", how, err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("%s: the handler's context was not cancelled", how)
			}
			cancel()
		}
	})
}

// TestRequestCompressor: a handler can tell whether the client compressed
// its requests, as gRPC's interop server must for expect_compressed
// (client_compressed_unary).
func TestRequestCompressor(t *testing.T) {
	register := func(s *prt.Server) {
		prt.HandleUnary(s, "/test.Comp/Unary", func(ctx context.Context, _ *Msg) (*Msg, error) {
			return &Msg{Text: prt.RequestCompressor(ctx)}, nil
		})
		prt.HandleBidi(s, "/test.Comp/Bidi", func(call *prt.ServerCall[Msg, Msg]) error {
			return call.Send(&Msg{Text: prt.RequestCompressor(call.Context())})
		})
	}
	forEach(t, func(t *testing.T, tr transport) {
		e := newEnv(t, tr, register, envOpts{})
		ctx := testCtx(t)
		for _, comp := range []string{"", "gzip"} {
			var opts []prt.CallOption
			if comp != "" {
				opts = append(opts, prt.UseCompressor(comp))
			}
			res, err := prt.CallUnary[Msg, Msg](ctx, e.client, "/test.Comp/Unary", &Msg{}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if res.Text != comp {
				t.Errorf("unary with compressor %q: handler saw %q", comp, res.Text)
			}
			call, err := prt.Open[Msg, Msg](ctx, e.client, "/test.Comp/Bidi", opts...)
			if err != nil {
				t.Fatal(err)
			}
			call.CloseSend()
			msgs, err := recvAll(t, call)
			if err != nil || len(msgs) != 1 || msgs[0].Text != comp {
				t.Errorf("bidi with compressor %q: got %v, %v", comp, msgs, err)
			}
		}
	})
	if got := prt.RequestCompressor(context.Background()); got != "" {
		t.Errorf("RequestCompressor outside a call = %q, want \"\"", got)
	}
}

// stuckDeadlineCtx has a deadline but never ends by itself: it stands for a
// context whose deadline has passed while its timer has not fired yet,
// which under load happens for a moment on every deadline.
type stuckDeadlineCtx struct {
	context.Context
	deadline time.Time
}

func (c stuckDeadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// TestRSTCancelAfterDeadline is gRPC's timeout_on_sleeping_server against a
// grpc-go server, which resets the stream with RST_STREAM(CANCEL) when the
// grpc-timeout passes. That reset can reach the client before its context's
// timer fires; the call must still fail with DEADLINE_EXCEEDED, not
// CANCELLED (protocol.md section 12). A raw HTTP/2 server plays grpc-go's
// part so that the order of events is certain.
func TestRSTCancelAfterDeadline(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	deadline := time.Now().Add(300 * time.Millisecond)
	served := make(chan error, 1)
	go func() { served <- rstAfterDeadline(l, deadline) }()

	client, err := prt.Dial(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx := stuckDeadlineCtx{Context: context.Background(), deadline: deadline}
	_, err = prt.CallUnary[Msg, Msg](ctx, client, "/test.Sleep/Unary", &Msg{})
	wantCode(t, err, wire.DeadlineExceeded)
	client.Close()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

// rstAfterDeadline serves one connection on l: it answers the first
// stream's request with response headers, waits until deadline has passed,
// and resets the stream with CANCEL.
func rstAfterDeadline(l net.Listener, deadline time.Time) error {
	c, err := l.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c, preface); err != nil {
		return err
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		return err
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := fr.WriteSettingsAck(); err != nil {
					return err
				}
			}
		case *http2.MetaHeadersFrame:
			var buf bytes.Buffer
			enc := hpack.NewEncoder(&buf)
			_ = enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
			_ = enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "application/grpc+msgpack"})
			if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.StreamID, BlockFragment: buf.Bytes(), EndHeaders: true}); err != nil {
				return err
			}
			time.Sleep(time.Until(deadline) + 20*time.Millisecond)
			if err := fr.WriteRSTStream(f.StreamID, http2.ErrCodeCancel); err != nil {
				return err
			}
			// Wait for the client to go away.
			for {
				if _, err := fr.ReadFrame(); err != nil {
					return nil
				}
			}
		}
	}
}
