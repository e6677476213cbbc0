package featurepb_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/stubs/internal/featurepb"
	"github.com/parleyrpc/parley/wire"
)

// serveFeature serves featureServer with the server's default options on a
// loopback TCP port and returns its address.
func serveFeature(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := runtime.NewServer()
	featurepb.RegisterFeatureServer(s, featureServer{})
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-served
	})
	return l.Addr().String()
}

// TestServiceBothCodecs calls one server, with its default options, from
// a msgpack client (the default) and a protobuf client
// (WithCodec(wire.Proto)): every call kind works in both codecs on the
// same methods.
func TestServiceBothCodecs(t *testing.T) {
	addr := serveFeature(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		name string
		opts []runtime.DialOption
	}{
		{"msgpack", nil},
		{"proto", []runtime.DialOption{runtime.WithCodec(wire.Proto)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := runtime.Dial(addr, tc.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			client := featurepb.NewFeatureClient(c)

			res, err := client.Echo(ctx, &featurepb.EchoRequest{Message: "héllo", ResponseSize: 70000})
			if err != nil {
				t.Fatal(err)
			}
			if res.Message != "héllo" || len(res.Payload) != 70000 {
				t.Fatalf("Echo: %q, %d bytes", res.Message, len(res.Payload))
			}

			sum, err := client.Sum(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for i := int64(1); i <= 10; i++ {
				if err := sum.Send(&featurepb.Number{Value: i}); err != nil {
					t.Fatal(err)
				}
			}
			total, err := sum.CloseAndRecv()
			if err != nil || total.Sum != 55 || total.Count != 10 {
				t.Fatalf("Sum: %+v, %v", total, err)
			}

			count, err := client.Count(ctx, &featurepb.CountRequest{To: 5})
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for {
				n, err := count.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, n.Value)
			}
			if len(got) != 5 || got[4] != 5 {
				t.Fatalf("Count: %v", got)
			}

			chat, err := client.Chat(ctx)
			if err != nil {
				t.Fatal(err)
			}
			sent := time.Unix(1700000000, 5)
			if err := chat.Send(&featurepb.ChatMessage{From: "ann", Text: "hi", Sent: sent}); err != nil {
				t.Fatal(err)
			}
			m, err := chat.Recv()
			if err != nil {
				t.Fatal(err)
			}
			if m.From != "server" || m.Text != "hi" || !m.Sent.Equal(sent) {
				t.Fatalf("Chat: %+v", m)
			}
			if err := chat.CloseSend(); err != nil {
				t.Fatal(err)
			}
			if _, err := chat.Recv(); !errors.Is(err, io.EOF) {
				t.Fatalf("Chat end: %v", err)
			}
		})
	}
}

// TestServerAnswersInKind sends the same Echo request over plain HTTP/2 as
// a stock gRPC client would, with each content-type, and checks that the
// server answers in the codec it was called with: bare application/grpc
// (protobuf by the gRPC spec) and +proto get protobuf, +msgpack gets
// msgpack.
func TestServerAnswersInKind(t *testing.T) {
	addr := serveFeature(t)
	// net/http's client, speaking HTTP/2 with prior knowledge (h2c).
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protocols}
	defer tr.CloseIdleConnections()
	req := &featurepb.EchoRequest{Message: "kind", ResponseSize: 2}
	for _, tc := range []struct {
		contentType, wantType string
		codec                 wire.Codec
	}{
		{"application/grpc", "application/grpc", wire.Proto},
		{"application/grpc+proto", "application/grpc+proto", wire.Proto},
		{"application/grpc+msgpack", "application/grpc+msgpack", wire.Msgpack},
	} {
		t.Run(tc.contentType, func(t *testing.T) {
			body, err := tc.codec.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}
			framed := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(body)))
			framed = append(framed, body...)
			hreq, err := http.NewRequest("POST", "http://"+addr+featurepb.Feature_Echo_FullMethodName, bytes.NewReader(framed))
			if err != nil {
				t.Fatal(err)
			}
			hreq.Header.Set("content-type", tc.contentType)
			hreq.Header.Set("te", "trailers")
			res, err := tr.RoundTrip(hreq)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			got, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			if ct := res.Header.Get("content-type"); ct != tc.wantType {
				t.Fatalf("response content-type %q, want %q", ct, tc.wantType)
			}
			if s := res.Trailer.Get("grpc-status"); s != "0" {
				t.Fatalf("grpc-status %q (%s)", s, res.Trailer.Get("grpc-message"))
			}
			if len(got) < 5 || int(binary.BigEndian.Uint32(got[1:5])) != len(got)-5 {
				t.Fatalf("response body % x is not one gRPC message", got)
			}
			var out featurepb.EchoResponse
			if err := tc.codec.Unmarshal(got[5:], &out); err != nil {
				t.Fatalf("response % x does not decode as %s: %v", got[5:], tc.codec.Name(), err)
			}
			if out.Message != "kind" || len(out.Payload) != 2 {
				t.Fatalf("response %+v", out)
			}
		})
	}
}
