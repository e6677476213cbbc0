package runtime_test

import (
	"context"
	"io"
	"testing"
	"time"

	prt "github.com/parleyrpc/parley/runtime"
)

// benchTransports are the HTTP/2 implementations every benchmark runs
// over, as sub-benchmarks, so that both are measured in the same run.
var benchTransports = []struct {
	name string
	impl prt.HTTP2Transport
}{
	{"xnet", prt.TransportNetHTTP},
	{"framer", prt.TransportFramer},
}

// forEachTransport runs fn as a sub-benchmark over each implementation.
func forEachTransport(b *testing.B, fn func(b *testing.B, impl prt.HTTP2Transport)) {
	for _, bt := range benchTransports {
		b.Run(bt.name, func(b *testing.B) { fn(b, bt.impl) })
	}
}

func benchEnv(b *testing.B, impl prt.HTTP2Transport) *env {
	srv := prt.NewServer(prt.WithHTTP2Transport(impl))
	registerEcho(srv)
	prt.HandleServerStream(srv, "/bench.Stream/Flood", func(req *Msg, call *prt.ServerCall[Msg, Msg]) error {
		m := &Msg{Data: req.Data}
		for i := int64(0); i < req.N; i++ {
			if err := call.Send(m); err != nil {
				return err
			}
		}
		return nil
	})
	l := listenBench(b)
	go srv.Serve(l)
	c, err := prt.Dial(l.Addr().String(), prt.WithHTTP2Transport(impl))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(); srv.Close() })
	return &env{srv: srv, client: c, addr: l.Addr().String()}
}

// BenchmarkUnary is one unary round trip with a 64-byte payload over h2c
// on loopback.
func BenchmarkUnary(b *testing.B) {
	forEachTransport(b, func(b *testing.B, impl prt.HTTP2Transport) {
		e := benchEnv(b, impl)
		req := &Msg{Data: make([]byte, 64)}
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, req); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	})
}

// BenchmarkUnaryParallel runs unary calls from GOMAXPROCS*8 goroutines over
// the one connection.
func BenchmarkUnaryParallel(b *testing.B) {
	forEachTransport(b, func(b *testing.B, impl prt.HTTP2Transport) {
		e := benchEnv(b, impl)
		ctx := context.Background()
		b.SetParallelism(8)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			req := &Msg{Data: make([]byte, 64)}
			for pb.Next() {
				if _, err := prt.CallUnary[Msg, Msg](ctx, e.client, mUnary, req); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "calls/s")
	})
}

// BenchmarkPingPong is one request and its response on an open bidi stream.
func BenchmarkPingPong(b *testing.B) {
	forEachTransport(b, func(b *testing.B, impl prt.HTTP2Transport) {
		e := benchEnv(b, impl)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		call, err := prt.Open[Msg, Msg](ctx, e.client, mBidi)
		if err != nil {
			b.Fatal(err)
		}
		req := &Msg{Data: make([]byte, 64)}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := call.Send(req); err != nil {
				b.Fatal(err)
			}
			if _, err := call.Recv(); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		call.CloseSend()
		for {
			if _, err := call.Recv(); err != nil {
				break
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "roundtrips/s")
	})
}

// BenchmarkServerStream measures messages per second from a server stream
// of 64-byte messages.
func BenchmarkServerStream(b *testing.B) {
	forEachTransport(b, func(b *testing.B, impl prt.HTTP2Transport) {
		e := benchEnv(b, impl)
		b.ReportAllocs()
		b.ResetTimer()
		call, err := prt.OpenServerStream[Msg, Msg](context.Background(), e.client, "/bench.Stream/Flood", &Msg{N: int64(b.N), Data: make([]byte, 64)})
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			_, err := call.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != b.N {
			b.Fatalf("got %d messages, want %d", n, b.N)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}

// BenchmarkClientStream measures messages per second into a client stream.
func BenchmarkClientStream(b *testing.B) {
	forEachTransport(b, func(b *testing.B, impl prt.HTTP2Transport) {
		e := benchEnv(b, impl)
		call, err := prt.Open[Msg, Msg](context.Background(), e.client, mClient)
		if err != nil {
			b.Fatal(err)
		}
		req := &Msg{N: 1, Data: make([]byte, 64)}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := call.Send(req); err != nil {
				b.Fatal(err)
			}
		}
		res, err := call.CloseAndRecv()
		if err != nil {
			b.Fatal(err)
		}
		if res.N != int64(b.N) {
			b.Fatalf("server counted %d, want %d", res.N, b.N)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}
