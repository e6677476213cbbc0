package protocol

import (
	"math/rand/v2"
	"strings"
	"testing"
)

var simKinds = Kinds{Client: []string{"a", "b", "c", "d"}, Server: []string{"x", "y", "z", "w"}}

// The server's OK end may cross client messages in flight: the server
// ends where the protocol may end without them, and the client, which
// has sent them, must accept it.
func TestEndCrossesClientMessages(t *testing.T) {
	m := mustCompile(t, `@protocol { (client a; client b)? & server x }`, simKinds)
	cli, srv := NewChecker(m, ClientSide), NewChecker(m, ServerSide)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(cli.Send(0)) // a, in flight
	must(srv.Send(0)) // x
	must(srv.End())   // final without the optional part
	must(cli.Recv(0))
	must(cli.End())

	// An end the server could not have reached is still refused: after
	// x the server has y to send whatever the client sent.
	m = mustCompile(t, `@protocol { client a; server x; client b; server y }`, simKinds)
	cli = NewChecker(m, ClientSide)
	must(cli.Send(0))
	must(cli.Recv(0))
	must(cli.Send(1))
	if err := cli.End(); err == nil {
		t.Error("client accepted an OK end before server y")
	}
}

// simulateCall runs one call of m between a client and a server that
// follow their projections, with messages in flight both ways, choosing
// each move with r; it returns the trace if a side saw a violation.
func simulateCall(m *Machine, r *rand.Rand) string {
	cli, srv := NewChecker(m, ClientSide), NewChecker(m, ServerSide)
	type msg struct {
		k      int
		hc, ok bool
	}
	allowed := func(c *Checker, f func(*Checker) error) bool {
		d := &Checker{m: c.m, v: c.v, side: c.side}
		d.st.Store(c.st.Load())
		return f(d) == nil
	}
	var toS, toC []msg
	var trace []string
	closed, ended := false, false
	for range 40 {
		var moves []func() (string, error)
		for k := range m.spec.Client {
			if !closed && allowed(cli, func(c *Checker) error { return c.Send(k) }) {
				moves = append(moves, func() (string, error) { toS = append(toS, msg{k: k}); return "C>" + m.spec.Client[k], cli.Send(k) })
			}
		}
		if !closed && allowed(cli, (*Checker).CloseSend) {
			moves = append(moves, func() (string, error) {
				closed = true
				toS = append(toS, msg{hc: true})
				return "C>hc", cli.CloseSend()
			})
		}
		for k := range m.spec.Server {
			if !ended && allowed(srv, func(c *Checker) error { return c.Send(k) }) {
				moves = append(moves, func() (string, error) { toC = append(toC, msg{k: k}); return "S>" + m.spec.Server[k], srv.Send(k) })
			}
		}
		if !ended && allowed(srv, (*Checker).End) {
			moves = append(moves, func() (string, error) { ended = true; toC = append(toC, msg{ok: true}); return "S>end", srv.End() })
		}
		if len(toS) > 0 && !ended {
			moves = append(moves, func() (string, error) {
				e := toS[0]
				toS = toS[1:]
				if e.hc {
					return "s<hc", srv.RecvHalfClose()
				}
				return "s<" + m.spec.Client[e.k], srv.Recv(e.k)
			})
		}
		if len(toC) > 0 {
			moves = append(moves, func() (string, error) {
				e := toC[0]
				toC = toC[1:]
				if e.ok {
					return "c<end", cli.End()
				}
				return "c<" + m.spec.Server[e.k], cli.Recv(e.k)
			})
		}
		if len(moves) == 0 {
			return ""
		}
		s, err := moves[r.IntN(len(moves))]()
		trace = append(trace, s)
		if err != nil {
			return strings.Join(trace, " ") + ": " + err.Error()
		}
		if s == "c<end" {
			return ""
		}
	}
	return ""
}

// Calls between sides that follow the protocol never see a violation,
// whatever crosses in flight: a seeded random walk over protocols whose
// messages and ends cross.
func TestSimulatedCallsAgree(t *testing.T) {
	for _, p := range []string{
		`(client a; client b)? & server x`,
		`client a; (client b; client c)* & server x*`,
		`client a; client b*`,
		`client a; server x; client b*`,
		`(client a; client b*) & server x*`,
		`((client a; client b)*; client halfclose) & (server x; server y)*`,
		`client a; (include P) & server x*; server y`,
		`client a; (server x; server y | server z) & (client b | client c; client d); server w`,
		`client a; ((server x; server y)*; server z) & (client b*; client c); client d; server w`,
		`(client a & client b); (server x & server y); client c`,
		`client a; (client halfclose & server x*); server y`,
		`client a; (client b; client halfclose | client c) & server x*`,
		`(client a?; client b) & server x; client halfclose`,
		`client a; server x; (client b | client c; server y)`,
	} {
		text := "@protocol { " + p + " } @protocol P { client b; include P | client halfclose }"
		spec, errs := compileText(t, text, simKinds)
		if len(errs) > 0 {
			t.Logf("refused %q: %v", p, errs[0])
			continue
		}
		m, err := New(*spec)
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, 2))
		for range 3000 {
			if tr := simulateCall(m, r); tr != "" {
				t.Errorf("%q: %s", p, tr)
				break
			}
		}
	}
}
