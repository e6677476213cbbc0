package stubs

import (
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/parleyrpc/parley/protocol"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// commentLines returns the comment that ends on the line above the
// declaration d (its leading comment: a block of // lines, or a /* */
// comment), with each line's position, read from the file on disk.
func (s *schema) commentLines(d protoreflect.Descriptor, src []string) []protocol.Line {
	loc := d.ParentFile().SourceLocations().ByDescriptor(d)
	if loc.Path == nil && loc.StartLine == 0 {
		return nil
	}
	end := loc.StartLine - 1 // 0-based index of the line above
	if end >= 0 && end < len(src) && strings.HasSuffix(strings.TrimRight(src[end], " \t\r"), "*/") {
		return blockComment(src, end)
	}
	start := end + 1
	for i := end; i >= 0 && i < len(src); i-- {
		if !strings.HasPrefix(strings.TrimLeft(src[i], " \t"), "//") {
			break
		}
		start = i
	}
	var out []protocol.Line
	for i := start; i <= end && i < len(src); i++ {
		col := strings.Index(src[i], "//") + 2
		out = append(out, protocol.Line{Text: src[i][col:], Pos: protocol.Pos{Line: i + 1, Col: col + 1}})
	}
	return out
}

// blockComment returns the lines of the /* */ comment that ends on line
// end (0-based), without the comment markers and without the "*" that
// starts each continuation line by convention.
func blockComment(src []string, end int) []protocol.Line {
	start := -1
	for i := end; i >= 0; i-- {
		if strings.Contains(src[i], "/*") {
			start = i
			break
		}
	}
	if start < 0 {
		return nil
	}
	var out []protocol.Line
	for i := start; i <= end; i++ {
		line := strings.TrimRight(src[i], "\r")
		from := 0
		if i == start {
			from = strings.Index(line, "/*") + 2
		} else {
			for from < len(line) && (line[from] == ' ' || line[from] == '\t') {
				from++
			}
			if from < len(line) && line[from] == '*' && !strings.HasPrefix(line[from:], "*/") {
				from++
			}
		}
		to := len(line)
		if i == end {
			to = strings.LastIndex(line, "*/")
		}
		if to < from {
			to = from
		}
		out = append(out, protocol.Line{Text: line[from:to], Pos: protocol.Pos{Line: i + 1, Col: from + 1}})
	}
	return out
}

// protocolErr converts a protocol error in fd to a schema error.
func (s *schema) protocolErr(fd protoreflect.FileDescriptor, e *protocol.PosError) *Error {
	file := fd.Path()
	if p, ok := s.disk[file]; ok {
		file = p
	}
	return &Error{File: file, Line: e.Pos.Line, Column: e.Pos.Col, Msg: e.Msg}
}

// checkProtocols finds the @protocol blocks in the comments of fd's
// services and methods, checks them and compiles each method's protocol
// into s.protocols.
func (s *schema) checkProtocols(fd protoreflect.FileDescriptor) []*Error {
	path, ok := s.disk[fd.Path()]
	if !ok {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	src := strings.Split(string(data), "\n")
	var errs []*Error
	services := fd.Services()
	for i := 0; i < services.Len(); i++ {
		errs = append(errs, s.serviceProtocols(services.Get(i), src)...)
	}
	return errs
}

func (s *schema) serviceProtocols(sv protoreflect.ServiceDescriptor, src []string) []*Error {
	fd := sv.ParentFile()
	var errs []*Error
	subs := map[string]*protocol.Block{}
	own := map[protoreflect.FullName]*protocol.Block{}
	named := func(b *protocol.Block) {
		if prev, ok := subs[b.Name]; ok {
			errs = append(errs, s.protocolErr(fd, &protocol.PosError{Pos: b.Pos,
				Msg: "protocol " + b.Name + " is declared twice in service " + string(sv.Name()) + " (first at " + posString(prev.Pos) + ")"}))
			return
		}
		subs[b.Name] = b
	}
	blocks, perrs := protocol.ParseBlocks(s.commentLines(sv, src))
	for _, e := range perrs {
		errs = append(errs, s.protocolErr(fd, e))
	}
	for _, b := range blocks {
		if b.Name == "" {
			errs = append(errs, s.protocolErr(fd, &protocol.PosError{Pos: b.Pos,
				Msg: "an unnamed @protocol belongs in the comment of the rpc it governs; in a service's comment, name it (@protocol Name { ... }) and include it"}))
			continue
		}
		named(b)
	}
	methods := sv.Methods()
	for i := 0; i < methods.Len(); i++ {
		m := methods.Get(i)
		blocks, perrs := protocol.ParseBlocks(s.commentLines(m, src))
		for _, e := range perrs {
			errs = append(errs, s.protocolErr(fd, e))
		}
		for _, b := range blocks {
			switch {
			case b.Name != "":
				named(b)
			case own[m.FullName()] != nil:
				errs = append(errs, s.protocolErr(fd, &protocol.PosError{Pos: b.Pos, Msg: "rpc " + string(m.Name()) + " has a second unnamed @protocol: one rpc, one protocol"}))
			default:
				own[m.FullName()] = b
			}
		}
	}
	if len(errs) > 0 {
		return errs
	}
	errs = append(errs, s.unusedProtocols(sv, own, subs)...)
	for i := 0; i < methods.Len(); i++ {
		m := methods.Get(i)
		b := own[m.FullName()]
		if b == nil {
			continue
		}
		kinds, kerr := s.kindsOf(m)
		if kerr != nil {
			errs = append(errs, kerr)
			continue
		}
		kinds.SingleClient, kinds.SingleServer = !m.IsStreamingClient(), !m.IsStreamingServer()
		spec, perrs := protocol.Compile(methodName(m), b, subs, kinds)
		for _, e := range perrs {
			errs = append(errs, s.protocolErr(fd, e))
		}
		if spec != nil {
			if s.protocols == nil {
				s.protocols = map[protoreflect.FullName]*protocol.Spec{}
			}
			s.protocols[m.FullName()] = spec
		}
	}
	return errs
}

// unusedProtocols reports the named protocols of sv that no rpc's
// protocol includes, directly or through others: parts that can never be
// reached (and that nothing would check).
func (s *schema) unusedProtocols(sv protoreflect.ServiceDescriptor, own map[protoreflect.FullName]*protocol.Block, subs map[string]*protocol.Block) []*Error {
	used := map[string]bool{}
	var visit func(b *protocol.Block)
	visit = func(b *protocol.Block) {
		for _, name := range b.Includes() {
			if sub, ok := subs[name]; ok && !used[name] {
				used[name] = true
				visit(sub)
			}
		}
	}
	for _, b := range own {
		visit(b)
	}
	var errs []*Error
	for name, b := range subs {
		if !used[name] {
			errs = append(errs, s.protocolErr(sv.ParentFile(), &protocol.PosError{Pos: b.Pos,
				Msg: "protocol " + name + " can never be reached: no rpc's protocol in service " + string(sv.Name()) + " includes it"}))
		}
	}
	slices.SortFunc(errs, func(a, b *Error) int { return a.Line*10000 + a.Column - b.Line*10000 - b.Column })
	return errs
}

func posString(p protocol.Pos) string { return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col) }

// methodName is "pkg.Service/Method".
func methodName(m protoreflect.MethodDescriptor) string {
	return string(m.Parent().FullName()) + "/" + string(m.Name())
}

// kindOneof returns the top-level oneof whose cases are msg's kinds, or
// nil when msg has none (then the message type itself is the one kind).
func kindOneof(msg protoreflect.MessageDescriptor) (protoreflect.OneofDescriptor, int) {
	var found protoreflect.OneofDescriptor
	n := 0
	oneofs := msg.Oneofs()
	for i := 0; i < oneofs.Len(); i++ {
		if o := oneofs.Get(i); !o.IsSynthetic() {
			found = o
			n++
		}
	}
	return found, n
}

// kindsOf returns the kinds of m's two messages.
func (s *schema) kindsOf(m protoreflect.MethodDescriptor) (protocol.Kinds, *Error) {
	var k protocol.Kinds
	for i, msg := range []protoreflect.MessageDescriptor{m.Input(), m.Output()} {
		var names []string
		o, n := kindOneof(msg)
		switch n {
		case 0:
			names = []string{string(msg.Name())}
		case 1:
			fields := o.Fields()
			for j := 0; j < fields.Len(); j++ {
				names = append(names, string(fields.Get(j).Name()))
			}
		default:
			return k, s.errorAt(m, "rpc %s has a protocol, so its message %s may have at most one oneof (its cases are the message kinds); it has %d", m.Name(), msg.Name(), n)
		}
		if i == 0 {
			k.Client = names
		} else {
			k.Server = names
		}
	}
	return k, nil
}
