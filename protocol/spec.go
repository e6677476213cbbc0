package protocol

import (
	"fmt"
	"slices"
	"strings"
)

// spec writes the minimized automaton as tables, describing each state by
// the shortest way to it.
func (d *dfa) spec(method string) *Spec {
	n := len(d.next)
	nev := d.a.n()
	s := &Spec{
		Method: method,
		Client: slices.Clone(d.a.client),
		Server: slices.Clone(d.a.server),
		States: make([]string, n),
		Next:   make([]uint16, n*nev),
		Flags:  make([]uint8, n),
	}
	done := d.clientDone()
	for st := range n {
		for ev, t := range d.next[st] {
			if t >= 0 {
				s.Next[st*nev+ev] = uint16(t + 1)
			}
		}
		if d.final[st] {
			s.Flags[st] |= FlagFinal
		}
		if done[st] {
			s.Flags[st] |= FlagClientDone
		}
		if d.closed[st] {
			s.Flags[st] |= FlagClosed
		}
	}
	// Breadth first from the start: each state is named after the last
	// event of the shortest path to it (the first such event in table
	// order), with the one before when that is ambiguous.
	type via struct{ prev, ev int }
	from := make([]via, n)
	for i := range from {
		from[i] = via{-2, -1}
	}
	from[0] = via{-1, -1}
	queue := []int{0}
	for len(queue) > 0 {
		st := queue[0]
		queue = queue[1:]
		for ev, t := range d.next[st] {
			if t >= 0 && from[t].prev == -2 {
				from[t] = via{st, ev}
				queue = append(queue, t)
			}
		}
	}
	// step names the events from st's predecessor into st: "client say
	// or leave".
	step := func(st int) string {
		p := from[st].prev
		var kinds []string
		side := d.a.side(from[st].ev)
		for ev, t := range d.next[p] {
			if t == st && d.a.side(ev) == side {
				kinds = append(kinds, d.a.name(ev))
			}
		}
		return side.String() + " " + strings.Join(kinds, " or ")
	}
	name := func(st int, depth int) string {
		out := ""
		for i := 0; i < depth && st > 0; i++ {
			if out != "" {
				out = ", " + out
			}
			out = step(st) + out
			st = from[st].prev
		}
		return "after " + out
	}
	s.States[0] = "before the first message"
	used := map[string]int{}
	for st := 1; st < n; st++ {
		used[name(st, 1)]++
	}
	for st := 1; st < n; st++ {
		nm := name(st, 1)
		if used[nm] > 1 {
			nm = name(st, 3)
		}
		s.States[st] = nm
	}
	// Still ambiguous: number them.
	seen := map[string]int{}
	for st := 1; st < n; st++ {
		seen[s.States[st]]++
		if k := seen[s.States[st]]; k > 1 {
			s.States[st] += fmt.Sprintf(" (%d)", k)
		}
	}
	return s
}
