package stubs

import (
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// rpcType returns the Go type used as a type argument for a method's
// request or response: the generated struct, or the well-known mapping.
func (f *fileGen) rpcType(m protoreflect.MessageDescriptor) (string, error) {
	switch m.FullName() {
	case wktEmpty:
		return "struct{}", nil
	case wktTimestamp:
		return f.use("time") + ".Time", nil
	case wktDuration:
		return f.use("time") + ".Duration", nil
	}
	if t, ok := typeWKTs[m.FullName()]; ok {
		return f.use(wktPath) + "." + t, nil
	}
	return f.ident(m)
}

// method is what service generation needs to know about one RPC.
type method struct {
	md                         protoreflect.MethodDescriptor
	goName, constName          string
	req, res                   string // type arguments
	clientStream, serverStream bool
	proto                      *convGen // the typed conversation, for a method with a protocol
}

// svcNames are the package-level Go names of a service's code.
type svcNames struct {
	base                               string // the prefix of the others: the service's name in Go case
	server, client, clientImpl         string // the interfaces and the client's implementation
	unimplemented, register, newClient string
}

// serviceNames claims the Go names of sv's code, in this order: for the
// service Foo, FooServer, FooClient, fooClient, UnimplementedFooServer,
// RegisterFooServer and NewFooClient, each taking trailing underscores
// when taken.
func (f *fileGen) serviceNames(sv protoreflect.ServiceDescriptor) svcNames {
	base := f.names.idents[sv.FullName()]
	return svcNames{
		base:          base,
		server:        f.claim(base + "Server"),
		client:        f.claim(base + "Client"),
		clientImpl:    f.claim(lowerFirst(base + "Client")),
		unimplemented: f.claim("Unimplemented" + base + "Server"),
		register:      f.claim("Register" + base + "Server"),
		newClient:     f.claim("New" + base + "Client"),
	}
}

// service writes the method-name constants, the server interface, its
// Unimplemented implementation, the registration function and the typed
// client for sv.
func (f *fileGen) service(sv protoreflect.ServiceDescriptor) error {
	names := f.serviceNames(sv)
	methods, err := f.serviceMethods(sv, names.base)
	if err != nil {
		return err
	}
	f.methodNames(sv, methods)
	f.serverSide(sv, names, methods)
	f.clientSide(sv, names, methods)
	for _, m := range methods {
		if m.proto != nil {
			f.protocolDecls(m.proto)
		}
	}
	return nil
}

// serviceMethods collects sv's methods with their Go names and types, and
// their declared protocols, and claims the package-level names of each in
// turn: its full-name constant, then its conversation's types. Methods
// whose Go names collide (get and Get) get underscores too.
func (f *fileGen) serviceMethods(sv protoreflect.ServiceDescriptor, base string) ([]method, error) {
	var methods []method
	methodTaken := map[string]bool{}
	ms := sv.Methods()
	for i := 0; i < ms.Len(); i++ {
		md := ms.Get(i)
		req, err := f.rpcType(md.Input())
		if err != nil {
			return nil, err
		}
		res, err := f.rpcType(md.Output())
		if err != nil {
			return nil, err
		}
		goName := claimIn(methodTaken, goCamelCase(string(md.Name())))
		methods = append(methods, method{
			md: md, goName: goName, constName: f.claim(base + "_" + goName + "_FullMethodName"),
			req: req, res: res, clientStream: md.IsStreamingClient(), serverStream: md.IsStreamingServer(),
		})
		m := &methods[len(methods)-1]
		if m.proto, err = f.newConv(base, *m); err != nil {
			return nil, err
		}
		if m.proto != nil {
			if err := f.claimConv(m.proto); err != nil {
				return nil, err
			}
		}
	}
	return methods, nil
}

// methodNames writes the constants of the methods' full names.
func (f *fileGen) methodNames(sv protoreflect.ServiceDescriptor, methods []method) {
	f.P("// Full method names of the service ", sv.FullName(), ", as they appear in")
	f.P("// the HTTP/2 :path of a call.")
	f.P("const (")
	for _, m := range methods {
		f.P("// ", m.constName, " is the full name of ", sv.FullName(), ".", m.md.Name(), ".")
		f.P(m.constName, " = ", fmt.Sprintf("%q", "/"+string(sv.FullName())+"/"+string(m.md.Name())))
	}
	f.P(")")
	f.P()
}

// methodImport records that the file imports path, for the methods of
// a service, and returns its name; a service without methods uses none,
// and an unused import would not compile.
func (f *fileGen) methodImport(path string, methods []method) string {
	if len(methods) == 0 {
		return ""
	}
	return f.use(path)
}

// serverSide writes the server interface, its Unimplemented
// implementation and its registration.
func (f *fileGen) serverSide(sv protoreflect.ServiceDescriptor, names svcNames, methods []method) {
	ctx := f.methodImport("context", methods)
	rt := f.use("github.com/parleyrpc/parley/runtime")
	serverName := names.server
	f.api(sv, serverName, "server", "handles", methods, func(m method) string { return serverSig(ctx, rt, m) },
		"Implement it (embedding "+names.unimplemented+" for forward",
		"compatibility) and pass the implementation to "+names.register+".",
		"Streaming methods get the call itself: its inbound mailbox (In, Recv)",
		"yields requests then the client's half-close as io.EOF, its outbound",
		"mailbox (Out, Send) carries responses; returning ends the call with",
		"the returned error's status (nil is OK).")

	unimpl := names.unimplemented
	f.P("// ", unimpl, " implements ", serverName, " with methods that fail with")
	f.P("// UNIMPLEMENTED. Embed it in implementations so that adding a method to the")
	f.P("// service does not break them.")
	f.P("type ", unimpl, " struct{}")
	f.P()
	w := f.methodImport("github.com/parleyrpc/parley/wire", methods)
	for _, m := range methods {
		f.P("// ", m.goName, " returns an UNIMPLEMENTED error.")
		f.P("func (", unimpl, ") ", m.goName, serverSig(ctx, rt, m), " {")
		errExpr := fmt.Sprintf("%s.Errorf(%s.Unimplemented, \"method %s not implemented\")", w, w, m.md.Name())
		if m.serverStream {
			f.P("return ", errExpr)
		} else {
			f.P("return nil, ", errExpr)
		}
		f.P("}")
		f.P()
	}

	f.P("// ", names.register, " registers impl's methods with s under their full")
	f.P("// method names. Call it before s starts serving.")
	f.P("func ", names.register, "(s *", rt, ".Server, impl ", serverName, ") {")
	for _, m := range methods {
		if m.proto != nil {
			f.protocolRegister(rt, m)
			continue
		}
		f.P(rt, ".", m.kind().handle, "[", m.req, ", ", m.res, "](s, ", m.constName, ", impl.", m.goName, ")")
	}
	f.P("}")
	f.P()
}

// clientSide writes the client interface and its implementation.
func (f *fileGen) clientSide(sv protoreflect.ServiceDescriptor, names svcNames, methods []method) {
	ctx := f.methodImport("context", methods)
	rt := f.use("github.com/parleyrpc/parley/runtime")
	clientName := names.client
	impl := names.clientImpl
	f.api(sv, clientName, "client", "starts", methods, func(m method) string { return clientSig(ctx, rt, m) },
		"Streaming methods return the call itself: send requests to its outbound",
		"mailbox (Send or Out, then CloseSend to half-close) and receive",
		"responses from its inbound mailbox (Recv or In), which ends with the",
		"call's status and trailers as its terminal event (Recv returns io.EOF",
		"for OK, the *wire.Error otherwise). Methods are safe for concurrent use.")
	f.P("type ", impl, " struct {")
	f.P("c *", rt, ".Client")
	f.P("}")
	f.P()
	f.P("// ", names.newClient, " returns a ", clientName, " that makes its calls on c.")
	f.P("func ", names.newClient, "(c *", rt, ".Client) ", clientName, " {")
	f.P("return &", impl, "{c: c}")
	f.P("}")
	f.P()
	for _, m := range methods {
		f.P("func (c *", impl, ") ", m.goName, clientSig(ctx, rt, m), " {")
		if m.proto != nil {
			f.protocolOpen(m)
			f.P("}")
			f.P()
			continue
		}
		reqArg := ", req"
		if m.clientStream {
			reqArg = ""
		}
		f.P("return ", rt, ".", m.kind().open, "[", m.req, ", ", m.res, "](ctx, c.c, ", m.constName, reqArg, ", opts...)")
		f.P("}")
		f.P()
	}
}

// callKind is what differs between the four kinds of call.
type callKind struct {
	name   string // for doc comments
	handle string // the runtime function registering a handler
	open   string // the runtime function starting a client call
}

func (m method) kind() callKind {
	switch {
	case m.clientStream && m.serverStream:
		return callKind{"bidirectional-streaming", "HandleBidi", "Open"}
	case m.clientStream:
		return callKind{"client-streaming", "HandleClientStream", "OpenClientStream"}
	case m.serverStream:
		return callKind{"server-streaming", "HandleServerStream", "OpenServerStream"}
	}
	return callKind{"unary", "HandleUnary", "CallUnary"}
}

// api writes the interface name, the side ("server" or "client") API of
// sv: its doc comment ending with the lines doc, then one method per RPC
// with the signature sig(m), documented as "M <verb> the ... call".
func (f *fileGen) api(sv protoreflect.ServiceDescriptor, name, side, verb string, methods []method, sig func(method) string, doc ...string) {
	f.P("// ", name, " is the ", side, " API for the service ", sv.FullName(), ".")
	f.svcComment(sv)
	for _, line := range doc {
		f.P("// ", line)
	}
	f.P("type ", name, " interface {")
	for _, m := range methods {
		f.doc(m.md, fmt.Sprintf("%s %s the %s call %s.", m.goName, verb, m.kind().name, m.md.FullName()))
		f.P(m.goName, sig(m))
	}
	f.P("}")
	f.P()
}

// serverSig returns the parameters and results of a server method.
func serverSig(ctx, rt string, m method) string {
	call := "*" + rt + ".ServerCall[" + m.req + ", " + m.res + "]"
	switch {
	case m.proto != nil && m.clientStream && m.serverStream:
		return "(conv *" + m.proto.prefix + "ServerConv) error"
	case m.proto != nil && m.clientStream:
		return "(conv *" + m.proto.prefix + "ServerConv) (*" + m.res + ", error)"
	case m.proto != nil && m.serverStream:
		return "(req *" + m.req + ", conv *" + m.proto.prefix + "ServerConv) error"
	case m.clientStream && m.serverStream:
		return "(call " + call + ") error"
	case m.clientStream:
		return "(call " + call + ") (*" + m.res + ", error)"
	case m.serverStream:
		return "(req *" + m.req + ", call " + call + ") error"
	}
	return "(ctx " + ctx + ".Context, req *" + m.req + ") (*" + m.res + ", error)"
}

// clientSig returns the parameters and results of a client method.
func clientSig(ctx, rt string, m method) string {
	call := "*" + rt + ".ClientCall[" + m.req + ", " + m.res + "]"
	switch {
	case m.proto != nil && m.clientStream:
		return "(ctx " + ctx + ".Context, opts ..." + rt + ".CallOption) (*" + m.proto.prefix + "ClientConv, error)"
	case m.proto != nil && m.serverStream:
		return "(ctx " + ctx + ".Context, req *" + m.req + ", opts ..." + rt + ".CallOption) (*" + m.proto.prefix + "ClientConv, error)"
	case !m.clientStream && !m.serverStream:
		return "(ctx " + ctx + ".Context, req *" + m.req + ", opts ..." + rt + ".CallOption) (*" + m.res + ", error)"
	case !m.clientStream:
		return "(ctx " + ctx + ".Context, req *" + m.req + ", opts ..." + rt + ".CallOption) (" + call + ", error)"
	}
	return "(ctx " + ctx + ".Context, opts ..." + rt + ".CallOption) (" + call + ", error)"
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	b := []byte(s)
	if 'A' <= b[0] && b[0] <= 'Z' {
		b[0] += 'a' - 'A'
	}
	return string(b)
}

// svcComment writes the service's proto comment as a middle paragraph of
// a doc comment, followed by an empty comment line.
func (f *fileGen) svcComment(sv protoreflect.ServiceDescriptor) {
	f.P("//")
	if c := f.comments(sv); c != "" {
		f.buf.WriteString(c)
		f.P("//")
	}
}
