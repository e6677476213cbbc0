package protocol

import "fmt"

// Side is who sends an event: the client or the server.
type Side uint8

// The two sides of a call.
const (
	ClientSide Side = iota
	ServerSide
)

// String returns "client" or "server".
func (s Side) String() string {
	if s == ClientSide {
		return "client"
	}
	return "server"
}

// other returns the other side.
func (s Side) other() Side { return 1 - s }

// Pos is a position in a .proto file: 1-based line and column.
type Pos struct{ Line, Col int }

// PosError is an error in a protocol's text, at a position of the .proto
// file it was read from.
type PosError struct {
	Pos Pos
	Msg string
}

// Error formats the error as "line:column: message".
func (e *PosError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Pos.Line, e.Pos.Col, e.Msg) }

// node is one construct of the notation.
type node interface{ pos() Pos }

// msgNode is one message ("client join") or the client's half-close
// ("client halfclose").
type msgNode struct {
	at        Pos
	side      Side
	kind      string
	halfClose bool
	id        int // index among the block's messages, for reachability
}

// seqNode is a sequence: its items one after the other.
type seqNode struct {
	at    Pos
	items []node
}

// altNode is a choice: exactly one of its branches.
type altNode struct {
	at       Pos
	branches []node
}

// repNode is a repetition: body repeated min (0 or 1) to unbounded times,
// or at most once when opt is set ("?").
type repNode struct {
	at   Pos
	body node
	min  int
	opt  bool
	op   byte // '*', '+' or '?'
}

// parNode is an interleaving: its parts run side by side, each sent by
// one side only.
type parNode struct {
	at    Pos
	parts []node
}

// includeNode includes a named sub-protocol.
type includeNode struct {
	at   Pos
	name string
}

func (n *msgNode) pos() Pos     { return n.at }
func (n *seqNode) pos() Pos     { return n.at }
func (n *altNode) pos() Pos     { return n.at }
func (n *repNode) pos() Pos     { return n.at }
func (n *parNode) pos() Pos     { return n.at }
func (n *includeNode) pos() Pos { return n.at }

// Block is one "@protocol [Name] { ... }" declaration.
type Block struct {
	// Name is the sub-protocol's name, or "" for the protocol of the rpc
	// whose comment holds the block.
	Name string
	// Pos is the position of "@protocol".
	Pos  Pos
	body node
}

// Includes returns the names of the sub-protocols b includes directly, in
// order of appearance (with repeats).
func (b *Block) Includes() []string {
	var names []string
	var walk func(n node)
	walk = func(n node) {
		switch n := n.(type) {
		case *seqNode:
			for _, m := range n.items {
				walk(m)
			}
		case *altNode:
			for _, m := range n.branches {
				walk(m)
			}
		case *parNode:
			for _, m := range n.parts {
				walk(m)
			}
		case *repNode:
			walk(n.body)
		case *includeNode:
			names = append(names, n.name)
		}
	}
	walk(b.body)
	return names
}
