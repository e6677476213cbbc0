package runtime

import (
	"context"
	"net"
	"time"

	"github.com/parleyrpc/parley/wire"
)

// StatsHandler observes calls: it is told when each call begins, each
// message it sends or receives, and how it ends. Set it with
// WithStatsHandler on a server, a client, or both.
//
// HandleStats runs on the call's own goroutines (or the transport's,
// writing the call's requests), synchronously, so it must be quick and must
// not block; it is called concurrently for different calls, and, within one
// streaming call, possibly from the sending and the receiving goroutine at
// once. A client reports a request when the transport takes it, before
// writing it, so before any response the request causes. Events of one
// call share the ctx passed with them (a server call's handler context, or
// a client call's context), so a handler can tell calls apart by a value an
// interceptor put there, or by pairing them in order on a single call.
type StatsHandler interface {
	HandleStats(ctx context.Context, ev StatsEvent)
}

// StatsEvent is one of *CallBegin, *MsgSent, *MsgReceived and *CallEnd.
type StatsEvent interface{ isStatsEvent() }

// CallBegin is the first event of a call: on a server once its method was
// found and its headers accepted, on a client when the call starts.
type CallBegin struct {
	Client bool   // the event is from the client side
	Method string // "/pkg.Service/Method"
	Kind   Kind   // on a client: as started (CallUnary, OpenClientStream, OpenServerStream); BidiStream for Open
	Peer   net.Addr
	// Local is, on a server, the address the call's connection was
	// accepted on (the server's own), when the transport knows it; nil on
	// a client.
	Local net.Addr
	Time  time.Time
}

// MsgSent reports a message this side sent (on a client's streaming call:
// taken by the transport to be written; messages still queued when the call
// ends are not reported).
type MsgSent struct {
	Client     bool
	WireLength int // bytes on the wire: the 5-byte prefix and the (compressed) message
}

// MsgReceived reports a message this side received.
type MsgReceived struct {
	Client     bool
	WireLength int // bytes on the wire: the 5-byte prefix and the (compressed) message
	Length     int // the message after decompression
}

// CallEnd is the last event of a call.
type CallEnd struct {
	Client   bool
	Code     wire.Code // the call's status code: OK, or its failure's
	Err      error     // nil when Code is OK
	Duration time.Duration
}

func (*CallBegin) isStatsEvent()   {}
func (*MsgSent) isStatsEvent()     {}
func (*MsgReceived) isStatsEvent() {}
func (*CallEnd) isStatsEvent()     {}

// WithStatsHandler sends every call's events to h. The default is none, at
// no cost.
func WithStatsHandler(h StatsHandler) Option {
	return bothOption(func(c *common) { c.stats = h })
}

// callStats reports one call's events to a StatsHandler; a nil *callStats
// reports nothing, so the call paths need no checks of their own.
type callStats struct {
	h      StatsHandler
	ctx    context.Context
	client bool
	start  time.Time
}

func newCallStats(h StatsHandler, ctx context.Context, client bool, method string, kind Kind, peer, local net.Addr) *callStats {
	if h == nil {
		return nil
	}
	s := &callStats{h: h, ctx: ctx, client: client, start: time.Now()}
	h.HandleStats(ctx, &CallBegin{Client: client, Method: method, Kind: kind, Peer: peer, Local: local, Time: s.start})
	return s
}

func (s *callStats) sent(wireLen int) {
	if s != nil {
		s.h.HandleStats(s.ctx, &MsgSent{Client: s.client, WireLength: wireLen})
	}
}

func (s *callStats) received(wireLen, n int) {
	if s != nil {
		s.h.HandleStats(s.ctx, &MsgReceived{Client: s.client, WireLength: wireLen, Length: n})
	}
}

func (s *callStats) end(err error) {
	if s != nil {
		we := wire.AsError(err)
		var e error
		if we != nil {
			e = we
		}
		s.h.HandleStats(s.ctx, &CallEnd{Client: s.client, Code: we.Code(), Err: e, Duration: time.Since(s.start)})
	}
}
