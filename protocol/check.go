package protocol

import (
	"fmt"
	"slices"
	"strings"
)

// checker holds what the well-formedness checks of one method's protocol
// share: its alphabet, the sub-protocols in scope, and the first events
// and emptiness of every node.
type checker struct {
	method string
	a      alphabet
	subs   map[string]*Block
	first  map[node]eventSet
	null   map[node]bool
	errs   []*PosError
	seen   map[string]bool // errors already reported, by position and text
}

func (c *checker) errorf(at Pos, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	key := fmt.Sprintf("%d:%d:%s", at.Line, at.Col, msg)
	if c.seen[key] {
		return
	}
	c.seen[key] = true
	c.errs = append(c.errs, &PosError{Pos: at, Msg: msg})
}

// walk calls f for every node under n, entering each included
// sub-protocol once.
func (c *checker) walk(n node, f func(node), entered map[string]bool) {
	f(n)
	switch n := n.(type) {
	case *seqNode:
		for _, m := range n.items {
			c.walk(m, f, entered)
		}
	case *altNode:
		for _, m := range n.branches {
			c.walk(m, f, entered)
		}
	case *parNode:
		for _, m := range n.parts {
			c.walk(m, f, entered)
		}
	case *repNode:
		c.walk(n.body, f, entered)
	case *includeNode:
		if b, ok := c.subs[n.name]; ok && !entered[n.name] {
			entered[n.name] = true
			c.walk(b.body, f, entered)
		}
	}
}

// resolve checks that every message names a kind its side sends and every
// include names a sub-protocol.
func (c *checker) resolve(root node) {
	c.walk(root, func(n node) {
		switch n := n.(type) {
		case *msgNode:
			if n.halfClose {
				return
			}
			if c.a.event(n.side, n.kind) >= 0 {
				return
			}
			if c.a.event(n.side.other(), n.kind) >= 0 {
				c.errorf(n.at, "%s is sent by the %s, not the %s", n.kind, n.side.other(), n.side)
				return
			}
			list := c.a.client
			if n.side == ServerSide {
				list = c.a.server
			}
			c.errorf(n.at, "unknown %s kind %s (the %s sends %s)", n.side, n.kind, n.side, strings.Join(list, ", "))
		case *includeNode:
			if _, ok := c.subs[n.name]; !ok {
				var names []string
				for k := range c.subs {
					names = append(names, k)
				}
				slices.Sort(names)
				have := "there are none"
				if len(names) > 0 {
					have = "there are " + strings.Join(names, ", ")
				}
				c.errorf(n.at, "include %s: no protocol named %s in this service (%s)", n.name, n.name, have)
			}
		}
	}, map[string]bool{})
}

// analyse computes first and null for every node, iterating to a fixed
// point through recursive includes.
func (c *checker) analyse(root node) {
	var nodes []node
	c.walk(root, func(n node) { nodes = append(nodes, n) }, map[string]bool{})
	slices.Reverse(nodes) // children before parents, mostly
	for _, n := range nodes {
		c.first[n] = newSet(c.a.n())
	}
	for changed := true; changed; {
		changed = false
		for _, n := range nodes {
			f, null := c.compute(n)
			if c.first[n].union(f) {
				changed = true
			}
			if null && !c.null[n] {
				c.null[n], changed = true, true
			}
		}
	}
}

func (c *checker) compute(n node) (eventSet, bool) {
	f := newSet(c.a.n())
	switch n := n.(type) {
	case *msgNode:
		if n.halfClose {
			f.add(c.a.halfClose())
		} else if e := c.a.event(n.side, n.kind); e >= 0 {
			f.add(e)
		}
		return f, false
	case *seqNode:
		for _, m := range n.items {
			f.union(c.first[m])
			if !c.null[m] {
				return f, false
			}
		}
		return f, true
	case *altNode:
		null := false
		for _, m := range n.branches {
			f.union(c.first[m])
			null = null || c.null[m]
		}
		return f, null
	case *parNode:
		null := true
		for _, m := range n.parts {
			f.union(c.first[m])
			null = null && c.null[m]
		}
		return f, null
	case *repNode:
		f.union(c.first[n.body])
		return f, n.min == 0 || c.null[n.body]
	case *includeNode:
		if b, ok := c.subs[n.name]; ok {
			f.union(c.first[b.body])
			return f, c.null[b.body]
		}
	}
	return f, false
}

// follow is what may come right after a node: the first events of what
// follows, and whether the protocol may end there.
type follow struct {
	set eventSet
	end bool
}

// check applies the rules on choices, repetitions and interleavings to n,
// whose follow is fol. done guards against walking a recursive include
// forever.
func (c *checker) check(n node, fol follow, done map[string]bool) {
	switch n := n.(type) {
	case *seqNode:
		for i, m := range n.items {
			f := follow{set: newSet(c.a.n()), end: fol.end}
			rest := true
			for _, r := range n.items[i+1:] {
				f.set.union(c.first[r])
				if !c.null[r] {
					rest = false
					break
				}
			}
			if rest {
				f.set.union(fol.set)
			} else {
				f.end = false
			}
			c.check(m, f, done)
		}
	case *altNode:
		c.checkChoice(n)
		for _, b := range n.branches {
			c.check(b, fol, done)
		}
	case *repNode:
		c.checkRepetition(n, fol)
		inner := fol
		if !n.opt {
			inner = follow{set: fol.set.clone(), end: fol.end}
			inner.set.union(c.first[n.body])
		}
		c.check(n.body, inner, done)
	case *parNode:
		for _, p := range n.parts {
			var sides [2]*msgNode
			c.walk(p, func(m node) {
				if m, ok := m.(*msgNode); ok && sides[m.side] == nil {
					sides[m.side] = m
				}
			}, map[string]bool{})
			if sides[0] != nil && sides[1] != nil {
				c.errorf(p.pos(), "a part of an interleaving mixes senders (client %s at %d:%d, server %s at %d:%d): each part is sent by one side only",
					sides[0].kind, sides[0].at.Line, sides[0].at.Col, sides[1].kind, sides[1].at.Line, sides[1].at.Col)
			}
			c.check(p, fol, done)
		}
	case *includeNode:
		if b, ok := c.subs[n.name]; ok && !done[n.name] {
			done[n.name] = true
			c.check(b.body, fol, done)
		}
	}
}

// checkChoice: a choice is made by one side, and its branches start with
// distinct kinds that side sends, so that the other side learns from the
// first message which branch was taken.
func (c *checker) checkChoice(n *altNode) {
	var chooser *Side
	for i, b := range n.branches {
		if c.null[b] {
			c.errorf(b.pos(), "branch %d of this choice can send nothing, so the other side cannot tell it was chosen: make it optional with ? instead", i+1)
			return
		}
		cl, sv := c.first[b].sides(c.a)
		if cl && sv {
			c.errorf(b.pos(), "branch %d of this choice can start with a message from either side (%s): a choice is made by one side", i+1, c.first[b].labels(c.a))
			return
		}
		s := ClientSide
		if sv {
			s = ServerSide
		}
		if chooser == nil {
			chooser = &s
		} else if *chooser != s {
			c.errorf(b.pos(), "this choice's branches start with messages from different sides (branch 1 with the %s's %s, branch %d with the %s's %s): a choice is made by one side",
				*chooser, c.first[n.branches[0]].names(c.a, *chooser), i+1, s, c.first[b].names(c.a, s))
			return
		}
		for j := 0; j < i; j++ {
			both := c.first[b].clone()
			for w := range both {
				both[w] &= c.first[n.branches[j]][w]
			}
			if !both.empty() {
				c.errorf(b.pos(), "branches %d and %d of this choice both start with %s: the branches must start with distinct kinds so that the other side can tell which was chosen", j+1, i+1, both.labels(c.a))
				return
			}
		}
	}
}

// checkRepetition: a repetition (or an option) is ended by the side that
// repeats, and the other side must be able to see that it ended: what
// follows is sent by the same side (a different kind, or the client's
// half-close), or the protocol ends.
func (c *checker) checkRepetition(n *repNode, fol follow) {
	body := c.first[n.body]
	if c.null[n.body] {
		c.errorf(n.at, "%c repeats a part that can send nothing", n.op)
		return
	}
	cl, sv := body.sides(c.a)
	if cl && sv {
		c.errorf(n.body.pos(), "the repeated part can start with a message from either side (%s): a repetition is continued or ended by one side", body.labels(c.a))
		return
	}
	side := ClientSide
	if sv {
		side = ServerSide
	}
	var other []string
	fol.set.each(func(e int) {
		if c.a.side(e) != side {
			other = append(other, c.a.label(e))
		}
	})
	if len(other) > 0 {
		hint := "end it with a message from the " + side.String()
		if side == ClientSide {
			hint += " or client halfclose"
		}
		c.errorf(n.at, "the %s cannot observe where this repetition of %s messages ends: %s follows it and nothing tells the %s the %s stopped; %s",
			side.other(), side, strings.Join(other, ", "), side.other(), side, hint)
		return
	}
	// A kind that may both continue the repetition and follow it is fine:
	// the compiled machine tracks both possibilities until a later message
	// tells them apart.
}
