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
	return f.ident(m)
}

// method is what service generation needs to know about one RPC.
type method struct {
	md                    protoreflect.MethodDescriptor
	goName, constName     string
	req, res              string // type arguments
	clientStream, serverS bool
}

// service writes the method-name constants, the server interface, its
// Unimplemented implementation, the registration function and the typed
// client for sv.
func (f *fileGen) service(sv protoreflect.ServiceDescriptor) error {
	base := f.names.idents[sv.FullName()]
	ctx := f.use("context")
	rt := f.use("github.com/parleyrpc/parley/runtime")
	var methods []method
	ms := sv.Methods()
	for i := 0; i < ms.Len(); i++ {
		md := ms.Get(i)
		req, err := f.rpcType(md.Input())
		if err != nil {
			return err
		}
		res, err := f.rpcType(md.Output())
		if err != nil {
			return err
		}
		goName := goCamelCase(string(md.Name()))
		methods = append(methods, method{
			md: md, goName: goName, constName: base + "_" + goName + "_FullMethodName",
			req: req, res: res, clientStream: md.IsStreamingClient(), serverS: md.IsStreamingServer(),
		})
	}

	// Method names.
	f.P("// Full method names of the service ", sv.FullName(), ", as they appear in")
	f.P("// the HTTP/2 :path of a call.")
	f.P("const (")
	for _, m := range methods {
		f.P("// ", m.constName, " is the full name of ", sv.FullName(), ".", m.md.Name(), ".")
		f.P(m.constName, " = ", fmt.Sprintf("%q", "/"+string(sv.FullName())+"/"+string(m.md.Name())))
	}
	f.P(")")
	f.P()

	// Server interface.
	serverName := base + "Server"
	f.P("// ", serverName, " is the server API for the service ", sv.FullName(), ".")
	f.svcComment(sv)
	f.P("// Implement it (embedding Unimplemented", serverName, " for forward")
	f.P("// compatibility) and pass the implementation to Register", serverName, ".")
	f.P("// Streaming methods get the call itself: its inbound mailbox (In, Recv)")
	f.P("// yields requests then the client's half-close as io.EOF, its outbound")
	f.P("// mailbox (Out, Send) carries responses; returning ends the call with")
	f.P("// the returned error's status (nil is OK).")
	f.P("type ", serverName, " interface {")
	for _, m := range methods {
		f.doc(m.md, fmt.Sprintf("%s handles the %s call %s.", m.goName, kindName(m), m.md.FullName()))
		f.P(m.goName, serverSig(ctx, rt, m))
	}
	f.P("}")
	f.P()

	// Unimplemented server.
	unimpl := "Unimplemented" + serverName
	f.P("// ", unimpl, " implements ", serverName, " with methods that fail with")
	f.P("// UNIMPLEMENTED. Embed it in implementations so that adding a method to the")
	f.P("// service does not break them.")
	f.P("type ", unimpl, " struct{}")
	f.P()
	w := f.use("github.com/parleyrpc/parley/wire")
	for _, m := range methods {
		f.P("// ", m.goName, " returns an UNIMPLEMENTED error.")
		f.P("func (", unimpl, ") ", m.goName, serverSig(ctx, rt, m), " {")
		errExpr := fmt.Sprintf("%s.Errorf(%s.Unimplemented, \"method %s not implemented\")", w, w, m.md.Name())
		if m.serverS {
			f.P("return ", errExpr)
		} else {
			f.P("return nil, ", errExpr)
		}
		f.P("}")
		f.P()
	}

	// Registration.
	f.P("// Register", serverName, " registers impl's methods with s under their full")
	f.P("// method names. Call it before s starts serving.")
	f.P("func Register", serverName, "(s *", rt, ".Server, impl ", serverName, ") {")
	for _, m := range methods {
		fn := "HandleUnary"
		switch {
		case m.clientStream && m.serverS:
			fn = "HandleBidi"
		case m.clientStream:
			fn = "HandleClientStream"
		case m.serverS:
			fn = "HandleServerStream"
		}
		f.P(rt, ".", fn, "[", m.req, ", ", m.res, "](s, ", m.constName, ", impl.", m.goName, ")")
	}
	f.P("}")
	f.P()

	// Client.
	clientName := base + "Client"
	impl := lowerFirst(clientName)
	f.P("// ", clientName, " is the client API for the service ", sv.FullName(), ".")
	f.svcComment(sv)
	f.P("// Streaming methods return the call itself: send requests to its outbound")
	f.P("// mailbox (Send or Out, then CloseSend to half-close) and receive")
	f.P("// responses from its inbound mailbox (Recv or In), which ends with the")
	f.P("// call's status and trailers as its terminal event (Recv returns io.EOF")
	f.P("// for OK, the *wire.Error otherwise). Methods are safe for concurrent use.")
	f.P("type ", clientName, " interface {")
	for _, m := range methods {
		f.doc(m.md, fmt.Sprintf("%s starts the %s call %s.", m.goName, kindName(m), m.md.FullName()))
		f.P(m.goName, clientSig(ctx, rt, m))
	}
	f.P("}")
	f.P()
	f.P("type ", impl, " struct {")
	f.P("c *", rt, ".Client")
	f.P("}")
	f.P()
	f.P("// New", clientName, " returns a ", clientName, " that makes its calls on c.")
	f.P("func New", clientName, "(c *", rt, ".Client) ", clientName, " {")
	f.P("return &", impl, "{c: c}")
	f.P("}")
	f.P()
	for _, m := range methods {
		f.P("func (c *", impl, ") ", m.goName, clientSig(ctx, rt, m), " {")
		switch {
		case !m.clientStream && !m.serverS:
			f.P("return ", rt, ".CallUnary[", m.req, ", ", m.res, "](ctx, c.c, ", m.constName, ", req, opts...)")
		case !m.clientStream:
			f.P("return ", rt, ".OpenServerStream[", m.req, ", ", m.res, "](ctx, c.c, ", m.constName, ", req, opts...)")
		default:
			f.P("return ", rt, ".Open[", m.req, ", ", m.res, "](ctx, c.c, ", m.constName, ", opts...)")
		}
		f.P("}")
		f.P()
	}
	return nil
}

func kindName(m method) string {
	switch {
	case m.clientStream && m.serverS:
		return "bidirectional-streaming"
	case m.clientStream:
		return "client-streaming"
	case m.serverS:
		return "server-streaming"
	}
	return "unary"
}

// serverSig returns the parameters and results of a server method.
func serverSig(ctx, rt string, m method) string {
	call := "*" + rt + ".ServerCall[" + m.req + ", " + m.res + "]"
	switch {
	case m.clientStream && m.serverS:
		return "(call " + call + ") error"
	case m.clientStream:
		return "(call " + call + ") (*" + m.res + ", error)"
	case m.serverS:
		return "(req *" + m.req + ", call " + call + ") error"
	}
	return "(ctx " + ctx + ".Context, req *" + m.req + ") (*" + m.res + ", error)"
}

// clientSig returns the parameters and results of a client method.
func clientSig(ctx, rt string, m method) string {
	call := "*" + rt + ".ClientCall[" + m.req + ", " + m.res + "]"
	switch {
	case !m.clientStream && !m.serverS:
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
	if c := leadingComments(f.fd, f.fd.SourceLocations().ByDescriptor(sv)); c != "" {
		f.buf.WriteString(c)
		f.P("//")
	}
}
