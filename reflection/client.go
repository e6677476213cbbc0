package reflection

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// Client asks a server's reflection service for its services and the
// file descriptors that define them. It speaks grpc.reflection.v1 and, to
// servers that answer it with UNIMPLEMENTED, v1alpha. It is safe for
// concurrent use; each method makes its own call.
type Client struct {
	c *runtime.Client
}

// NewClient returns a reflection client that calls through c, which must
// speak protobuf: dial it with runtime.WithCodec(wire.Proto).
func NewClient(c *runtime.Client) *Client { return &Client{c: c} }

// maxFiles bounds how many files Resolve fetches for one symbol, so that
// a server cannot keep a client asking forever.
const maxFiles = 10000

// session is one reflection call.
type session struct {
	call *runtime.ClientCall[Request, Response]
}

// open starts a reflection call, v1 first, v1alpha if the server does not
// know v1. Whether it does shows only in the answer to the first request,
// so open sends req and returns its answer too.
func (rc *Client) open(ctx context.Context, req *Request) (*session, *Response, error) {
	var firstErr error
	for _, method := range []string{MethodV1, MethodV1Alpha} {
		call, err := runtime.Open[Request, Response](ctx, rc.c, method)
		if err != nil {
			return nil, nil, err
		}
		s := &session{call: call}
		res, err := s.ask(req)
		if err == nil {
			return s, res, nil
		}
		call.Cancel()
		if wire.CodeOf(err) != wire.Unimplemented {
			return nil, nil, err
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, nil, firstErr
}

func (s *session) ask(req *Request) (*Response, error) {
	if err := s.call.Send(req); err != nil {
		// The call ended; Recv has its status.
		if _, rerr := s.call.Recv(); rerr != nil && rerr != io.EOF {
			return nil, rerr
		}
		return nil, err
	}
	res, err := s.call.Recv()
	if err == io.EOF {
		return nil, errors.New("reflection: the server ended the stream without an answer")
	}
	if err != nil {
		return nil, err
	}
	if res.Kind == ErrorResponse {
		return nil, wire.NewError(res.ErrorCode, res.ErrorMessage)
	}
	return res, nil
}

// close half-closes the call and waits for its end.
func (s *session) close() {
	s.call.CloseSend()
	for {
		if _, err := s.call.Recv(); err != nil {
			return
		}
	}
}

// ListServices returns the names of the services the server lists,
// sorted.
func (rc *Client) ListServices(ctx context.Context) ([]string, error) {
	s, res, err := rc.open(ctx, &Request{Kind: ListServices, Name: "*"})
	if err != nil {
		return nil, err
	}
	s.close()
	if res.Kind != ListServiceResponse {
		return nil, fmt.Errorf("reflection: list_services answered with response kind %d", res.Kind)
	}
	names := slices.Clone(res.Services)
	slices.Sort(names)
	return names, nil
}

// Resolve fetches the file that declares symbol (a service, method,
// message, enum or other fully qualified name) and every file it imports,
// asking for each file the server did not send, and links them. An import
// the server does not have is taken from protobuf-go's registry when it is
// there (the well-known types), and left unresolved otherwise. An unknown
// symbol fails with NOT_FOUND.
func (rc *Client) Resolve(ctx context.Context, symbol string) (*protoregistry.Files, error) {
	s, res, err := rc.open(ctx, &Request{Kind: FileContainingSymbol, Name: symbol})
	if err != nil {
		return nil, err
	}
	defer s.close()
	got := map[string]*descriptorpb.FileDescriptorProto{}
	var order []string
	add := func(res *Response) error {
		if res.Kind != FileDescriptorResponse {
			return fmt.Errorf("reflection: expected file descriptors, got response kind %d", res.Kind)
		}
		for _, raw := range res.FileDescriptorProtos {
			fd := new(descriptorpb.FileDescriptorProto)
			if err := proto.Unmarshal(raw, fd); err != nil {
				return fmt.Errorf("reflection: a file descriptor from the server does not parse: %w", err)
			}
			if _, ok := got[fd.GetName()]; !ok {
				got[fd.GetName()] = fd
				order = append(order, fd.GetName())
			}
		}
		return nil
	}
	if err := add(res); err != nil {
		return nil, err
	}
	missing := map[string]bool{}
	for i := 0; i < len(order); i++ {
		if len(order) > maxFiles {
			return nil, fmt.Errorf("reflection: more than %d files for %s", maxFiles, symbol)
		}
		for _, dep := range got[order[i]].GetDependency() {
			if _, ok := got[dep]; ok || missing[dep] {
				continue
			}
			res, err := s.ask(&Request{Kind: FileByFilename, Name: dep})
			if wire.CodeOf(err) == wire.NotFound {
				missing[dep] = true
				continue
			}
			if err != nil {
				return nil, err
			}
			if err := add(res); err != nil {
				return nil, err
			}
		}
	}
	return link(got, order)
}

// link builds a registry of the files in got, each after its imports.
func link(got map[string]*descriptorpb.FileDescriptorProto, order []string) (*protoregistry.Files, error) {
	files := new(protoregistry.Files)
	done := map[string]bool{}
	var visit func(name string) error
	visit = func(name string) error {
		if done[name] {
			return nil
		}
		done[name] = true
		fdp, ok := got[name]
		if !ok {
			if fd, err := protoregistry.GlobalFiles.FindFileByPath(name); err == nil {
				return files.RegisterFile(fd)
			}
			return nil // unresolvable: its types stay placeholders
		}
		for _, dep := range fdp.GetDependency() {
			if err := visit(dep); err != nil {
				return err
			}
		}
		fd, err := protodesc.FileOptions{AllowUnresolvable: true}.New(fdp, files)
		if err != nil {
			return fmt.Errorf("reflection: %s: %w", name, err)
		}
		return files.RegisterFile(fd)
	}
	for _, name := range order {
		if err := visit(name); err != nil {
			return nil, err
		}
	}
	return files, nil
}
