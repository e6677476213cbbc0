package protocol

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// MaxStates bounds the states of a compiled protocol, so that a schema
// cannot make parley gen (or the tables it writes) grow without limit.
const MaxStates = 1024

// Compile checks the protocol main of the method named method (its full
// name, like "chat.v1.Chat/Converse") against the method's kinds and the
// sub-protocols in scope, and compiles it to a Spec. Every problem found
// comes back as a PosError.
func Compile(method string, main *Block, subs map[string]*Block, kinds Kinds) (*Spec, []*PosError) {
	c := &checker{
		method: method,
		a:      alphabet{client: kinds.Client, server: kinds.Server},
		subs:   subs,
		first:  map[node]eventSet{},
		null:   map[node]bool{},
		seen:   map[string]bool{},
	}
	c.resolve(main.body)
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	c.analyse(main.body)
	c.check(main.body, follow{set: newSet(c.a.n()), end: true}, map[string]bool{})
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	b := &builder{c: c, recur: map[int]*includeNode{}}
	b.end = b.state()
	start := b.compile(main.body, b.end)
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	b.noProgress()
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	d := b.determinize(start, main)
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	d.finishes(c, main)
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	d = d.minimize()
	d.shape(c, kinds)
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	d.crossings(c)
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	spec := d.spec(method)
	if _, err := New(*spec); err != nil {
		c.errorf(main.Pos, "protocol too large: %v", err)
		return nil, c.errs
	}
	return spec, nil
}

// nfa edge: on event ev (or epsilon when ev < 0) to state to; at is the
// message that produced it.
type edge struct {
	ev, to int
	at     *msgNode
}

// builder builds a nondeterministic automaton from the notation: compile
// works backwards from the continuation, so that a sub-protocol including
// itself as its last step becomes a loop.
type builder struct {
	c      *checker
	edges  [][]edge
	end    int
	frames []frame
	// recur maps the entry state of a sub-protocol to an include that
	// loops back to it, to position the no-progress error.
	recur map[int]*includeNode
}

// frame is a sub-protocol being compiled: an include of it with the same
// continuation loops back to its entry.
type frame struct {
	name      string
	cont, ent int
}

func (b *builder) state() int {
	b.edges = append(b.edges, nil)
	return len(b.edges) - 1
}

func (b *builder) add(from, ev, to int, at *msgNode) {
	b.edges[from] = append(b.edges[from], edge{ev, to, at})
}

// compile returns a state from which n then k are matched.
func (b *builder) compile(n node, k int) int {
	if len(b.edges) > 4*MaxStates {
		b.c.errorf(n.pos(), "protocol too large (more than %d states before minimizing)", 4*MaxStates)
		return k
	}
	switch n := n.(type) {
	case *msgNode:
		s := b.state()
		ev := b.c.a.halfClose()
		if !n.halfClose {
			ev = b.c.a.event(n.side, n.kind)
		}
		b.add(s, ev, k, n)
		return s
	case *seqNode:
		for i := len(n.items) - 1; i >= 0; i-- {
			k = b.compile(n.items[i], k)
		}
		return k
	case *altNode:
		s := b.state()
		for _, br := range n.branches {
			b.add(s, -1, b.compile(br, k), nil)
		}
		return s
	case *repNode:
		if n.opt {
			s := b.state()
			b.add(s, -1, k, nil)
			b.add(s, -1, b.compile(n.body, k), nil)
			return s
		}
		loop := b.state()
		b.add(loop, -1, k, nil)
		b.add(loop, -1, b.compile(n.body, loop), nil)
		if n.min == 1 {
			return b.compile(n.body, loop)
		}
		return loop
	case *parNode:
		return b.product(n, k)
	case *includeNode:
		for _, f := range b.frames {
			if f.name != n.name {
				continue
			}
			if f.cont != k {
				b.c.errorf(n.at, "include %s inside %s is not its last step: a protocol may include itself (directly or through others) only as its last step, outside repetitions and interleavings", n.name, n.name)
				return k
			}
			b.recur[f.ent] = n
			return f.ent
		}
		sub := b.c.subs[n.name]
		ent := b.state()
		b.frames = append(b.frames, frame{n.name, k, ent})
		b.add(ent, -1, b.compile(sub.body, k), nil)
		b.frames = b.frames[:len(b.frames)-1]
		return ent
	}
	panic("protocol: unknown node")
}

// closure returns the states reachable from s by epsilon edges.
func (b *builder) closure(set []int) []int {
	seen := map[int]bool{}
	stack := slices.Clone(set)
	var out []int
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[s] {
			continue
		}
		seen[s] = true
		out = append(out, s)
		for _, e := range b.edges[s] {
			if e.ev < 0 {
				stack = append(stack, e.to)
			}
		}
	}
	slices.Sort(out)
	return out
}

// product builds the interleaving of n's parts: a state per tuple of the
// parts' states, moving one part at a time, and done when every part is.
func (b *builder) product(n *parNode, k int) int {
	starts := make([]int, len(n.parts))
	ends := make([]int, len(n.parts))
	saved := b.frames
	b.frames = nil // a part cannot loop back to an enclosing protocol
	for i, p := range n.parts {
		ends[i] = b.state()
		starts[i] = b.compile(p, ends[i])
	}
	b.frames = saved
	ids := map[string]int{}
	key := func(t []int) string {
		var s strings.Builder
		for _, x := range t {
			s.WriteString(strconv.Itoa(x))
			s.WriteByte(',')
		}
		return s.String()
	}
	var visit func(t []int) int
	visit = func(t []int) int {
		kk := key(t)
		if id, ok := ids[kk]; ok {
			return id
		}
		id := b.state()
		ids[kk] = id
		if len(ids) > MaxStates || len(b.edges) > 4*MaxStates {
			b.c.errorf(n.at, "interleaving too large (more than %d states)", MaxStates)
			return id
		}
		done := true
		for i, s := range t {
			cl := b.closure([]int{s})
			if !slices.Contains(cl, ends[i]) {
				done = false
			}
			for _, x := range cl {
				for _, e := range b.edges[x] {
					if e.ev < 0 {
						continue
					}
					u := slices.Clone(t)
					u[i] = e.to
					b.add(id, e.ev, visit(u), e.at)
				}
			}
		}
		if done {
			b.add(id, -1, k, nil)
		}
		return id
	}
	return visit(starts)
}

// noProgress reports a sub-protocol that includes itself without a
// message in between: a cycle of epsilon edges.
func (b *builder) noProgress() {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(b.edges))
	var dfs func(s int) bool
	dfs = func(s int) bool {
		color[s] = grey
		for _, e := range b.edges[s] {
			if e.ev >= 0 {
				continue
			}
			if color[e.to] == grey {
				if inc, ok := b.recur[e.to]; ok {
					b.c.errorf(inc.at, "include %s comes back to %s without any message in between: it makes no progress", inc.name, inc.name)
					return true
				}
			}
			if color[e.to] == white && dfs(e.to) {
				return true
			}
		}
		color[s] = black
		return false
	}
	for s := range b.edges {
		if color[s] == white && dfs(s) {
			return
		}
	}
}

// dfa is the deterministic automaton: next[s][ev] is the state after ev,
// or -1.
type dfa struct {
	a      alphabet
	next   [][]int
	final  []bool
	closed []bool       // the client has half-closed
	at     [][]*msgNode // at[s][ev]: the message that produced the edge
}

func (d *dfa) add() int {
	row := make([]int, d.a.n())
	for i := range row {
		row[i] = -1
	}
	d.next = append(d.next, row)
	d.at = append(d.at, make([]*msgNode, d.a.n()))
	d.final = append(d.final, false)
	d.closed = append(d.closed, false)
	return len(d.next) - 1
}

// determinize is the subset construction. Once the client has half-closed
// it sends nothing more, so a closed state has no client edges; the
// messages that label no edge of the result can never be reached.
func (b *builder) determinize(start int, main *Block) *dfa {
	d := &dfa{a: b.c.a}
	ids := map[string]int{}
	type item struct {
		set    []int
		closed bool
	}
	var queue []item
	key := func(set []int, closed bool) string {
		var s strings.Builder
		fmt.Fprint(&s, closed)
		for _, x := range set {
			s.WriteByte(',')
			s.WriteString(strconv.Itoa(x))
		}
		return s.String()
	}
	get := func(set []int, closed bool) int {
		k := key(set, closed)
		if id, ok := ids[k]; ok {
			return id
		}
		id := d.add()
		ids[k] = id
		d.final[id] = slices.Contains(set, b.end)
		d.closed[id] = closed
		queue = append(queue, item{set, closed})
		return id
	}
	reached := map[*msgNode]bool{}
	get(b.closure([]int{start}), false)
	for i := 0; i < len(queue); i++ {
		if len(d.next) > MaxStates {
			b.c.errorf(main.Pos, "protocol too large (more than %d states)", MaxStates)
			return d
		}
		it := queue[i]
		moves := map[int][]int{}
		ats := map[int]*msgNode{}
		for _, s := range it.set {
			for _, e := range b.edges[s] {
				if e.ev < 0 {
					continue
				}
				moves[e.ev] = append(moves[e.ev], e.to)
				if ats[e.ev] == nil || before(e.at.at, ats[e.ev].at) {
					ats[e.ev] = e.at
				}
				if !it.closed || b.c.a.side(e.ev) == ServerSide {
					reached[e.at] = true
				}
			}
		}
		for _, ev := range slices.Sorted(maps.Keys(moves)) {
			if it.closed && b.c.a.side(ev) == ClientSide {
				continue
			}
			t := get(b.closure(moves[ev]), it.closed || ev == b.c.a.halfClose())
			d.next[i][ev] = t
			d.at[i][ev] = ats[ev]
		}
	}
	// Every message must be reachable.
	var msgs []*msgNode
	b.c.walk(main.body, func(n node) {
		if m, ok := n.(*msgNode); ok {
			msgs = append(msgs, m)
		}
	}, map[string]bool{})
	for _, m := range msgs {
		if !reached[m] {
			b.c.errorf(m.at, "%s %s can never be reached: what comes before it never ends, or the client has half-closed by then", m.side, m.kind)
		}
	}
	return d
}

func before(p, q Pos) bool { return p.Line < q.Line || p.Line == q.Line && p.Col < q.Col }

// finishes reports a protocol that cannot finish: every state must have a
// way to the end.
func (d *dfa) finishes(c *checker, main *Block) {
	good := slices.Clone(d.final)
	for changed := true; changed; {
		changed = false
		for s := range d.next {
			if good[s] {
				continue
			}
			for _, t := range d.next[s] {
				if t >= 0 && good[t] {
					good[s], changed = true, true
					break
				}
			}
		}
	}
	if !good[0] {
		c.errorf(main.Pos, "this protocol cannot finish: no sequence of messages reaches its end")
		return
	}
	for s := range d.next {
		if !good[s] {
			continue
		}
		for ev, t := range d.next[s] {
			if t >= 0 && !good[t] {
				m := d.at[s][ev]
				c.errorf(m.at, "after %s %s the conversation can never finish", m.side, m.kind)
				return
			}
		}
	}
}

// minimize merges equivalent states (Moore's partition refinement), so
// that the two orders of messages that cross in flight end in the same
// state when they mean the same.
func (d *dfa) minimize() *dfa {
	n := len(d.next)
	class := make([]int, n)
	for s := range class {
		if d.final[s] {
			class[s] = 1
		}
		if d.closed[s] {
			class[s] += 2
		}
	}
	for {
		ids := map[string]int{}
		next := make([]int, n)
		for s := 0; s < n; s++ {
			var k strings.Builder
			k.WriteString(strconv.Itoa(class[s]))
			for _, t := range d.next[s] {
				k.WriteByte(',')
				if t < 0 {
					k.WriteByte('-')
				} else {
					k.WriteString(strconv.Itoa(class[t]))
				}
			}
			id, ok := ids[k.String()]
			if !ok {
				id = len(ids)
				ids[k.String()] = id
			}
			next[s] = id
		}
		same := len(ids) == countDistinct(class)
		class = next
		if same {
			break
		}
	}
	// Renumber in order of first appearance (state 0 stays the start).
	order := map[int]int{}
	for s := 0; s < n; s++ {
		if _, ok := order[class[s]]; !ok {
			order[class[s]] = len(order)
		}
	}
	m := &dfa{a: d.a}
	for range order {
		m.add()
	}
	for s := 0; s < n; s++ {
		ns := order[class[s]]
		m.final[ns], m.closed[ns] = d.final[s], d.closed[s]
		for ev, t := range d.next[s] {
			if t >= 0 {
				m.next[ns][ev] = order[class[t]]
				if m.at[ns][ev] == nil || before(d.at[s][ev].at, m.at[ns][ev].at) {
					m.at[ns][ev] = d.at[s][ev]
				}
			}
		}
	}
	return m
}

func countDistinct(xs []int) int {
	seen := map[int]bool{}
	for _, x := range xs {
		seen[x] = true
	}
	return len(seen)
}

// clientDone reports, for each state, that the client sends nothing more
// on any path from it.
func (d *dfa) clientDone() []bool {
	sends := make([]bool, len(d.next))
	for changed := true; changed; {
		changed = false
		for s := range d.next {
			if sends[s] {
				continue
			}
			for ev, t := range d.next[s] {
				if t >= 0 && (d.a.side(ev) == ClientSide || sends[t]) {
					sends[s], changed = true, true
					break
				}
			}
		}
	}
	done := make([]bool, len(sends))
	for s := range sends {
		done[s] = !sends[s]
	}
	return done
}

// crossings checks that messages crossing in flight cannot make the two
// sides disagree: wherever both sides may send, either order of the two
// messages is allowed and leads to the same state (so each side, following
// its own view, accepts what the other sends), and a client that may stop
// sending there may still stop after the server's message.
func (d *dfa) crossings(c *checker) {
	done := d.clientDone()
	mayClose := func(s int) bool { return d.final[s] || done[s] || d.next[s][d.a.halfClose()] >= 0 }
	for s := range d.next {
		for ce, c1 := range d.next[s] {
			if c1 < 0 || d.a.side(ce) != ClientSide {
				continue
			}
			for se, s1 := range d.next[s] {
				if s1 < 0 || d.a.side(se) != ServerSide {
					continue
				}
				if t1, t2 := d.next[c1][se], d.next[s1][ce]; t1 < 0 || t2 < 0 || t1 != t2 {
					m := d.at[s][ce]
					c.errorf(m.at, "%s and %s may both come next here, and if they cross in flight the two sides disagree on what follows: the messages of both sides may meet only in an interleaving (A & B), and a side may send only once the other's message tells it where the conversation is", d.a.label(ce), d.a.label(se))
					return
				}
			}
		}
		if !(d.final[s] || done[s]) {
			continue
		}
		for se, s1 := range d.next[s] {
			if s1 >= 0 && d.a.side(se) == ServerSide && !mayClose(s1) {
				m := d.at[s][se]
				c.errorf(m.at, "the client may end its side before server %s here, but after it the client is expected to send more", m.kind)
				return
			}
		}
	}
}

// CompileText compiles a protocol written outside a .proto file, for
// handlers written by hand on the untyped runtime API: text holds one
// unnamed "@protocol { ... }" block (the method's protocol) and any named
// ones it includes. Positions in errors count from text's first line.
func CompileText(method, text string, kinds Kinds) (*Machine, error) {
	var lines []Line
	for i, l := range strings.Split(text, "\n") {
		lines = append(lines, Line{Text: l, Pos: Pos{Line: i + 1, Col: 1}})
	}
	blocks, errs := ParseBlocks(lines)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	var main *Block
	subs := map[string]*Block{}
	for _, b := range blocks {
		switch {
		case b.Name != "":
			subs[b.Name] = b
		case main != nil:
			return nil, &PosError{Pos: b.Pos, Msg: "a second unnamed @protocol"}
		default:
			main = b
		}
	}
	if main == nil {
		return nil, &PosError{Pos: Pos{Line: 1, Col: 1}, Msg: "no unnamed @protocol { ... } block"}
	}
	spec, errs := Compile(method, main, subs, kinds)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return New(*spec)
}

// shape checks the protocol of a method that does not stream on a side:
// its client sends exactly one message, first, and half-closes right
// after it;
// its server sends exactly one message, last.
func (d *dfa) shape(c *checker, k Kinds) {
	if !k.SingleClient && !k.SingleServer {
		return
	}
	// Walk the states with the number of messages each single side has
	// sent (0 or 1) so far.
	type node struct{ s, nc, ns int }
	seen := map[node]bool{}
	queue := []node{{0, 0, 0}}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if seen[n] {
			continue
		}
		seen[n] = true
		if d.final[n.s] {
			if k.SingleClient && n.nc == 0 {
				c.errorf(d.anyAt(n.s), "the protocol can end before the client's message: this method's client sends exactly one")
				return
			}
			if k.SingleServer && n.ns == 0 {
				c.errorf(d.anyAt(n.s), "the protocol can end without the server's message: this method's server sends exactly one, last")
				return
			}
		}
		for ev, t := range d.next[n.s] {
			if t < 0 {
				continue
			}
			m := d.at[n.s][ev]
			next := n
			next.s = t
			switch {
			case ev == d.a.halfClose():
				// A client that does not stream half-closes with its
				// message, so nothing can come between them.
				if k.SingleClient && (n.nc == 0 || n.ns > 0) {
					c.errorf(m.at, "client halfclose: this method's client sends exactly one message, first, and half-closes right after it")
					return
				}
			case d.a.side(ev) == ClientSide:
				if k.SingleClient && (n.nc == 1 || n.ns > 0) {
					c.errorf(m.at, "client %s: this method's client sends exactly one message, first", m.kind)
					return
				}
				if k.SingleServer && n.ns == 1 {
					c.errorf(m.at, "client %s after the server's message: this method's server sends exactly one, last", m.kind)
					return
				}
				next.nc = 1
			default:
				if k.SingleClient && n.nc == 0 {
					c.errorf(m.at, "server %s before the client's message: this method's client sends exactly one message, first", m.kind)
					return
				}
				if k.SingleServer && n.ns == 1 {
					c.errorf(m.at, "server %s: this method's server sends exactly one message, last", m.kind)
					return
				}
				next.ns = 1
			}
			queue = append(queue, next)
		}
	}
}

// anyAt returns the position of a message leading into state s (or of the
// first message of the protocol).
func (d *dfa) anyAt(s int) Pos {
	for from := range d.next {
		for ev, t := range d.next[from] {
			if t == s && d.at[from][ev] != nil {
				return d.at[from][ev].at
			}
		}
	}
	for ev := range d.next[0] {
		if m := d.at[0][ev]; m != nil {
			return m.at
		}
	}
	return Pos{Line: 1, Col: 1}
}
