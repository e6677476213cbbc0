package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/parleyrpc/parley/reflection"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// reflectTimeout bounds a reflection lookup when -timeout does not.
const reflectTimeout = 10 * time.Second

// reflectionClient dials addr with f's transport flags and the protobuf
// codec reflection speaks.
func reflectionClient(addr string, f callFlags) (*reflection.Client, func(), error) {
	opts, err := dialOptions(addr, f)
	if err != nil {
		return nil, nil, err
	}
	c, err := runtime.Dial(addr, append(opts, runtime.WithCodec(wire.Proto))...)
	if err != nil {
		return nil, nil, fmt.Errorf("parley call: %w", err)
	}
	return reflection.NewClient(c), func() { c.Close() }, nil
}

func reflectContext(f callFlags) (context.Context, context.CancelFunc) {
	d := f.timeout
	if d <= 0 {
		d = reflectTimeout
	}
	return context.WithTimeout(context.Background(), d)
}

// runReflect runs "parley call ADDR list [SERVICE]" and "parley call ADDR
// describe SYMBOL" through the server's reflection service.
func runReflect(f callFlags, pos []string, stdout, stderr io.Writer) error {
	addr, verb := pos[0], pos[1]
	if verb == "describe" && len(pos) != 3 {
		return fmt.Errorf("parley call: describe needs a symbol: parley call ADDR describe pkg.Service")
	}
	rc, closeClient, err := reflectionClient(addr, f)
	if err != nil {
		return err
	}
	defer closeClient()
	ctx, cancel := reflectContext(f)
	defer cancel()
	if verb == "list" && len(pos) == 2 {
		names, err := rc.ListServices(ctx)
		if err != nil {
			return reflectFailed(stderr, err)
		}
		for _, n := range names {
			fmt.Fprintln(stdout, n)
		}
		return nil
	}
	symbol := strings.TrimPrefix(pos[2], ".")
	files, err := rc.Resolve(ctx, symbol)
	if err != nil {
		return reflectFailed(stderr, err)
	}
	d, err := files.FindDescriptorByName(protoreflect.FullName(symbol))
	if err != nil {
		return reflectFailed(stderr, wire.Errorf(wire.NotFound, "the server's descriptors do not declare %s", symbol))
	}
	if verb == "list" {
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			return fmt.Errorf("parley call: %s is not a service", symbol)
		}
		methods := sd.Methods()
		for i := 0; i < methods.Len(); i++ {
			fmt.Fprintf(stdout, "/%s/%s\n", sd.FullName(), methods.Get(i).Name())
		}
		return nil
	}
	fmt.Fprint(stdout, describe(d))
	return nil
}

func reflectFailed(stderr io.Writer, err error) error {
	if wire.CodeOf(err) == wire.Unimplemented {
		fmt.Fprintf(stderr, "ERROR: the server does not support the reflection API: %v\n", err)
		return exitError(1)
	}
	return callFailed(stderr, err)
}

// methodByReflection asks the server's reflection service for the schema of
// /svc/name. It returns nil when the server has no reflection or does not
// describe the method, and the call then goes untyped, as without -proto;
// with -v it says so on stderr.
func methodByReflection(addr string, f callFlags, svc, name string, stderr io.Writer) protoreflect.MethodDescriptor {
	rc, closeClient, err := reflectionClient(addr, f)
	if err != nil {
		return nil
	}
	defer closeClient()
	ctx, cancel := reflectContext(f)
	defer cancel()
	files, err := rc.Resolve(ctx, svc)
	var md protoreflect.MethodDescriptor
	if err == nil {
		if d, ferr := files.FindDescriptorByName(protoreflect.FullName(svc + "." + name)); ferr == nil {
			md, _ = d.(protoreflect.MethodDescriptor)
		}
	}
	if f.verbose {
		switch {
		case md != nil:
			fmt.Fprintf(stderr, "Schema: /%s/%s from the server's reflection service\n", svc, name)
		case err != nil:
			fmt.Fprintf(stderr, "Schema: none (reflection: %v); JSON is sent untyped\n", err)
		default:
			fmt.Fprintf(stderr, "Schema: none (reflection does not describe /%s/%s); JSON is sent untyped\n", svc, name)
		}
	}
	return md
}

// describe renders d in .proto syntax, after a line saying what it is,
// as grpcurl does. Type names are fully qualified with a leading dot.
// Options are not shown.
func describe(d protoreflect.Descriptor) string {
	var b strings.Builder
	switch d := d.(type) {
	case protoreflect.ServiceDescriptor:
		fmt.Fprintf(&b, "%s is a service:\n", d.FullName())
		fmt.Fprintf(&b, "service %s {\n", d.Name())
		methods := d.Methods()
		for i := 0; i < methods.Len(); i++ {
			b.WriteString("  " + methodLine(methods.Get(i)) + "\n")
		}
		b.WriteString("}\n")
	case protoreflect.MethodDescriptor:
		fmt.Fprintf(&b, "%s is a method:\n%s\n", d.FullName(), methodLine(d))
	case protoreflect.MessageDescriptor:
		fmt.Fprintf(&b, "%s is a message:\n", d.FullName())
		describeMessage(&b, d, "")
	case protoreflect.EnumDescriptor:
		fmt.Fprintf(&b, "%s is an enum:\n", d.FullName())
		describeEnum(&b, d, "")
	case protoreflect.FieldDescriptor:
		fmt.Fprintf(&b, "%s is a field:\n%s\n", d.FullName(), fieldLine(d))
	case protoreflect.EnumValueDescriptor:
		fmt.Fprintf(&b, "%s is an enum value:\n%s = %d;\n", d.FullName(), d.Name(), d.Number())
	case protoreflect.OneofDescriptor:
		fmt.Fprintf(&b, "%s is a oneof:\n", d.FullName())
		describeOneof(&b, d, "")
	default:
		fmt.Fprintf(&b, "%s\n", d.FullName())
	}
	return b.String()
}

func methodLine(m protoreflect.MethodDescriptor) string {
	in, out := "", ""
	if m.IsStreamingClient() {
		in = "stream "
	}
	if m.IsStreamingServer() {
		out = "stream "
	}
	return fmt.Sprintf("rpc %s ( %s.%s ) returns ( %s.%s );", m.Name(), in, m.Input().FullName(), out, m.Output().FullName())
}

func fieldType(f protoreflect.FieldDescriptor) string {
	switch f.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return "." + string(f.Message().FullName())
	case protoreflect.EnumKind:
		return "." + string(f.Enum().FullName())
	}
	return f.Kind().String()
}

func fieldLine(f protoreflect.FieldDescriptor) string {
	switch {
	case f.IsMap():
		return fmt.Sprintf("map<%s, %s> %s = %d;", fieldType(f.MapKey()), fieldType(f.MapValue()), f.Name(), f.Number())
	case f.IsList():
		return fmt.Sprintf("repeated %s %s = %d;", fieldType(f), f.Name(), f.Number())
	case f.HasOptionalKeyword():
		return fmt.Sprintf("optional %s %s = %d;", fieldType(f), f.Name(), f.Number())
	}
	return fmt.Sprintf("%s %s = %d;", fieldType(f), f.Name(), f.Number())
}

func describeMessage(b *strings.Builder, m protoreflect.MessageDescriptor, indent string) {
	fmt.Fprintf(b, "%smessage %s {\n", indent, m.Name())
	inner := indent + "  "
	fields := m.Fields()
	written := map[protoreflect.FullName]bool{}
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
			if !written[o.FullName()] {
				written[o.FullName()] = true
				describeOneof(b, o, inner)
			}
			continue
		}
		b.WriteString(inner + fieldLine(f) + "\n")
	}
	enums := m.Enums()
	for i := 0; i < enums.Len(); i++ {
		describeEnum(b, enums.Get(i), inner)
	}
	msgs := m.Messages()
	for i := 0; i < msgs.Len(); i++ {
		if !msgs.Get(i).IsMapEntry() {
			describeMessage(b, msgs.Get(i), inner)
		}
	}
	b.WriteString(indent + "}\n")
}

func describeOneof(b *strings.Builder, o protoreflect.OneofDescriptor, indent string) {
	fmt.Fprintf(b, "%soneof %s {\n", indent, o.Name())
	fields := o.Fields()
	for i := 0; i < fields.Len(); i++ {
		b.WriteString(indent + "  " + fieldLine(fields.Get(i)) + "\n")
	}
	b.WriteString(indent + "}\n")
}

func describeEnum(b *strings.Builder, e protoreflect.EnumDescriptor, indent string) {
	fmt.Fprintf(b, "%senum %s {\n", indent, e.Name())
	values := e.Values()
	for i := 0; i < values.Len(); i++ {
		v := values.Get(i)
		fmt.Fprintf(b, "%s  %s = %d;\n", indent, v.Name(), v.Number())
	}
	b.WriteString(indent + "}\n")
}
