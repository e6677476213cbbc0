package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/stubs"
	"github.com/parleyrpc/parley/wire"
)

const callUsage = `Usage: parley call [flags] ADDR /pkg.Service/Method [JSON | @FILE | @-]
       parley call [flags] ADDR list [pkg.Service]
       parley call [flags] ADDR describe SYMBOL

Calls a method on the server at ADDR (host:port). Request messages are JSON
objects: the JSON argument, or a stream of them (one per line or just
concatenated) from FILE or from standard input with @-. Without a JSON
argument, client- and bidi-streaming methods (known from the schema) read
standard input and other calls send one empty message {}. Responses are
printed to standard output as JSON, one message per line.

list and describe ask the server's reflection service (grpc.reflection.v1,
or v1alpha): list prints its services, or a service's methods; describe
prints a service, method, message, enum or field in .proto syntax.

With -proto, or without it from the server's reflection service when it
has one, the schema types the conversion: unknown fields are errors,
bytes are base64, enums are names (or numbers), 64-bit integers may be
numbers or strings, Timestamps are RFC 3339 strings and Durations strings
like "1.5s". With no schema (no -proto and no reflection), JSON objects are
sent as msgpack maps as they are and responses are printed as they decode.

A call that ends with a status other than OK prints "ERROR: CODE: message"
to standard error and exits with status 1.

Flags:
`

// callFlags are the options of parley call.
type callFlags struct {
	protos, importPaths, headers stringList
	useTLS, insecure, verbose    bool
	cacert                       string
	timeout                      time.Duration
}

// runCall is `parley call`: it parses the command line, reads the schema
// if one is given, sets up the request source and the connection, and
// runs the call.
func runCall(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	f, pos, err := parseCallArgs(args, stderr)
	if err != nil {
		return err
	}
	if pos[1] == "list" || pos[1] == "describe" {
		return runReflect(f, pos, stdout, stderr)
	}
	addr, method := pos[0], pos[1]
	if !strings.HasPrefix(method, "/") {
		method = "/" + method
	}
	svc, name, ok := strings.Cut(method[1:], "/")
	if !ok || svc == "" || name == "" || strings.Contains(name, "/") {
		return fmt.Errorf("parley call: method %q is not of the form /pkg.Service/Method", pos[1])
	}

	// The schema, when given, types both directions.
	var md protoreflect.MethodDescriptor
	if len(f.protos) > 0 {
		files, err := stubs.Parse(f.protos, stubs.Options{ImportPaths: f.importPaths})
		if err != nil {
			return err
		}
		if md, err = findMethod(files, svc, name); err != nil {
			return err
		}
	} else {
		md = methodByReflection(addr, f, svc, name, stderr)
	}
	req, err := newRequests(pos[2:], stdin, md)
	if err != nil {
		return err
	}
	defer req.close()

	client, ctx, cancel, err := dialCall(addr, f)
	if err != nil {
		return err
	}
	defer client.Close()
	defer cancel()
	return streamCall(ctx, client, method, req, md, f.verbose, stdout, stderr)
}

// parseCallArgs parses `parley call`'s flags and checks that two or three
// positional arguments remain: ADDR, METHOD and the optional request.
func parseCallArgs(args []string, stderr io.Writer) (callFlags, []string, error) {
	var f callFlags
	fs := flag.NewFlagSet("parley call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&f.protos, "proto", "schema `FILE.proto` defining the method (repeatable)")
	fs.Var(&f.importPaths, "I", "import path `DIR` for -proto files (repeatable)")
	fs.Var(&f.headers, "H", "request metadata `'key: value'` (repeatable)")
	fs.BoolVar(&f.useTLS, "tls", false, "connect with TLS (HTTP/2 over TLS with ALPN h2) instead of h2c")
	fs.BoolVar(&f.insecure, "insecure", false, "with TLS, do not verify the server's certificate (implies -tls)")
	fs.StringVar(&f.cacert, "cacert", "", "verify the server with the CA certificates in `FILE` (PEM; implies -tls)")
	fs.DurationVar(&f.timeout, "timeout", 0, "call deadline, sent as grpc-timeout (0: none)")
	fs.BoolVar(&f.verbose, "v", false, "print response headers and trailers to standard error")
	pos, err := parseInterleaved(fs, args, callUsage)
	if err != nil {
		return f, nil, err
	}
	if len(pos) < 2 || len(pos) > 3 {
		fs.Usage()
		return f, nil, errUsage
	}
	return f, pos, nil
}

// requests is the source of a call's request messages, as msgpack: the
// JSON argument, a file, or standard input.
type requests struct {
	dec   *json.Decoder
	toMsg func(json.RawMessage) ([]byte, error)
	// first is the one request given as an argument, checked before
	// anything is sent; nil when the requests are read as they go.
	first []byte
	close func()
}

// newRequests opens the request source that arg (the optional third
// positional argument) names, typed by md when the schema was given.
func newRequests(arg []string, stdin io.Reader, md protoreflect.MethodDescriptor) (*requests, error) {
	r := &requests{close: func() {}, toMsg: rawJSONToMsgpack}
	if md != nil {
		in := md.Input()
		r.toMsg = func(j json.RawMessage) ([]byte, error) { return jsonToMsgpack(in, j) }
	}
	var input io.Reader
	switch {
	case len(arg) == 1 && arg[0] == "@-":
		input = stdin
	case len(arg) == 1 && strings.HasPrefix(arg[0], "@"):
		file, err := os.Open(arg[0][1:])
		if err != nil {
			return nil, fmt.Errorf("parley call: %w", err)
		}
		r.close = func() { file.Close() }
		input = file
	case len(arg) == 1:
		input = strings.NewReader(arg[0])
	case md != nil && md.IsStreamingClient():
		input = stdin
	default:
		input = strings.NewReader("{}")
	}
	r.dec = json.NewDecoder(bufio.NewReader(input))
	if len(arg) == 1 && !strings.HasPrefix(arg[0], "@") {
		first, err := r.next()
		if err != nil {
			return nil, fmt.Errorf("parley call: request: %w", err)
		}
		var extra json.RawMessage
		if err := r.dec.Decode(&extra); err != io.EOF {
			return nil, errors.New("parley call: request: the JSON argument holds more than one value; use @- or @FILE for a stream")
		}
		r.first = first
	}
	return r, nil
}

// next reads the next request: io.EOF at the end of the input.
func (r *requests) next() ([]byte, error) {
	var j json.RawMessage
	if err := r.dec.Decode(&j); err != nil {
		return nil, err
	}
	return r.toMsg(j)
}

// dialCall makes the client and the call's context, with its deadline and
// the -H metadata.
func dialCall(addr string, f callFlags) (*runtime.Client, context.Context, context.CancelFunc, error) {
	opts, err := dialOptions(addr, f)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	if f.timeout > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), f.timeout)
	}
	for _, h := range f.headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(k) == "" {
			cancel()
			return nil, nil, nil, fmt.Errorf("parley call: -H %q is not 'key: value'", h)
		}
		ctx = runtime.AppendOutgoing(ctx, strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v))
	}
	client, err := runtime.Dial(addr, opts...)
	if err != nil {
		cancel()
		return nil, nil, nil, fmt.Errorf("parley call: %w", err)
	}
	return client, ctx, cancel, nil
}

// streamCall runs the call. Every call kind is the same on the wire: send
// the requests, half-close, read the responses until the terminal event;
// the responses are printed as JSON, one per line.
func streamCall(ctx context.Context, client *runtime.Client, method string, req *requests, md protoreflect.MethodDescriptor, verbose bool, stdout, stderr io.Writer) error {
	toJSON := rawMsgpackToJSON
	if md != nil {
		out := md.Output()
		toJSON = func(b []byte) ([]byte, error) { return msgpackToJSON(out, b) }
	}
	call, err := runtime.Open[msgpack.RawMessage, msgpack.RawMessage](ctx, client, method)
	if err != nil {
		return callFailed(stderr, err)
	}
	inputErr := make(chan error, 1)
	go func() {
		bad, err := sendRequests(call, req)
		// The error goes first: Recv sees the cancel only after it.
		inputErr <- err
		if bad {
			call.Cancel()
		}
	}()

	if verbose {
		if hdr, err := call.Header(); err == nil {
			printMetadata(stderr, "Response headers", hdr)
		}
	}
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	for {
		res, err := call.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			w.Flush()
			select {
			case ierr := <-inputErr:
				if ierr != nil && wire.CodeOf(err) == wire.Canceled {
					return ierr
				}
			default:
			}
			if verbose {
				printMetadata(stderr, "Response trailers", trailerOf(call))
			}
			return callFailed(stderr, err)
		}
		j, err := toJSON(*res)
		if err != nil {
			call.Cancel()
			return fmt.Errorf("parley call: response: %w", err)
		}
		w.Write(j)
		w.WriteByte('\n')
	}
	if verbose {
		printMetadata(stderr, "Response trailers", trailerOf(call))
	}
	return nil
}

// sendRequests sends the requests and half-closes; it owns the outbound
// side of the call. A request that cannot be read ends it with bad set:
// the caller cancels the call.
func sendRequests(call *runtime.ClientCall[msgpack.RawMessage, msgpack.RawMessage], req *requests) (bad bool, err error) {
	send := func(b []byte) bool {
		raw := msgpack.RawMessage(b)
		return call.Send(&raw) == nil
	}
	if req.first != nil {
		send(req.first)
		return false, call.CloseSend()
	}
	for n := 1; ; n++ {
		b, err := req.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return true, fmt.Errorf("parley call: request %d: %w", n, err)
		}
		if !send(b) {
			break // the call ended; its status tells why
		}
	}
	return false, call.CloseSend()
}

func trailerOf(call *runtime.ClientCall[msgpack.RawMessage, msgpack.RawMessage]) wire.Metadata {
	if end, ok := call.In().End(); ok && end.Trailer != nil {
		return end.Trailer
	}
	<-call.Done()
	return call.Trailer()
}

// callFailed prints a call's failure status as "ERROR: CODE: message".
func callFailed(stderr io.Writer, err error) error {
	if e := wire.AsError(err); e != nil {
		fmt.Fprintf(stderr, "ERROR: %s: %s\n", e.Code(), e.Message())
	} else {
		fmt.Fprintf(stderr, "ERROR: %s: %v\n", wire.CodeOf(err), err)
	}
	return exitError(1)
}

func printMetadata(w io.Writer, title string, md wire.Metadata) {
	fmt.Fprintf(w, "%s:\n", title)
	for _, k := range slices.Sorted(maps.Keys(md)) {
		for _, v := range md[k] {
			if wire.IsBinaryKey(k) {
				v = fmt.Sprintf("%q", v)
			}
			fmt.Fprintf(w, "  %s: %s\n", k, v)
		}
	}
}

// dialOptions returns the transport options the flags ask for.
func dialOptions(addr string, f callFlags) ([]runtime.DialOption, error) {
	if !f.useTLS && !f.insecure && f.cacert == "" {
		return nil, nil
	}
	cfg, err := tlsConfig(addr, f)
	if err != nil {
		return nil, err
	}
	return []runtime.DialOption{runtime.WithTLS(cfg)}, nil
}

func tlsConfig(addr string, f callFlags) (*tls.Config, error) {
	cfg := &tls.Config{InsecureSkipVerify: f.insecure} //nolint:gosec // -insecure asks for it
	if host, _, err := net.SplitHostPort(addr); err == nil {
		cfg.ServerName = host
	}
	if f.cacert != "" {
		pem, err := os.ReadFile(f.cacert)
		if err != nil {
			return nil, fmt.Errorf("parley call: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("parley call: no PEM certificates in %s", f.cacert)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// findMethod looks up /svc/name in the given files and the files they
// import.
func findMethod(files []protoreflect.FileDescriptor, svc, name string) (protoreflect.MethodDescriptor, error) {
	var known []string
	seen := map[string]bool{}
	var search func(fd protoreflect.FileDescriptor) protoreflect.MethodDescriptor
	search = func(fd protoreflect.FileDescriptor) protoreflect.MethodDescriptor {
		if seen[fd.Path()] {
			return nil
		}
		seen[fd.Path()] = true
		services := fd.Services()
		for i := 0; i < services.Len(); i++ {
			s := services.Get(i)
			methods := s.Methods()
			for j := 0; j < methods.Len(); j++ {
				m := methods.Get(j)
				known = append(known, "/"+string(s.FullName())+"/"+string(m.Name()))
				if string(s.FullName()) == svc && string(m.Name()) == name {
					return m
				}
			}
		}
		imports := fd.Imports()
		for i := 0; i < imports.Len(); i++ {
			if m := search(imports.Get(i).FileDescriptor); m != nil {
				return m
			}
		}
		return nil
	}
	for _, fd := range files {
		if m := search(fd); m != nil {
			return m, nil
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "parley call: no method /%s/%s in the schema", svc, name)
	if len(known) > 0 {
		fmt.Fprintf(&b, "; it has:\n  %s", strings.Join(known, "\n  "))
	}
	return nil, errors.New(b.String())
}
