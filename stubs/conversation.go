package stubs

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"

	"github.com/parleyrpc/parley/protocol"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// convGen is what generating a method's typed conversation needs.
type convGen struct {
	m      method
	spec   *protocol.Spec
	prefix string // Go name prefix of its types: service and method, "ChatConverse"
	states []string
	// hc is the Go name of the client's half-close in state and case
	// names (see halfCloseName).
	hc string
	// kinds of each side: the Go value type of each kind and how to wrap
	// it into the side's message.
	client, server []kindGo
}

// kindGo is one message kind in Go.
type kindGo struct {
	name    string // the kind, as the protocol names it
	goName  string // CamelCase, for method names
	valType string // the type Send<Kind> takes
	// wrap builds the message from v; match is the type-switch case that
	// recognizes the kind ("" when the message has no oneof) and get
	// extracts the value from the case variable e.
	wrap, match, get string
	// oneof is the Go name of the message's oneof field ("" for none).
	oneof string
}

// protocolOf returns the compiled protocol of md, or nil.
func (f *fileGen) protocolOf(md protoreflect.MethodDescriptor) *protocol.Spec {
	return f.g.schema.protocols[md.FullName()]
}

// convPrefix is the prefix of the Go names of m's conversation types.
func convPrefix(base string, m method) string { return base + m.goName }

// kindsGo describes the kinds of msg (the method's request or response)
// in Go.
func (f *fileGen) kindsGo(msg protoreflect.MessageDescriptor) ([]kindGo, error) {
	msgType, err := f.rpcType(msg)
	if err != nil {
		return nil, err
	}
	o, n := kindOneof(msg)
	if n == 0 {
		return []kindGo{{name: string(msg.Name()), goName: goCamelCase(string(msg.Name())), valType: "*" + msgType, wrap: "v"}}, nil
	}
	names := f.g.namesOf(msg.ParentFile())
	qual := strings.TrimSuffix(msgType, names.idents[msg.FullName()]) // "pkg." or ""
	oneofField := names.fields[o.FullName()]
	var out []kindGo
	fields := o.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		e, err := f.elemOf(fd)
		if err != nil {
			return nil, err
		}
		caseType := qual + names.oneofCase[fd.FullName()]
		field := names.fields[fd.FullName()]
		out = append(out, kindGo{
			name:    string(fd.Name()),
			goName:  goCamelCase(string(fd.Name())),
			valType: e.goType,
			wrap:    "&" + msgType + "{" + oneofField + ": &" + caseType + "{" + field + ": v}}",
			match:   "*" + caseType,
			get:     "e." + field,
			oneof:   oneofField,
		})
	}
	return out, nil
}

// goNames hands out distinct names: a base name as it is while it is free,
// else the base numbered from 2 on, skipping numbered names already
// taken (kinds x and x2 both lead to AfterX2 otherwise).
type goNames struct {
	taken map[string]bool
	count map[string]int // how many times each base was claimed
}

func newGoNames(taken ...string) *goNames {
	n := &goNames{taken: map[string]bool{}, count: map[string]int{}}
	for _, t := range taken {
		n.taken[t] = true
	}
	return n
}

// claim returns base, or base numbered, not handed out before.
func (n *goNames) claim(base string) string {
	n.count[base]++
	name := base
	for i := n.count[base]; n.taken[name]; i++ {
		name = base + strconv.Itoa(max(i, 2))
		n.count[base] = max(i, 2)
	}
	n.taken[name] = true
	return name
}

// halfCloseName is the Go name of the client's half-close in the names of
// states and received cases: HalfClose, numbered if a client kind is
// named so (half_close).
func halfCloseName(spec *protocol.Spec) string {
	n := newGoNames()
	for _, k := range spec.Client {
		n.taken[goCamelCase(k)] = true
	}
	return n.claim("HalfClose")
}

// stateNames names each state's Go type: Start, then After<Kind> after
// the event that first leads there, numbered when ambiguous; hc is the
// half-close's name (see halfCloseName). The plain names are claimed
// first, so that a numbered name never takes another kind's (kinds x and
// x2: AfterX, AfterX2, then AfterX3).
func stateNames(spec *protocol.Spec, hc string) []string {
	n := len(spec.States)
	nev := len(spec.Client) + len(spec.Server) + 1
	bases := make([]string, n)
	bases[0] = "Start"
	var order []int // states in the order they are named
	done := make([]bool, n)
	done[0] = true
	queue := []int{0}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for ev := 0; ev < nev; ev++ {
			t := int(spec.Next[s*nev+ev]) - 1
			if t < 0 || done[t] {
				continue
			}
			done[t] = true
			queue = append(queue, t)
			order = append(order, t)
			switch {
			case ev < len(spec.Client):
				bases[t] = "After" + goCamelCase(spec.Client[ev])
			case ev < len(spec.Client)+len(spec.Server):
				bases[t] = "After" + goCamelCase(spec.Server[ev-len(spec.Client)])
			default:
				bases[t] = "After" + hc
			}
		}
	}
	for i := range bases {
		if bases[i] == "" { // unreachable states do not survive minimizing
			bases[i] = "State" + strconv.Itoa(i)
			order = append(order, i)
		}
	}
	seen := newGoNames(bases...)
	plain := map[string]bool{"Start": true}
	names := make([]string, n)
	names[0] = "Start"
	for _, s := range order {
		if b := bases[s]; !plain[b] {
			plain[b] = true
			names[s] = b
			seen.count[b]++
		} else {
			names[s] = seen.claim(b)
		}
	}
	return names
}

// newConv gathers what the conversation of m needs.
func (f *fileGen) newConv(base string, m method) (*convGen, error) {
	spec := f.protocolOf(m.md)
	if spec == nil {
		return nil, nil
	}
	hc := halfCloseName(spec)
	c := &convGen{m: m, spec: spec, prefix: convPrefix(base, m), hc: hc, states: stateNames(spec, hc)}
	var err error
	if c.client, err = f.kindsGo(m.md.Input()); err != nil {
		return nil, err
	}
	if c.server, err = f.kindsGo(m.md.Output()); err != nil {
		return nil, err
	}
	return c, nil
}

// claimConv claims the package-level names of c's types (see
// protocolDecls), all made of c's prefix: while one of them is taken, the
// prefix gets another underscore, so that the conversation's types are
// renamed together.
func (f *fileGen) claimConv(c *convGen) error {
	for {
		names, err := f.convDecls(c)
		if err != nil {
			return err
		}
		free := true
		for _, n := range names {
			free = free && !f.taken[n]
		}
		if free {
			for _, n := range names {
				f.taken[n] = true
			}
			return nil
		}
		c.prefix += "_"
	}
}

// convDecls lists the package-level names protocolDecls declares for c,
// by writing them aside and reading the declarations back.
func (f *fileGen) convDecls(c *convGen) ([]string, error) {
	scratch := &fileGen{g: f.g, fd: f.fd, names: f.names, imports: map[string]string{}, taken: map[string]bool{}}
	scratch.P("package p")
	scratch.protocolDecls(c)
	file, err := parser.ParseFile(token.NewFileSet(), "", scratch.buf.Bytes(), parser.SkipObjectResolution)
	if err != nil {
		return nil, fmt.Errorf("stubs: the conversation types of %s: %w", c.m.md.FullName(), err)
	}
	var names []string
	seen := map[string]bool{}
	add := func(id *ast.Ident) error {
		if id.Name == "_" {
			return nil
		}
		if seen[id.Name] {
			return f.g.schema.errorAt(c.m.md, "the protocol of method %s declares the Go name %s twice: two of its kinds or states have names that differ only in case or underscores", c.m.md.Name(), id.Name)
		}
		seen[id.Name] = true
		names = append(names, id.Name)
		return nil
	}
	for _, d := range file.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil {
				if err := add(d.Name); err != nil {
					return nil, err
				}
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch spec := spec.(type) {
				case *ast.TypeSpec:
					if err := add(spec.Name); err != nil {
						return nil, err
					}
				case *ast.ValueSpec:
					for _, id := range spec.Names {
						if err := add(id); err != nil {
							return nil, err
						}
					}
				}
			}
		}
	}
	return names, nil
}

// next returns the state after event ev in state s, or -1.
func (c *convGen) next(s, ev int) int {
	nev := len(c.spec.Client) + len(c.spec.Server) + 1
	return int(c.spec.Next[s*nev+ev]) - 1
}

func (c *convGen) halfCloseEv() int { return len(c.spec.Client) + len(c.spec.Server) }

// mayHalfClose reports whether the client may half-close in s, and the
// state after.
func (c *convGen) mayHalfClose(s int) (int, bool) {
	if t := c.next(s, c.halfCloseEv()); t >= 0 {
		return t, true
	}
	fl := c.spec.Flags[s]
	if fl&(protocol.FlagFinal|protocol.FlagClientDone) != 0 && fl&protocol.FlagClosed == 0 {
		return s, true
	}
	return -1, false
}

// protocolDecls writes the machine, the kind functions and the typed
// conversations of c's method.
func (f *fileGen) protocolDecls(c *convGen) {
	pr := f.use("github.com/parleyrpc/parley/protocol")
	spec := c.spec
	f.P("// ", c.prefix, "Protocol is the protocol of ", c.m.md.FullName(), ", compiled from")
	f.P("// its @protocol comment; both sides of a call check it.")
	f.P("var ", c.prefix, "Protocol = ", pr, ".MustNew(", pr, ".Spec{")
	f.P("Method: ", strconv.Quote(spec.Method), ",")
	f.P("Client: []string{", quoteAll(spec.Client), "},")
	f.P("Server: []string{", quoteAll(spec.Server), "},")
	f.P("States: []string{")
	for _, s := range spec.States {
		f.P(strconv.Quote(s), ",")
	}
	f.P("},")
	f.P("Next: []uint16{")
	nev := len(spec.Client) + len(spec.Server) + 1
	for s := range spec.States {
		var row []string
		for _, t := range spec.Next[s*nev : (s+1)*nev] {
			row = append(row, strconv.Itoa(int(t)))
		}
		f.P(strings.Join(row, ", "), ", // ", s)
	}
	f.P("},")
	var flags []string
	for _, fl := range spec.Flags {
		flags = append(flags, strconv.Itoa(int(fl)))
	}
	f.P("Flags: []uint8{", strings.Join(flags, ", "), "},")
	f.P("})")
	f.P()
	f.kindFunc(c.prefix+"ClientKind", c.prefix+"Protocol", c.m.req, c.client)
	f.kindFunc(c.prefix+"ServerKind", c.prefix+"Protocol", c.m.res, c.server)
	if c.m.clientStream || c.m.serverStream {
		f.convSide(c, true)
		f.convSide(c, false)
	}
}

func quoteAll(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}

// kindFunc writes the function returning a message's kind number.
func (f *fileGen) kindFunc(name, machine, msgType string, kinds []kindGo) {
	oneof := kinds[0].oneof
	f.P("// ", name, " returns the kind number of m in ", machine, ", or -1 if it has none.")
	f.P("func ", name, "(m *", msgType, ") int {")
	if kinds[0].match == "" {
		f.P("if m == nil {")
		f.P("return -1")
		f.P("}")
		f.P("return 0")
		f.P("}")
		f.P()
		return
	}
	f.P("if m == nil {")
	f.P("return -1")
	f.P("}")
	f.P("switch m.", oneof, ".(type) {")
	for i, k := range kinds {
		f.P("case ", k.match, ":")
		f.P("return ", i)
	}
	f.P("}")
	f.P("return -1")
	f.P("}")
	f.P()
}

// convSide writes the conversation type of one side and a type per state
// with the moves allowed there. A side that does not stream gets no moves
// for its one message: the runtime sends it (the client's request of a
// server-streaming call) or the handler returns it (the server's response
// of a client-streaming call).
func (f *fileGen) convSide(c *convGen, server bool) {
	g := newSideGen(f, c, server)
	g.convType()
	for s := range c.spec.States {
		g.state(s)
	}
}

// sideGen writes one side's conversation types.
type sideGen struct {
	f           *fileGen
	c           *convGen
	server      bool
	pr          string   // the protocol package's name in the file
	side, other string   // "Client" and "Server", or the reverse
	own, theirs []kindGo // the kinds this side sends and receives
	ownBase     int      // event number of this side's first kind
	theirBase   int      // event number of the other side's first kind
	inner       string   // the embedded protocol conversation type
	convName    string   // the conversation type
	embedded    string   // its embedded field's name
	// ownSingle is set when this side sends exactly one message that is
	// not one of its moves; theirSingle when the other side's one message
	// came before the conversation started (a server-streaming request).
	ownSingle, theirSingle bool
	// moved is the type a state's Recv returns for a message that only
	// another goroutine's moves made legal.
	moved string
}

func newSideGen(f *fileGen, c *convGen, server bool) *sideGen {
	g := &sideGen{f: f, c: c, server: server, pr: f.use("github.com/parleyrpc/parley/protocol")}
	g.side, g.other = "Client", "Server"
	g.own, g.theirs = c.client, c.server
	g.ownBase, g.theirBase = 0, len(c.spec.Client)
	if server {
		g.side, g.other = "Server", "Client"
		g.own, g.theirs = c.server, c.client
		g.ownBase, g.theirBase = len(c.spec.Client), 0
	}
	g.inner = g.pr + "." + g.side + "Conv[" + c.m.req + ", " + c.m.res + "]"
	if server {
		g.ownSingle = !c.m.serverStream
		g.theirSingle = !c.m.clientStream
	} else {
		g.ownSingle = !c.m.clientStream
	}
	g.convName = c.prefix + g.side + "Conv"
	g.moved = c.prefix + g.side + "Moved"
	g.embedded = g.side + "Conv"
	return g
}

// stateType is the Go type of state s on this side.
func (g *sideGen) stateType(s int) string { return g.c.prefix + g.side + g.c.states[s] }

// convType writes the conversation type and its Start.
func (g *sideGen) convType() {
	f, c := g.f, g.c
	f.P("// ", g.convName, " is the ", strings.ToLower(g.side), "'s side of a ", c.m.md.Name(), " call, checked against")
	f.P("// ", c.prefix, "Protocol. Start returns the typed state at the start of the")
	f.P("// conversation; each state's methods are the moves the protocol allows")
	f.P("// there, and each move returns the next state. The embedded conversation")
	f.P("// offers the untyped, still checked, Send, Recv, In and Out.")
	f.P("type ", g.convName, " struct {")
	f.P("*", g.inner)
	if !c.m.clientStream {
		f.P("req *", c.m.req, " // the request, sent or received before the conversation")
	}
	f.P("}")
	f.P()
	theirMsg := c.m.res
	if g.server {
		theirMsg = c.m.req
	}
	f.P("// ", g.moved, " is what a state's Recv returns for a message its state")
	f.P("// does not expect but the conversation allowed: another goroutine's moves")
	f.P("// took the conversation on from that state value. It holds the message")
	f.P("// and the conversation's state now; go on from there with the untyped")
	f.P("// (still checked) Recv, Send, In and Out.")
	f.P("type ", g.moved, " struct {")
	f.P("Msg *", theirMsg)
	f.P("State string")
	f.P("}")
	f.P()
	if c.m.clientStream {
		f.P("// Start returns the conversation's first state. Use each state value")
		f.P("// once: the checker refuses moves from a state the conversation has left.")
		f.P("func (c *", g.convName, ") Start() ", g.stateType(0), " {")
		f.P("return ", g.stateType(0), "{c.", g.embedded, "}")
		f.P("}")
		f.P()
		return
	}
	g.startAfterRequest()
}

// startAfterRequest writes Start for a server-streaming method, whose
// conversation starts after the client's request and half-close: the
// state after them depends on the request's kind.
func (g *sideGen) startAfterRequest() {
	f, c := g.f, g.c
	kinds := c.client
	after := func(i int) int {
		t := c.next(0, i)
		if t < 0 {
			return -1
		}
		if hc, ok := c.mayHalfClose(t); ok {
			return hc
		}
		return t
	}
	if kinds[0].match == "" { // the one kind: one state
		t := after(0)
		f.P("// Start returns the conversation's state after the request. Use each state")
		f.P("// value once: the checker refuses moves from a state the conversation has left.")
		f.P("func (c *", g.convName, ") Start() ", g.stateType(t), " {")
		f.P("return ", g.stateType(t), "{c.", g.embedded, "}")
		f.P("}")
		f.P()
		return
	}
	start := g.convName + "Start"
	var cases []int
	for i := range kinds {
		if after(i) >= 0 {
			cases = append(cases, i)
		}
	}
	var list []string
	for _, i := range cases {
		list = append(list, start+kinds[i].goName)
	}
	f.P("// ", start, " is what ", g.convName, ".Start returns: one of")
	f.P("// ", strings.Join(list, ", "), ", by the request's kind.")
	f.P("type ", start, " interface{ is", start, "() }")
	f.P()
	for _, i := range cases {
		name := start + kinds[i].goName
		f.P("// ", name, " is a request of kind ", kinds[i].name, ", with the state after it.")
		f.P("type ", name, " struct {")
		f.P("Msg ", kinds[i].valType)
		f.P("Next ", g.stateType(after(i)))
		f.P("}")
		f.P()
		f.P("func (", name, ") is", start, "() {}")
		f.P()
	}
	f.P("// Start returns the request with the conversation's state after it. Use")
	f.P("// each state value once: the checker refuses moves from a state the")
	f.P("// conversation has left. It returns nil for a request of no kind, which")
	f.P("// the protocol refuses before the conversation starts.")
	f.P("func (c *", g.convName, ") Start() ", start, " {")
	f.P("switch e := c.req.", kinds[0].oneof, ".(type) {")
	for _, i := range cases {
		k := kinds[i]
		f.P("case ", k.match, ":")
		f.P("return ", start, k.goName, "{Msg: ", k.get, ", Next: ", g.stateType(after(i)), "{c.", g.embedded, "}}")
	}
	f.P("}")
	f.P("return nil")
	f.P("}")
	f.P()
}

// state writes the type of state s and its moves.
func (g *sideGen) state(s int) {
	f := g.f
	st := g.stateType(s)
	f.P("// ", st, " is the ", strings.ToLower(g.side), "'s state ", g.c.spec.States[s], ".")
	f.P("type ", st, " struct {")
	f.P("c *", g.inner)
	f.P("}")
	f.P()
	for i, k := range g.own {
		if g.ownSingle {
			break
		}
		if t := g.c.next(s, g.ownBase+i); t >= 0 {
			g.move(st, "Send"+k.goName, "v "+k.valType, "Send"+k.goName+" sends "+strings.ToLower(g.side)+" "+k.name, "s.c.Send("+k.wrap+")", t)
		}
	}
	hc, canClose := g.c.mayHalfClose(s)
	if !g.server && canClose && !g.ownSingle {
		g.move(st, "CloseSend", "", "CloseSend half-closes the call", "s.c.CloseSend()", hc)
	}
	var cases []int
	for i := range g.theirs {
		if g.c.next(s, g.theirBase+i) >= 0 && !g.theirSingle {
			cases = append(cases, i)
		}
	}
	gotHalfClose := g.server && canClose && !g.theirSingle
	switch {
	case len(cases) > 0 || gotHalfClose:
		g.recv(s, cases, gotHalfClose, hc)
	case !g.server && g.c.spec.Flags[s]&protocol.FlagFinal != 0:
		f.P("// Wait waits for the end of the call, where nothing more may come: nil")
		f.P("// when it ended with OK, else its status (see ", g.pr, ".", g.embedded, ".Recv).")
		f.P("func (s ", st, ") Wait() error {")
		f.P("if _, err := s.c.Recv(); err != ", f.use("io"), ".EOF {")
		f.P("return err")
		f.P("}")
		f.P("return nil")
		f.P("}")
		f.P()
	}
}

// move writes a method of state type st that calls do and returns state t.
func (g *sideGen) move(st, name, params, doc, do string, t int) {
	f := g.f
	f.P("// ", doc, " and returns the next state.")
	f.P("func (s ", st, ") ", name, "(", params, ") (", g.stateType(t), ", error) {")
	f.P("if err := ", do, "; err != nil {")
	f.P("return ", g.stateType(t), "{}, err")
	f.P("}")
	f.P("return ", g.stateType(t), "{s.c}, nil")
	f.P("}")
	f.P()
}

// recv writes state s's Recv: a sealed interface with a case per kind the
// other side may send there (cases, by index in theirs) and, on the
// server, the client's half-close (leading to state hc).
func (g *sideGen) recv(s int, cases []int, gotHalfClose bool, hc int) {
	f := g.f
	st := g.stateType(s)
	recv := st + "Recv"
	var list []string
	for _, i := range cases {
		list = append(list, st+"Got"+g.theirs[i].goName)
	}
	if gotHalfClose {
		list = append(list, st+"Got"+g.c.hc)
	}
	list = append(list, g.moved)
	f.P("// ", recv, " is what ", st, ".Recv received: one of")
	f.P("// ", strings.Join(list, ", "), ".")
	f.P("type ", recv, " interface{ is", recv, "() }")
	f.P()
	f.P("func (", g.moved, ") is", recv, "() {}")
	f.P()
	for _, i := range cases {
		k := g.theirs[i]
		name := st + "Got" + k.goName
		f.P("// ", name, " is ", strings.ToLower(g.other), " ", k.name, " received in ", st, ", with the state after it.")
		f.P("type ", name, " struct {")
		f.P("Msg ", k.valType)
		f.P("Next ", g.stateType(g.c.next(s, g.theirBase+i)))
		f.P("}")
		f.P()
		f.P("func (", name, ") is", recv, "() {}")
		f.P()
	}
	if gotHalfClose {
		name := st + "Got" + g.c.hc
		f.P("// ", name, " is the client's half-close received in ", st, ", with the state after it.")
		f.P("type ", name, " struct {")
		f.P("Next ", g.stateType(hc))
		f.P("}")
		f.P()
		f.P("func (", name, ") is", recv, "() {}")
		f.P()
	}
	f.P("// Recv receives the next message the protocol allows here. A message out")
	f.P("// of protocol ends the call (see ", g.pr, ".", g.embedded, ".Recv).")
	if !g.server {
		f.P("// It returns io.EOF once the call ended with OK where the protocol may end.")
	}
	f.P("func (s ", st, ") Recv() (", recv, ", error) {")
	f.P("v, err := s.c.Recv()")
	if gotHalfClose {
		f.P("if err == ", f.use("io"), ".EOF {")
		f.P("return ", st, "Got", g.c.hc, "{Next: ", g.stateType(hc), "{s.c}}, nil")
		f.P("}")
	}
	f.P("if err != nil {")
	f.P("return nil, err")
	f.P("}")
	switch {
	case len(cases) == 0:
	case g.theirs[0].match == "": // no oneof: the message is the one kind
		f.P("return ", st, "Got", g.theirs[0].goName, "{Msg: v, Next: ", g.stateType(g.c.next(s, g.theirBase)), "{s.c}}, nil")
		f.P("}")
		f.P()
		return
	default:
		f.P("switch e := v.", g.theirs[0].oneof, ".(type) {")
		for _, i := range cases {
			k := g.theirs[i]
			f.P("case ", k.match, ":")
			f.P("return ", st, "Got", k.goName, "{Msg: ", k.get, ", Next: ", g.stateType(g.c.next(s, g.theirBase+i)), "{s.c}}, nil")
		}
		f.P("}")
	}
	// The checker let the message through, so the conversation is in
	// another state than this value's.
	f.P("return ", g.moved, "{Msg: v, State: s.c.Checker().StateName()}, nil")
	f.P("}")
	f.P()
}

// protocolRegister writes the registration of a method with a protocol.
func (f *fileGen) protocolRegister(rt string, m method) {
	pr := f.use("github.com/parleyrpc/parley/protocol")
	p := m.proto.prefix
	tables := p + "Protocol, " + p + "ClientKind, " + p + "ServerKind"
	sc := "*" + pr + ".ServerConv[" + m.req + ", " + m.res + "]"
	call := "call *" + rt + ".ServerCall[" + m.req + ", " + m.res + "]"
	switch {
	case m.clientStream && m.serverStream:
		f.P(rt, ".HandleBidi(s, ", m.constName, ", func(", call, ") error {")
		f.P("return ", pr, ".Serve(call, ", tables, ", func(c ", sc, ") error {")
		f.P("return impl.", m.goName, "(&", p, "ServerConv{c})")
	case m.clientStream:
		f.P(rt, ".HandleClientStream(s, ", m.constName, ", func(", call, ") (*", m.res, ", error) {")
		f.P("return ", pr, ".ServeClientStream(call, ", tables, ", func(c ", sc, ") (*", m.res, ", error) {")
		f.P("return impl.", m.goName, "(&", p, "ServerConv{c})")
	case m.serverStream:
		f.P(rt, ".HandleServerStream(s, ", m.constName, ", func(req *", m.req, ", ", call, ") error {")
		f.P("return ", pr, ".ServeServerStream(req, call, ", tables, ", func(req *", m.req, ", c ", sc, ") error {")
		f.P("return impl.", m.goName, "(req, &", p, "ServerConv{ServerConv: c, req: req})")
	default:
		ctx := f.use("context")
		f.P(rt, ".HandleUnary(s, ", m.constName, ", func(ctx ", ctx, ".Context, req *", m.req, ") (*", m.res, ", error) {")
		f.P("return ", pr, ".ServeUnary(ctx, req, ", tables, ", impl.", m.goName, ")")
		f.P("})")
		return
	}
	f.P("})")
	f.P("})")
}

// protocolOpen writes the client method body of a method with a protocol.
func (f *fileGen) protocolOpen(m method) {
	pr := f.use("github.com/parleyrpc/parley/protocol")
	p := m.proto.prefix
	tables := p + "Protocol, " + p + "ClientKind, " + p + "ServerKind"
	switch {
	case m.clientStream && m.serverStream:
		f.P("conv, err := ", pr, ".Open(ctx, c.c, ", m.constName, ", ", tables, ", opts...)")
	case m.clientStream:
		f.P("conv, err := ", pr, ".OpenClientStream(ctx, c.c, ", m.constName, ", ", tables, ", opts...)")
	case m.serverStream:
		f.P("conv, err := ", pr, ".OpenServerStream(ctx, c.c, ", m.constName, ", ", tables, ", req, opts...)")
	default:
		f.P("return ", pr, ".CallUnary(ctx, c.c, ", m.constName, ", ", tables, ", req, opts...)")
		return
	}
	f.P("if err != nil {")
	f.P("return nil, err")
	f.P("}")
	if m.clientStream {
		f.P("return &", p, "ClientConv{conv}, nil")
	} else {
		f.P("return &", p, "ClientConv{ClientConv: conv, req: req}, nil")
	}
}

// diagrams returns the Markdown file with a Mermaid diagram of each
// protocol of fd's methods, or false when fd declares none.
func (g *generator) diagrams(fd protoreflect.FileDescriptor) (File, bool) {
	var b strings.Builder
	services := fd.Services()
	for i := 0; i < services.Len(); i++ {
		methods := services.Get(i).Methods()
		for j := 0; j < methods.Len(); j++ {
			md := methods.Get(j)
			spec := g.schema.protocols[md.FullName()]
			if spec == nil {
				continue
			}
			m, err := protocol.New(*spec)
			if err != nil {
				continue // cannot happen: Compile's tables
			}
			if b.Len() == 0 {
				fmt.Fprintf(&b, "<!-- Code generated by parley gen %s. DO NOT EDIT. -->\n<!-- source: %s -->\n\n", Version, fd.Path())
				fmt.Fprintf(&b, "# Protocols of %s\n", fd.Path())
			}
			fmt.Fprintf(&b, "\n## %s\n\n```mermaid\n%s```\n", spec.Method, m.Mermaid())
		}
	}
	if b.Len() == 0 {
		return File{}, false
	}
	return File{
		Name:    strings.TrimSuffix(fd.Path(), ".proto") + ".protocols.md",
		Proto:   fd.Path(),
		Content: []byte(b.String()),
	}, true
}

// Protocol is one method's compiled protocol, as Protocols returns it.
type Protocol struct {
	// Method is the method's full name, "pkg.Service/Method".
	Method string
	// Machine runs the protocol; its Mermaid method draws it.
	Machine *protocol.Machine
}

// Protocols parses the given .proto files (see Parse) and returns the
// protocols their methods declare, in declaration order.
func Protocols(files []string, opts Options) ([]Protocol, error) {
	s, err := compile(files, opts)
	if err != nil {
		return nil, err
	}
	var out []Protocol
	for _, fd := range s.files {
		services := fd.Services()
		for i := 0; i < services.Len(); i++ {
			methods := services.Get(i).Methods()
			for j := 0; j < methods.Len(); j++ {
				spec := s.protocols[methods.Get(j).FullName()]
				if spec == nil {
					continue
				}
				m, err := protocol.New(*spec)
				if err != nil {
					return nil, err
				}
				out = append(out, Protocol{Method: spec.Method, Machine: m})
			}
		}
	}
	return out, nil
}
