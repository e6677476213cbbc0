package protocol

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
)

// Spec is a compiled protocol as tables, the form parley gen writes into
// generated code. New checks it and returns the Machine that runs it.
type Spec struct {
	// Method is the method's full name, "pkg.Service/Method", for errors.
	Method string
	// Client and Server are the kinds each side sends, in the order of
	// the kind numbers the generated code assigns.
	Client, Server []string
	// States describes each state for errors and diagrams, like "before
	// the first message" or "after client join"; state 0 is the start.
	States []string
	// Next is the transition table, one row of len(Client)+len(Server)+1
	// entries per state: the client's kinds, the server's, then the
	// client's half-close. An entry is 0 when the event is not allowed
	// there, else the next state plus one.
	Next []uint16
	// Flags holds each state's FlagFinal, FlagClientDone and FlagClosed.
	Flags []uint8
}

// State flags in Spec.Flags.
const (
	// FlagFinal marks a state where the protocol may end: the server may
	// finish the call with OK and the client may half-close.
	FlagFinal uint8 = 1 << iota
	// FlagClientDone marks a state after which the client sends nothing
	// more, so that it may half-close there.
	FlagClientDone
	// FlagClosed marks a state reached after the client's half-close.
	FlagClosed
)

// Machine is a compiled protocol, ready to check calls: immutable and
// shared by every call of its method.
type Machine struct {
	spec Spec
	nev  int // events per state: len(Client)+len(Server)+1
	nc   int // len(Client)
	// want[side][state] lists what side may send in state, for errors.
	want [2][]string
	// view[side] is the automaton each side's checker runs.
	view [2]view
}

// view is the automaton a side's checker runs over the events it sees.
// The server's is the protocol's own. The client's state also remembers
// where the server may be: the server receives the client's messages
// late, so it may have sent its messages, and ended the call, in a state
// that leaves out the client's latest messages. A client view state is a
// protocol state (the client's own reading) and the set of states the
// server may be in: the client's reading with a suffix of its messages
// not yet received. A client message adds the new reading to the set; a
// server message moves every state of the set it is allowed in and drops
// the others (the server sent it, so it was allowed where the server
// was). The client accepts the server's OK end where a state of the set
// is final.
type view struct {
	next  []uint16 // like Spec.Next, over view states
	state []uint16 // the protocol state of each view state
	end   []bool   // the server may end the call with OK there
}

// maxView bounds the states of the client's view of a protocol.
const maxView = 8 * MaxStates

// serverView is the protocol itself.
func serverView(spec Spec) view {
	v := view{next: spec.Next, state: make([]uint16, len(spec.States)), end: make([]bool, len(spec.States))}
	for s := range v.state {
		v.state[s] = uint16(s)
		v.end[s] = spec.Flags[s]&FlagFinal != 0
	}
	return v
}

// clientView builds the client's view (see view) of the states it can
// reach.
func clientView(spec Spec, nev, nc int) (view, error) {
	type vs struct {
		s   int
		set []int // sorted, holds s
	}
	var v view
	var states []vs
	ids := map[string]int{}
	get := func(s int, set []int) (int, error) {
		var k strings.Builder
		fmt.Fprint(&k, s)
		for _, x := range set {
			k.WriteByte(',')
			fmt.Fprint(&k, x)
		}
		if id, ok := ids[k.String()]; ok {
			return id, nil
		}
		if len(states) >= maxView {
			return 0, fmt.Errorf("protocol: the client's view has more than %d states", maxView)
		}
		id := len(states)
		ids[k.String()] = id
		states = append(states, vs{s, set})
		v.next = append(v.next, make([]uint16, nev)...)
		v.state = append(v.state, uint16(s))
		end := false
		for _, q := range set {
			end = end || spec.Flags[q]&FlagFinal != 0
		}
		v.end = append(v.end, end)
		return id, nil
	}
	if _, err := get(0, []int{0}); err != nil {
		return v, err
	}
	for i := 0; i < len(states); i++ {
		cur := states[i]
		for ev := range nev {
			t := int(spec.Next[cur.s*nev+ev]) - 1
			if t < 0 {
				continue
			}
			var set []int
			if ev < nc || ev == nev-1 { // the client's message or half-close
				set = append(slices.Clone(cur.set), t)
			} else {
				for _, q := range cur.set {
					if u := int(spec.Next[q*nev+ev]) - 1; u >= 0 {
						set = append(set, u)
					}
				}
			}
			slices.Sort(set)
			set = slices.Compact(set)
			id, err := get(t, set)
			if err != nil {
				return v, err
			}
			v.next[i*nev+ev] = uint16(id + 1)
		}
	}
	return v, nil
}

// New checks spec and returns its Machine.
func New(spec Spec) (*Machine, error) {
	m := &Machine{spec: spec, nc: len(spec.Client), nev: len(spec.Client) + len(spec.Server) + 1}
	n := len(spec.States)
	switch {
	case n == 0:
		return nil, errors.New("protocol: no states")
	case n >= 1<<16-1:
		return nil, errors.New("protocol: too many states")
	case len(spec.Next) != n*m.nev:
		return nil, fmt.Errorf("protocol: %d transitions for %d states of %d events", len(spec.Next), n, m.nev)
	case len(spec.Flags) != n:
		return nil, fmt.Errorf("protocol: %d flags for %d states", len(spec.Flags), n)
	}
	for _, t := range spec.Next {
		if int(t) > n {
			return nil, fmt.Errorf("protocol: transition to state %d of %d", int(t)-1, n)
		}
	}
	a := alphabet{client: spec.Client, server: spec.Server}
	for side := range 2 {
		m.want[side] = make([]string, n)
		for s := range n {
			var kinds []string
			for ev := range m.nev {
				if spec.Next[s*m.nev+ev] != 0 && a.side(ev) == Side(side) {
					kinds = append(kinds, a.name(ev))
				}
			}
			fl := spec.Flags[s]
			if Side(side) == ClientSide && spec.Next[s*m.nev+m.nev-1] == 0 && fl&(FlagFinal|FlagClientDone) != 0 && fl&FlagClosed == 0 {
				kinds = append(kinds, "half-close")
			}
			if Side(side) == ServerSide && fl&FlagFinal != 0 {
				kinds = append(kinds, "the end of the call")
			}
			if len(kinds) == 0 {
				m.want[side][s] = "nothing from the " + Side(side).String() + ": it is the " + Side(side).other().String() + "'s turn"
			} else {
				m.want[side][s] = strings.Join(kinds, " or ")
			}
		}
	}
	m.view[ServerSide] = serverView(spec)
	cv, err := clientView(spec, m.nev, m.nc)
	if err != nil {
		return nil, err
	}
	m.view[ClientSide] = cv
	return m, nil
}

// MustNew is New for generated code: it panics on an invalid spec.
func MustNew(spec Spec) *Machine {
	m, err := New(spec)
	if err != nil {
		panic(err)
	}
	return m
}

// Spec returns the machine's tables.
func (m *Machine) Spec() Spec { return m.spec }

// Method returns the full name of the method the machine checks.
func (m *Machine) Method() string { return m.spec.Method }

// Checker state word: the state of the side's view in the low 16 bits,
// these flags, and, while a checked send is under way (pendingBit), the
// state the checker would be in without that send (in the shadow bits):
// every other event moves both, so that a send that fails after all is
// taken back exactly, whatever was received meanwhile. The top bits count
// the word's changes, so that a word seen again is the same word.
const (
	stateMask  = 1<<16 - 1
	failedBit  = 1 << 16 // a violation was seen: every later step fails
	halfClosed = 1 << 18 // the client half-closed
	endedBit   = 1 << 19 // the call ended
	pendingBit = 1 << 20 // a send's shadow is kept

	shadowShift = 24
	shadowMask  = stateMask << shadowShift
	noShadow    = stateMask // the shadow state: the events received since the send are not allowed without it

	seqShift = 48
	seqOne   = 1 << seqShift
)

// Checker follows one call through a Machine from one side's view: that
// side's sends and the messages it receives, in the order it sees them.
// The zero value is not usable; use NewChecker.
//
// Concurrency: every method is safe for concurrent use and lock-free. The
// checker's order of two concurrent sends is the order in which their
// Send calls took effect; senders that need an order on the wire must
// order themselves (as with any two goroutines sending on one call).
type Checker struct {
	m    *Machine
	v    *view
	side Side
	st   atomic.Uint64
}

// NewChecker returns a checker of m from side's view, at the start.
func NewChecker(m *Machine, side Side) *Checker {
	return &Checker{m: m, v: &m.view[side], side: side}
}

// Machine returns the checker's machine.
func (c *Checker) Machine() *Machine { return c.m }

// State returns the current state's number.
func (c *Checker) State() int { return c.stateOf(c.st.Load()) }

// stateOf returns the protocol state of state word w.
func (c *Checker) stateOf(w uint64) int { return int(c.v.state[w&stateMask]) }

// StateName describes the current state, like "after client join".
func (c *Checker) StateName() string { return c.m.spec.States[c.State()] }

// Failed reports whether a received message broke the protocol.
func (c *Checker) Failed() bool { return c.st.Load()&failedBit != 0 }

// event returns the event number of side's kind k, or -1.
func (c *Checker) event(side Side, k int) int {
	if side == ClientSide {
		if k < 0 || k >= c.m.nc {
			return -1
		}
		return k
	}
	if k < 0 || k >= c.m.nev-1-c.m.nc {
		return -1
	}
	return c.m.nc + k
}

// moved returns state word old moved by event ev to view state t (and
// its shadow, if kept, by ev too), with its change counted.
func (c *Checker) moved(old uint64, ev int, t uint16) uint64 {
	nw := old&^stateMask | uint64(t-1)
	if old&pendingBit != 0 {
		sh := old & shadowMask >> shadowShift
		u := uint64(noShadow)
		if sh != noShadow {
			if x := c.v.next[int(sh)*c.m.nev+ev]; x != 0 {
				u = uint64(x - 1)
			}
		}
		nw = nw&^shadowMask | u<<shadowShift
	}
	return nw + seqOne
}

// stopped reports that no event ev may come in state word w: after a
// violation or the end of the call, and, once the client half-closed
// where the protocol did not name it, the client's messages and
// half-close (a repeated CloseSend is handled by halfClose).
func (c *Checker) stopped(w uint64, ev int) bool {
	return w&(failedBit|endedBit|halfClosed) != 0 &&
		(w&(failedBit|endedBit) != 0 || ev < c.m.nc || ev == c.m.nev-1)
}

// step moves the checker by event ev; it reports false, leaving the
// state as it was, when ev is not allowed.
func (c *Checker) step(ev int) (uint64, bool) {
	for {
		old := c.st.Load()
		if c.stopped(old, ev) {
			return old, false
		}
		t := c.v.next[int(old&stateMask)*c.m.nev+ev]
		if t == 0 {
			return old, false
		}
		nw := c.moved(old, ev, t)
		if c.st.CompareAndSwap(old, nw) {
			return nw, true
		}
	}
}

// pendingSend is a checked send under way: begin moved the checker past
// it, and done either keeps the move or takes it back.
type pendingSend struct {
	// owner is set when the send keeps the shadow: no other send was
	// under way when it began.
	owner bool
	// old and nw are the state words before and after a send that does
	// not own the shadow.
	old, nw uint64
}

// begin moves the checker by the local send ev, as step does, and keeps
// what taking it back needs. It reports false, leaving the state as it
// was, when ev is not allowed.
func (c *Checker) begin(ev int) (pendingSend, uint64, bool) {
	for {
		old := c.st.Load()
		if c.stopped(old, ev) {
			return pendingSend{}, old, false
		}
		cur := old & stateMask
		t := c.v.next[int(cur)*c.m.nev+ev]
		if t == 0 {
			return pendingSend{}, old, false
		}
		if old&pendingBit == 0 {
			// Keep the state without this send as the shadow.
			nw := (old&^shadowMask|cur<<shadowShift|pendingBit)&^stateMask | uint64(t-1)
			if c.st.CompareAndSwap(old, nw+seqOne) {
				return pendingSend{owner: true}, nw, true
			}
			continue
		}
		nw := c.moved(old, ev, t)
		if c.st.CompareAndSwap(old, nw) {
			return pendingSend{old: old, nw: nw}, nw, true
		}
	}
}

// done ends the send p: it stays if sent, else the checker is moved back
// to where it would be without it. Taking back the send that keeps the
// shadow is exact whatever was received meanwhile; a send that began
// while another was under way is taken back only if nothing moved the
// checker since (two goroutines racing to send, one of which fails).
func (c *Checker) done(p pendingSend, sent bool) {
	if !p.owner {
		if !sent {
			c.st.CompareAndSwap(p.nw, p.old)
		}
		return
	}
	for {
		old := c.st.Load()
		nw := old &^ (pendingBit | shadowMask)
		if !sent {
			if sh := old & shadowMask >> shadowShift; sh != noShadow {
				nw = nw&^stateMask | sh
			}
		}
		if c.st.CompareAndSwap(old, nw+seqOne) {
			return
		}
	}
}

// fail marks the checker failed.
func (c *Checker) fail() {
	for {
		old := c.st.Load()
		if old&failedBit != 0 || c.st.CompareAndSwap(old, old|failedBit) {
			return
		}
	}
}

// Send checks that the checker's side may send its kind k now and, if so,
// moves past it. It returns a *Violation (with Local set) and leaves the
// state as it was when the protocol does not allow it; the message must
// then not be sent.
func (c *Checker) Send(k int) error {
	ev := c.event(c.side, k)
	if ev < 0 {
		return c.violation(true, c.side, c.State(), kindName(c.m, c.side, k))
	}
	old, ok := c.step(ev)
	if !ok {
		return c.violation(true, c.side, c.stateOf(old), kindName(c.m, c.side, k))
	}
	return nil
}

// Recv checks a message of kind k received from the other side and moves
// past it. When the protocol does not allow it, the checker fails (every
// later step fails too) and Recv returns a *Violation: the call must end.
func (c *Checker) Recv(k int) error {
	from := c.side.other()
	ev := c.event(from, k)
	if ev < 0 {
		c.fail()
		return c.violation(false, from, c.State(), kindName(c.m, from, k))
	}
	old, ok := c.step(ev)
	if !ok {
		c.fail()
		return c.violation(false, from, c.stateOf(old), kindName(c.m, from, k))
	}
	return nil
}

// halfClose applies the client's half-close: an explicit half-close step
// if the protocol names one here, else allowed where the protocol may end
// or the client has nothing more to send.
func (c *Checker) halfClose() (uint64, bool) {
	if old, ok := c.step(c.m.nev - 1); ok {
		return old, true
	}
	for {
		old := c.st.Load()
		if old&(failedBit|endedBit) != 0 {
			return old, false
		}
		if old&halfClosed != 0 {
			return old, true // CloseSend is idempotent
		}
		fl := c.m.spec.Flags[c.stateOf(old)]
		if fl&(FlagFinal|FlagClientDone) == 0 || fl&FlagClosed != 0 {
			return old, false
		}
		if c.st.CompareAndSwap(old, old|halfClosed) {
			return old, true
		}
	}
}

// CloseSend checks the client's own half-close (Checker on the client
// side).
func (c *Checker) CloseSend() error {
	if old, ok := c.halfClose(); !ok {
		return c.violation(true, ClientSide, c.stateOf(old), "half-close")
	}
	return nil
}

// RecvHalfClose checks the client's half-close as the server receives it;
// like Recv, a violation fails the checker.
func (c *Checker) RecvHalfClose() error {
	if old, ok := c.halfClose(); !ok {
		c.fail()
		return c.violation(false, ClientSide, c.stateOf(old), "half-close")
	}
	return nil
}

// End checks that the server may end the call with OK now: the protocol
// is in a state where it may end. On the client side it is enough that
// the server may have been in such a state, its end having crossed some
// of the client's latest messages in flight (see view).
func (c *Checker) End() error {
	for {
		old := c.st.Load()
		s := c.stateOf(old)
		if old&failedBit != 0 {
			return c.violation(c.side == ServerSide, ServerSide, s, "the end of the call (OK)")
		}
		if !c.v.end[old&stateMask] {
			if c.side == ClientSide {
				c.fail()
			}
			return c.violation(c.side == ServerSide, ServerSide, s, "the end of the call (OK)")
		}
		if c.st.CompareAndSwap(old, old|endedBit) {
			return nil
		}
	}
}

// noKind is Violation.Got for a message with no kind.
const noKind = "a message with no kind (set one of its cases)"

func kindName(m *Machine, side Side, k int) string {
	list := m.spec.Client
	if side == ServerSide {
		list = m.spec.Server
	}
	if k < 0 || k >= len(list) {
		return noKind
	}
	return list[k]
}

func (c *Checker) violation(local bool, side Side, state int, got string) *Violation {
	return &Violation{
		NoKind: got == noKind,
		Method: c.m.spec.Method,
		Side:   side,
		Local:  local,
		State:  c.m.spec.States[state],
		Want:   c.m.want[side][state],
		Got:    got,
	}
}

// Violation is a step the protocol does not allow: a local send refused
// before reaching the wire (Local), or a message, half-close or end of
// call received out of protocol.
type Violation struct {
	// Method is the method's full name, "pkg.Service/Method".
	Method string
	// Side is who sent (or tried to send) the event.
	Side Side
	// Local is set for the checker's own side's sends, refused before
	// they reached the wire.
	Local bool
	// State describes where the conversation was, like "before the first
	// message".
	State string
	// Want lists what Side may send there.
	Want string
	// Got is the kind sent or received.
	Got string
	// NoKind is set when the message had no kind at all (a oneof with no
	// case set): malformed rather than out of order.
	NoKind bool
}

// Error reads like "chat.v1.Chat/Converse: got say, want join (before the
// first message)" for a received message and "chat.v1.Chat/Converse:
// cannot send say, may send join (before the first message)" for a
// refused local send.
func (v *Violation) Error() string {
	if v.Local {
		return fmt.Sprintf("%s: the %s cannot send %s, may send %s (%s)", v.Method, v.Side, v.Got, v.Want, v.State)
	}
	return fmt.Sprintf("%s: got %s, want %s (%s)", v.Method, v.Got, v.Want, v.State)
}
