package protocol

import (
	"fmt"
	"strings"
)

// Mermaid returns the protocol as a Mermaid state diagram: one node per
// state (labelled with its description), one arrow per pair of states
// listing the events that lead from one to the other, and the final
// states marked as ends.
func (m *Machine) Mermaid() string {
	s := m.spec
	a := alphabet{client: s.Client, server: s.Server}
	var b strings.Builder
	b.WriteString("stateDiagram-v2\n")
	fmt.Fprintf(&b, "    %%%% %s\n", s.Method)
	for i, name := range s.States {
		fmt.Fprintf(&b, "    state %q as s%d\n", name, i)
	}
	b.WriteString("    [*] --> s0\n")
	for i := range s.States {
		// Group the events by target, in table order.
		var targets []int
		labels := map[int][]string{}
		for ev := 0; ev < m.nev; ev++ {
			t := int(s.Next[i*m.nev+ev]) - 1
			if t < 0 {
				continue
			}
			if _, ok := labels[t]; !ok {
				targets = append(targets, t)
			}
			labels[t] = append(labels[t], a.label(ev))
		}
		for _, t := range targets {
			fmt.Fprintf(&b, "    s%d --> s%d: %s\n", i, t, strings.Join(labels[t], "<br/>"))
		}
		if s.Flags[i]&FlagFinal != 0 {
			fmt.Fprintf(&b, "    s%d --> [*]\n", i)
		}
	}
	return b.String()
}
