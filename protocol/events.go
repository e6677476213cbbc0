package protocol

import (
	"math/bits"
	"strings"
)

// Kinds lists the message kinds of a method: the cases of the top-level
// oneof of the client's message and of the server's (or the message
// type's name when it has no oneof), in declaration order.
type Kinds struct {
	Client, Server []string
	// SingleClient and SingleServer say that a side does not stream: it
	// sends exactly one message, as the client of a unary or
	// server-streaming method and the server of a unary or
	// client-streaming method do. The protocol must then have exactly one
	// message of that side on every path: the first for the client, the
	// last for the server.
	SingleClient, SingleServer bool
}

// alphabet numbers a method's events: the client's kinds from 0, then the
// server's, then the client's half-close.
type alphabet struct {
	client, server []string
}

func (a alphabet) n() int         { return len(a.client) + len(a.server) + 1 }
func (a alphabet) halfClose() int { return len(a.client) + len(a.server) }
func (a alphabet) side(e int) Side {
	if e < len(a.client) || e == a.halfClose() {
		return ClientSide
	}
	return ServerSide
}

// name returns the kind's name ("half-close" for the half-close).
func (a alphabet) name(e int) string {
	switch {
	case e < len(a.client):
		return a.client[e]
	case e < a.halfClose():
		return a.server[e-len(a.client)]
	}
	return "half-close"
}

// label is "client join", "server joined" or "client half-close".
func (a alphabet) label(e int) string { return a.side(e).String() + " " + a.name(e) }

// event returns the event of side's kind, or -1.
func (a alphabet) event(side Side, kind string) int {
	list, base := a.client, 0
	if side == ServerSide {
		list, base = a.server, len(a.client)
	}
	for i, k := range list {
		if k == kind {
			return base + i
		}
	}
	return -1
}

// eventSet is a set of events.
type eventSet []uint64

func newSet(n int) eventSet { return make(eventSet, (n+63)/64) }

func (s eventSet) add(e int)       { s[e/64] |= 1 << (e % 64) }
func (s eventSet) clone() eventSet { return append(eventSet(nil), s...) }
func (s eventSet) union(t eventSet) bool {
	changed := false
	for i := range s {
		if n := s[i] | t[i]; n != s[i] {
			s[i], changed = n, true
		}
	}
	return changed
}

func (s eventSet) empty() bool {
	for _, w := range s {
		if w != 0 {
			return false
		}
	}
	return true
}

// each calls f for each event in s, in order.
func (s eventSet) each(f func(e int)) {
	for i, w := range s {
		for w != 0 {
			b := bits.TrailingZeros64(w)
			f(i*64 + b)
			w &^= 1 << b
		}
	}
}

// sides reports which sides send the events of s.
func (s eventSet) sides(a alphabet) (client, server bool) {
	s.each(func(e int) {
		if a.side(e) == ClientSide {
			client = true
		} else {
			server = true
		}
	})
	return
}

// names lists the kinds of s's events sent by side, comma-separated.
func (s eventSet) names(a alphabet, side Side) string {
	var b []string
	s.each(func(e int) {
		if a.side(e) == side {
			b = append(b, a.name(e))
		}
	})
	return strings.Join(b, ", ")
}

// labels lists s's events as "client join, server joined".
func (s eventSet) labels(a alphabet) string {
	var b []string
	s.each(func(e int) { b = append(b, a.label(e)) })
	return strings.Join(b, ", ")
}
