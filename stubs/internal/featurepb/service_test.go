package featurepb_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/parleyrpc/parley/descriptors"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/stubs/internal/featurepb"
	"github.com/parleyrpc/parley/wire"
)

// featureServer implements every method but Ping, which the embedded
// UnimplementedFeatureServer answers.
type featureServer struct {
	featurepb.UnimplementedFeatureServer
}

func (featureServer) Echo(ctx context.Context, req *featurepb.EchoRequest) (*featurepb.EchoResponse, error) {
	if req.ResponseSize < 0 {
		return nil, wire.Errorf(wire.InvalidArgument, "negative response_size %d", req.ResponseSize)
	}
	if err := runtime.SetTrailer(ctx, wire.Pairs("echo-trailer", "t")); err != nil {
		return nil, err
	}
	return &featurepb.EchoResponse{Message: req.Message, Payload: make([]byte, req.ResponseSize)}, nil
}

func (featureServer) Sum(call *runtime.ServerCall[featurepb.Number, featurepb.Total]) (*featurepb.Total, error) {
	total := &featurepb.Total{}
	for {
		n, err := call.Recv()
		if errors.Is(err, io.EOF) {
			return total, nil
		}
		if err != nil {
			return nil, err
		}
		total.Sum += n.Value
		total.Count++
	}
}

func (featureServer) Count(req *featurepb.CountRequest, call *runtime.ServerCall[featurepb.CountRequest, featurepb.Number]) error {
	if err := call.SetHeader(wire.Pairs("count-to", "yes")); err != nil {
		return err
	}
	for i := int32(1); i <= req.To; i++ {
		if err := call.Send(&featurepb.Number{Value: int64(i)}); err != nil {
			return err
		}
	}
	call.SetTrailer(wire.Pairs("count-trailer", "done"))
	return nil
}

func (featureServer) Chat(call *runtime.ServerCall[featurepb.ChatMessage, featurepb.ChatMessage]) error {
	// Read from the inbound mailbox with a select, as an actor would.
	for {
		select {
		case m, ok := <-call.In().C():
			if !ok {
				end, _ := call.In().End()
				return end.Err
			}
			m.From = "server"
			if err := call.Send(m); err != nil {
				return err
			}
		case <-call.Context().Done():
			return call.Context().Err()
		}
	}
}

// startFeature serves featureServer on a loopback TCP port and returns a
// client connected to it.
func startFeature(t *testing.T) featurepb.FeatureClient {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := runtime.NewServer()
	featurepb.RegisterFeatureServer(s, featureServer{})
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	c, err := runtime.Dial(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-served
	})
	return featurepb.NewFeatureClient(c)
}

func TestServiceOverLoopback(t *testing.T) {
	client := startFeature(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("unary", func(t *testing.T) {
		var trailer wire.Metadata
		res, err := client.Echo(ctx, &featurepb.EchoRequest{Message: "hi", ResponseSize: 3}, runtime.Trailer(&trailer))
		if err != nil {
			t.Fatal(err)
		}
		if res.Message != "hi" || len(res.Payload) != 3 {
			t.Fatalf("got %+v", res)
		}
		if got := trailer.Get("echo-trailer"); got != "t" {
			t.Errorf("trailer echo-trailer = %q, want t", got)
		}
	})

	t.Run("unary error", func(t *testing.T) {
		_, err := client.Echo(ctx, &featurepb.EchoRequest{ResponseSize: -1})
		if wire.CodeOf(err) != wire.InvalidArgument {
			t.Fatalf("got %v, want INVALID_ARGUMENT", err)
		}
	})

	t.Run("unimplemented", func(t *testing.T) {
		_, err := client.Ping(ctx, &struct{}{})
		if wire.CodeOf(err) != wire.Unimplemented {
			t.Fatalf("got %v, want UNIMPLEMENTED", err)
		}
	})

	t.Run("client stream", func(t *testing.T) {
		call, err := client.Sum(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i := int64(1); i <= 10; i++ {
			if err := call.Send(&featurepb.Number{Value: i}); err != nil {
				t.Fatal(err)
			}
		}
		total, err := call.CloseAndRecv()
		if err != nil {
			t.Fatal(err)
		}
		if total.Sum != 55 || total.Count != 10 {
			t.Fatalf("got %+v, want sum 55 of 10", total)
		}
	})

	t.Run("server stream", func(t *testing.T) {
		call, err := client.Count(ctx, &featurepb.CountRequest{To: 5})
		if err != nil {
			t.Fatal(err)
		}
		hdr, err := call.Header()
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Get("count-to") != "yes" {
			t.Errorf("header count-to = %q", hdr.Get("count-to"))
		}
		var got []int64
		for {
			n, err := call.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, n.Value)
		}
		if len(got) != 5 || got[0] != 1 || got[4] != 5 {
			t.Fatalf("got %v", got)
		}
		// The terminal event on the inbound mailbox carries the trailers.
		end, ok := call.In().End()
		if !ok || end.Err != nil {
			t.Errorf("terminal event %+v, %v", end, ok)
		}
		if tr := end.Trailer.Get("count-trailer"); tr != "done" {
			t.Errorf("terminal event trailer count-trailer = %q", tr)
		}
		<-call.Done()
		if tr := call.Trailer().Get("count-trailer"); tr != "done" {
			t.Errorf("trailer count-trailer = %q", tr)
		}
	})

	t.Run("bidi", func(t *testing.T) {
		call, err := client.Chat(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sent := time.Unix(1700000000, 42)
		for i := 0; i < 3; i++ {
			if err := call.Out().Send(ctx, &featurepb.ChatMessage{From: "me", Text: "x", Sent: sent}); err != nil {
				t.Fatal(err)
			}
			m, err := call.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if m.From != "server" || m.Text != "x" || !m.Sent.Equal(sent) {
				t.Fatalf("got %+v", m)
			}
		}
		if err := call.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if _, err := call.Recv(); !errors.Is(err, io.EOF) {
			t.Fatalf("after half-close got %v, want io.EOF", err)
		}
	})
}

// TestDescriptorsRegistered checks that importing the generated package
// registers the descriptors of both its files, for server reflection.
func TestDescriptorsRegistered(t *testing.T) {
	for _, name := range []string{"feature.proto", "common.proto"} {
		if d, ok := descriptors.File(name); !ok || len(d) == 0 {
			t.Errorf("descriptors.File(%q) = %d bytes, %v", name, len(d), ok)
		}
	}
}
