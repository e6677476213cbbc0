package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	goruntime "runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/parleyrpc/parley/examples/interop/testpb"
	"github.com/parleyrpc/parley/interop"
	"github.com/parleyrpc/parley/interop/handpb"
	"github.com/parleyrpc/parley/runtime"
)

// maxFloodPings bounds the PINGs the flooding server writes; the attack's
// time bound normally ends it first.
const maxFloodPings = 50_000_000

// clientPingFlood runs the reverse attack against a parley client and a
// grpc-go client in this process, one after the other, and returns a row
// for each. The RSS columns are this process's own.
func clientPingFlood(cfg runConfig) []string {
	clients := []struct {
		name string
		call func(ctx context.Context, addr string, returned func()) error
	}{
		{"client-ping-flood (parley client)", parleyEmptyCall},
		{"client-ping-flood (grpc-go client)", grpcEmptyCall},
	}
	var rows []string
	for _, c := range clients {
		rows = append(rows, floodClient(cfg, c.name, c.call))
	}
	return rows
}

func parleyEmptyCall(ctx context.Context, addr string, returned func()) error {
	c, err := runtime.Dial(addr)
	if err != nil {
		return err
	}
	_, err = testpb.NewTestServiceClient(c).EmptyCall(ctx, &testpb.Empty{})
	returned()
	return timeClose(err, c.Close)
}

// timeClose adds to err how long closing the client took, when that was
// notable (over 100 ms).
func timeClose(err error, close func() error) error {
	t := time.Now()
	_ = close()
	if d := time.Since(t); d > 100*time.Millisecond {
		if err == nil {
			err = errors.New("ok")
		}
		return fmt.Errorf("%w (then closing the client took %s)", err, secs(d))
	}
	return err
}

func grpcEmptyCall(ctx context.Context, addr string, returned func()) error {
	cc, err := interop.DialGRPC(addr, nil)
	if err != nil {
		return err
	}
	err = cc.Invoke(ctx, handpb.EmptyCallMethod, &handpb.Empty{}, new(handpb.Empty))
	returned()
	return timeClose(err, cc.Close)
}

// floodClient listens on loopback, floods the first connection with PINGs
// while call runs against it, and formats the row.
func floodClient(cfg runConfig, name string, call func(ctx context.Context, addr string, returned func()) error) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return row(name, "probe failed: "+shortErr(err), "-", "-", "-", "n/a", "-")
	}
	defer ln.Close()
	goruntime.GC()
	debug.FreeOSMemory()
	self := os.Getpid()
	before := rssKiB(self)
	cpu0 := cpuTime(self)
	smp := startSampler(self, 0, nil)
	t0 := time.Now()
	end := t0.Add(cfg.dur)
	f := &pingFlooder{start: t0, stopc: make(chan struct{}), done: make(chan struct{})}
	go f.serve(ln.(*net.TCPListener), end)

	ctx, cancel := context.WithDeadline(context.Background(), end)
	var callTook time.Duration
	callErr := call(ctx, ln.Addr().String(), func() { callTook = time.Since(t0) })
	cancel()
	back := f.stop()
	elapsed := time.Since(t0)
	cpu := cpuSpent(cpu0, cpuTime(self))

	goruntime.GC()
	debug.FreeOSMemory()
	time.Sleep(cfg.settle)
	peak := smp.stop()
	after := rssKiB(self)

	res := "ok"
	if callErr != nil {
		res = clip(strings.ReplaceAll(callErr.Error(), "\n", " "), 200)
	}
	out := fmt.Sprintf("EmptyCall: %s after %s; %s; the client sent back %s", res, secs(callTook), f.writes(), back)
	return row(name, out, mib(before), mib(peak), mib(after), "n/a", secs(elapsed)+cpu)
}

// pingFlooder is the flooding server. Its goroutine (serve) owns the
// connection's write side; n, werr and the times are written by serve and
// read after done is closed.
type pingFlooder struct {
	start time.Time
	stopc chan struct{} // closed by stop
	done  chan struct{} // closed when serve returns

	mu sync.Mutex
	nc net.Conn // set by serve once accepted; guarded by mu

	n       int
	werr    error
	lastOK  time.Duration // when the last PING was written without error
	endedAt time.Duration
}

func (f *pingFlooder) serve(ln *net.TCPListener, end time.Time) {
	defer close(f.done)
	_ = ln.SetDeadline(end)
	nc, err := ln.Accept()
	if err != nil {
		f.werr = err
		return
	}
	f.mu.Lock()
	f.nc = nc
	f.mu.Unlock()
	_ = nc.SetWriteDeadline(end)
	bw := bufio.NewWriterSize(nc, 64<<10)
	fr := http2.NewFramer(bw, nil)
	if f.werr = fr.WriteSettings(); f.werr == nil {
		f.werr = bw.Flush()
	}
	for f.werr == nil && f.n < maxFloodPings {
		select {
		case <-f.stopc:
			f.werr = bw.Flush()
			f.endedAt = time.Since(f.start)
			return
		default:
		}
		if f.werr = pingFrame(fr, f.n); f.werr == nil {
			f.n++
			f.lastOK = time.Since(f.start)
		}
	}
	f.endedAt = time.Since(f.start)
}

// stop ends the flood and reads what the client sent meanwhile (up to 1 s
// or the connection's end), which it describes.
func (f *pingFlooder) stop() string {
	close(f.stopc)
	f.mu.Lock()
	nc := f.nc
	if nc != nil {
		_ = nc.SetWriteDeadline(time.Now())
	}
	f.mu.Unlock()
	<-f.done
	if nc == nil {
		return "nothing (no connection)"
	}
	defer nc.Close()
	_ = nc.SetReadDeadline(time.Now().Add(time.Second))
	br := bufio.NewReaderSize(nc, 64<<10)
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(br, preface); err != nil || string(preface) != http2.ClientPreface {
		return "no client preface"
	}
	fr := http2.NewFramer(io.Discard, br)
	acks, other := 0, map[string]int{}
	var goAway string
	var rerr error
	for i := 0; i < 10_000_000; i++ {
		fr2, err := fr.ReadFrame()
		if err != nil {
			rerr = err
			break
		}
		switch fr2 := fr2.(type) {
		case *http2.PingFrame:
			if fr2.IsAck() {
				acks++
			}
		case *http2.GoAwayFrame:
			goAway = fmt.Sprintf("GOAWAY(%s %q)", fr2.ErrCode, clip(string(fr2.DebugData()), 40))
		default:
			other[fr2.Header().Type.String()]++
		}
	}
	out := fmt.Sprintf("%d PING acks", acks)
	for _, k := range []string{"SETTINGS", "HEADERS", "DATA", "RST_STREAM", "WINDOW_UPDATE"} {
		if other[k] > 0 {
			out += fmt.Sprintf(", %d %s", other[k], k)
		}
	}
	if goAway != "" {
		out += ", " + goAway
	}
	var ne net.Error
	if rerr != nil && !(errors.As(rerr, &ne) && ne.Timeout()) {
		out += " (then the connection ended: " + shortErr(rerr) + ")"
	}
	return out
}

// writes describes how the flood's writes went.
func (f *pingFlooder) writes() string {
	switch {
	case f.werr == nil:
		return fmt.Sprintf("the probe wrote %d PINGs until it stopped at %s", f.n, secs(f.endedAt))
	case strings.Contains(f.werr.Error(), "i/o timeout"):
		return fmt.Sprintf("the probe wrote %d PINGs; writes blocked from %s (client stopped reading)", f.n, secs(f.lastOK))
	}
	return fmt.Sprintf("the probe wrote %d PINGs; write failed at %s: %s", f.n, secs(f.endedAt), shortErr(f.werr))
}
