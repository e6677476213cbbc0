package protocol

import (
	"fmt"
	"strings"
)

// Line is one line of comment text and where it starts in its file: the
// text after the comment marker, with the position of its first byte.
type Line struct {
	Text string
	Pos  Pos
}

// Marker starts a protocol block in a comment.
const Marker = "@protocol"

// maxDepth bounds the nesting of parentheses in a protocol, so that a
// hostile schema cannot exhaust the parser's stack.
const maxDepth = 64

// token kinds.
const (
	tEOF = iota
	tIdent
	tPunct
)

type token struct {
	kind int
	text string
	at   Pos
}

// ParseBlocks finds the "@protocol" blocks in lines (a comment's text) and
// parses each. Text outside blocks is prose and ignored. It returns every
// block that parsed and the errors of those that did not.
func ParseBlocks(lines []Line) ([]*Block, []*PosError) {
	var blocks []*Block
	var errs []*PosError
	// Look for a marker in lines[li] from byte from on.
	for li, from := 0, 0; li < len(lines); {
		col := findMarker(lines[li].Text, from)
		if col < 0 {
			li, from = li+1, 0
			continue
		}
		p := &parser{lines: lines, li: li, off: col + len(Marker)}
		b, err := p.block(p.posAt(li, col))
		if err != nil {
			errs = append(errs, err)
			// Resume after the line of the error.
			li, from = max(li, p.errLine)+1, 0
			continue
		}
		blocks = append(blocks, b)
		// Another block may start on the line this one ends on.
		li, from = p.li, p.off
	}
	return blocks, errs
}

// findMarker returns the index of the first marker in text from byte from
// on that starts a block, or -1. A marker is a word of its own: not part
// of a longer word or address (foo@protocol.org, @protocols), so that
// prose may mention it.
func findMarker(text string, from int) int {
	for from < len(text) {
		i := strings.Index(text[from:], Marker)
		if i < 0 {
			return -1
		}
		i += from
		from = i + len(Marker)
		if i > 0 {
			if c := text[i-1]; isIdentByte(c, false) || strings.IndexByte(".@-/:", c) >= 0 {
				continue
			}
		}
		if from < len(text) {
			if c := text[from]; c != ' ' && c != '\t' && c != '\r' && c != '{' {
				continue
			}
		}
		return i
	}
	return -1
}

// parser reads tokens from the comment lines, starting at lines[li][off].
type parser struct {
	lines   []Line
	li, off int
	peeked  *token
	depth   int
	msgs    int
	errLine int
}

func (p *parser) posAt(li, off int) Pos {
	l := p.lines[li]
	return Pos{Line: l.Pos.Line, Col: l.Pos.Col + off}
}

func isIdentByte(c byte, first bool) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || !first && '0' <= c && c <= '9'
}

// scan returns the next token.
func (p *parser) scan() token {
	for p.li < len(p.lines) {
		text := p.lines[p.li].Text
		for p.off < len(text) && (text[p.off] == ' ' || text[p.off] == '\t' || text[p.off] == '\r' || text[p.off] == '\n') {
			p.off++
		}
		if p.off >= len(text) {
			p.li++
			p.off = 0
			continue
		}
		at := p.posAt(p.li, p.off)
		c := text[p.off]
		if isIdentByte(c, true) {
			start := p.off
			for p.off < len(text) && isIdentByte(text[p.off], false) {
				p.off++
			}
			return token{tIdent, text[start:p.off], at}
		}
		p.off++
		return token{tPunct, string(c), at}
	}
	at := Pos{}
	if n := len(p.lines); n > 0 {
		last := p.lines[n-1]
		at = Pos{last.Pos.Line, last.Pos.Col + len(last.Text)}
	}
	return token{tEOF, "", at}
}

func (p *parser) peek() token {
	if p.peeked == nil {
		t := p.scan()
		p.peeked = &t
	}
	return *p.peeked
}

func (p *parser) next() token {
	t := p.peek()
	p.peeked = nil
	return t
}

func (p *parser) errorf(at Pos, format string, args ...any) *PosError {
	p.errLine = p.li
	for i, l := range p.lines {
		if l.Pos.Line == at.Line {
			p.errLine = i
		}
	}
	return &PosError{Pos: at, Msg: fmt.Sprintf(format, args...)}
}

func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "the end of the comment"
	case tIdent:
		return fmt.Sprintf("%q", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

// block parses "[Name] { expr }" after the marker at at. It returns the
// block and the index of the line after the one holding its "}".
func (p *parser) block(at Pos) (*Block, *PosError) {
	b := &Block{Pos: at}
	t := p.next()
	if t.kind == tIdent {
		if keyword(t.text) {
			return nil, p.errorf(t.at, "%q is a keyword and cannot name a protocol", t.text)
		}
		b.Name = t.text
		t = p.next()
	}
	if t.text != "{" || t.kind != tPunct {
		return nil, p.errorf(t.at, "want { after %s, got %s", Marker, describe(t))
	}
	body, err := p.expr(noSide)
	if err != nil {
		return nil, err
	}
	t = p.next()
	if t.kind != tPunct || t.text != "}" {
		return nil, p.errorf(t.at, "want } to end the protocol, got %s", describe(t))
	}
	b.body = body
	return b, nil
}

// keyword reports whether s is reserved by the notation.
func keyword(s string) bool {
	switch s {
	case "client", "server", "include", "halfclose":
		return true
	}
	return false
}

// noSide is the side context outside "client (...)" and "server (...)".
const noSide Side = 255

// expr = seq { "|" seq }.
func (p *parser) expr(ctx Side) (node, *PosError) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > 1+maxDepth { // the block's expression, then one per parenthesis
		return nil, p.errorf(p.peek().at, "protocol nested more than %d deep", maxDepth)
	}
	branches, err := p.infix(ctx, "|", p.seq)
	if err != nil {
		return nil, err
	}
	if len(branches) == 1 {
		return branches[0], nil
	}
	return &altNode{at: branches[0].pos(), branches: branches}, nil
}

// infix parses operand { op operand } and returns the operands in order.
func (p *parser) infix(ctx Side, op string, operand func(Side) (node, *PosError)) ([]node, *PosError) {
	var list []node
	for {
		n, err := operand(ctx)
		if err != nil {
			return nil, err
		}
		list = append(list, n)
		if t := p.peek(); t.kind != tPunct || t.text != op {
			return list, nil
		}
		p.next()
	}
}

// startsTerm reports whether t can start a term in side context ctx.
func startsTerm(t token, ctx Side) bool {
	switch t.kind {
	case tIdent:
		return true
	case tPunct:
		return t.text == "("
	}
	return false
}

// seq = par { [";"] par }.
func (p *parser) seq(ctx Side) (node, *PosError) {
	var items []node
	for {
		t := p.peek()
		if t.kind == tPunct && t.text == ";" {
			p.next()
			continue
		}
		if !startsTerm(t, ctx) {
			break
		}
		n, err := p.par(ctx)
		if err != nil {
			return nil, err
		}
		items = append(items, n)
	}
	if len(items) == 0 {
		t := p.peek()
		return nil, p.errorf(t.at, "want a message (client KIND or server KIND), ( or include, got %s", describe(t))
	}
	if len(items) == 1 {
		return items[0], nil
	}
	return &seqNode{at: items[0].pos(), items: items}, nil
}

// par = post { "&" post }.
func (p *parser) par(ctx Side) (node, *PosError) {
	parts, err := p.infix(ctx, "&", p.post)
	if err != nil {
		return nil, err
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return &parNode{at: parts[0].pos(), parts: parts}, nil
}

// post = atom { "*" | "+" | "?" }.
func (p *parser) post(ctx Side) (node, *PosError) {
	n, err := p.atom(ctx)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tPunct || (t.text != "*" && t.text != "+" && t.text != "?") {
			return n, nil
		}
		p.next()
		r := &repNode{at: t.at, body: n, op: t.text[0]}
		switch t.text {
		case "+":
			r.min = 1
		case "?":
			r.opt = true
		}
		n = r
	}
}

// atom = ("client" | "server") (KIND | "halfclose" | "(" expr ")")
//
//	| "(" expr ")" | "include" NAME | KIND (inside a side's parentheses).
func (p *parser) atom(ctx Side) (node, *PosError) {
	t := p.next()
	if t.kind == tPunct && t.text == "(" {
		n, err := p.expr(ctx)
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tPunct || c.text != ")" {
			return nil, p.errorf(c.at, "want ) to close the ( at %d:%d, got %s", t.at.Line, t.at.Col, describe(c))
		}
		return n, nil
	}
	if t.kind != tIdent {
		return nil, p.errorf(t.at, "want a message, ( or include, got %s", describe(t))
	}
	switch t.text {
	case "client", "server":
		side := ClientSide
		if t.text == "server" {
			side = ServerSide
		}
		if ctx != noSide {
			return nil, p.errorf(t.at, "%s inside %s ( ... ): the parentheses already say who sends", t.text, ctx)
		}
		k := p.peek()
		if k.kind == tPunct && k.text == "(" {
			return p.atom(side)
		}
		if k.kind != tIdent {
			return nil, p.errorf(k.at, "want the kind %s sends after %q, got %s", t.text, t.text, describe(k))
		}
		p.next()
		return p.message(side, k, t.at)
	case "include":
		if ctx != noSide {
			return nil, p.errorf(t.at, "include inside %s ( ... ): parentheses after a side hold only its kinds", ctx)
		}
		name := p.next()
		if name.kind != tIdent || keyword(name.text) {
			return nil, p.errorf(name.at, "want a protocol name after include, got %s", describe(name))
		}
		return &includeNode{at: t.at, name: name.text}, nil
	}
	if ctx == noSide {
		return nil, p.errorf(t.at, "%q needs its sender: write client %s or server %s (or include %s for a sub-protocol)", t.text, t.text, t.text, t.text)
	}
	return p.message(ctx, t, t.at)
}

// message builds the message node for kind k sent by side.
func (p *parser) message(side Side, k token, at Pos) (node, *PosError) {
	switch k.text {
	case "halfclose":
		if side != ClientSide {
			return nil, p.errorf(k.at, "only the client half-closes: write client halfclose")
		}
		p.msgs++
		return &msgNode{at: k.at, side: side, halfClose: true, kind: "halfclose", id: p.msgs - 1}, nil
	case "client", "server", "include":
		return nil, p.errorf(k.at, "want a kind after %s, got the keyword %q", side, k.text)
	}
	p.msgs++
	return &msgNode{at: k.at, side: side, kind: k.text, id: p.msgs - 1}, nil
}
