package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/stubs"
	"github.com/parleyrpc/parley/wire"
)

const mirrorProto = "testdata/mirror.proto"

type number struct {
	Value int64 `msgpack:"value,omitempty"`
}

type total struct {
	Sum   int64 `msgpack:"sum,omitempty"`
	Count int32 `msgpack:"count,omitempty"`
}

type raw = msgpack.RawMessage

// startMirror serves test.Mirror on loopback: Echo and Chat send back
// what they get (as raw msgpack), Sum and Count work on numbers, Fail
// fails with NOT_FOUND and Slow waits for its deadline.
func startMirror(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := runtime.NewServer()
	runtime.HandleUnary(s, "/test.Mirror/Echo", func(ctx context.Context, req *raw) (*raw, error) {
		md := runtime.IncomingMetadata(ctx)
		if v := md.Get("x-echo"); v != "" {
			runtime.SetHeader(ctx, wire.Pairs("x-echo-header", v))
			runtime.SetTrailer(ctx, wire.Pairs("x-echo-trailer", v))
		}
		return req, nil
	})
	runtime.HandleClientStream(s, "/test.Mirror/Sum", func(call *runtime.ServerCall[number, total]) (*total, error) {
		var tot total
		for {
			n, err := call.Recv()
			if errors.Is(err, io.EOF) {
				return &tot, nil
			}
			if err != nil {
				return nil, err
			}
			tot.Sum += n.Value
			tot.Count++
		}
	})
	runtime.HandleServerStream(s, "/test.Mirror/Count", func(req *number, call *runtime.ServerCall[number, number]) error {
		for i := int64(1); i <= req.Value; i++ {
			if err := call.Send(&number{Value: i}); err != nil {
				return err
			}
		}
		return nil
	})
	runtime.HandleBidi(s, "/test.Mirror/Chat", func(call *runtime.ServerCall[raw, raw]) error {
		for {
			m, err := call.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := call.Send(m); err != nil {
				return err
			}
		}
	})
	runtime.HandleUnary(s, "/test.Mirror/Fail", func(ctx context.Context, req *raw) (*raw, error) {
		return nil, wire.Errorf(wire.NotFound, "no such thing")
	})
	runtime.HandleUnary(s, "/test.Mirror/Slow", func(ctx context.Context, req *raw) (*raw, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	done := make(chan struct{})
	go func() { s.Serve(l); close(done) }()
	t.Cleanup(func() {
		s.Close()
		<-done
	})
	return l.Addr().String()
}

// parley runs the command and returns its exit code, stdout and stderr.
func parley(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func TestCall(t *testing.T) {
	addr := startMirror(t)
	cases := []struct {
		name       string
		stdin      string
		args       []string
		code       int
		out, inErr string
	}{
		{name: "unary without schema", args: []string{"call", addr, "/test.Mirror/Echo", `{"s":"hi","n":[1,2.5,-3],"o":{"k":true}}`},
			out: `{"n":[1,2.5,-3],"o":{"k":true},"s":"hi"}` + "\n"},
		{name: "unary with schema", args: []string{"call", "-proto", mirrorProto, addr, "/test.Mirror/Echo",
			`{"i32":-5,"i64":"9007199254740993","u64":18446744073709551615,"d":1.5,"f":0.25,"b":true,"s":"x","raw":"AAH/",
			  "mood":"MOOD_HAPPY","list":[1,2],"counts":{"a":1},"names":{"7":"seven"},"child":{"s":"kid","mood":1},
			  "at":"2024-01-02T03:04:05.5Z","wait":"1m30s","text":"t","nothing":{},"maybe":0}`},
			out: `{"i32":-5,"i64":9007199254740993,"u64":18446744073709551615,"d":1.5,"f":0.25,"b":true,"s":"x","raw":"AAH/",` +
				`"mood":"MOOD_HAPPY","list":[1,2],"counts":{"a":1},"names":{"7":"seven"},"child":{"s":"kid","mood":"MOOD_HAPPY"},` +
				`"at":"2024-01-02T03:04:05.5Z","wait":"90s","text":"t","nothing":{},"maybe":0}` + "\n"},
		{name: "camelCase JSON names and null", args: []string{"call", "-proto", mirrorProto, addr, "/test.Mirror/Echo", `{"i32":1,"child":null,"num":2}`},
			out: `{"i32":1,"num":2}` + "\n"},
		{name: "flags after arguments", args: []string{"call", addr, "/test.Mirror/Echo", "-proto", mirrorProto, `{"mood":0}`},
			out: `{"mood":"MOOD_UNSPECIFIED"}` + "\n"},
		{name: "unknown field", args: []string{"call", "-proto", mirrorProto, addr, "/test.Mirror/Echo", `{"nope":1}`},
			code: 1, inErr: `unknown field "nope" in message test.Kitchen`},
		{name: "wrong type", args: []string{"call", "-proto", mirrorProto, addr, "/test.Mirror/Echo", `{"i32":"x"}`},
			code: 1, inErr: `test.Kitchen.i32: "x" is not an int32`},
		{name: "int32 overflow", args: []string{"call", "-proto", mirrorProto, addr, "/test.Mirror/Echo", `{"i32":3000000000}`},
			code: 1, inErr: `is not an int32`},
		{name: "bad enum", args: []string{"call", "-proto", mirrorProto, addr, "/test.Mirror/Echo", `{"mood":"SAD"}`},
			code: 1, inErr: `"SAD" is not a value of enum test.Mood`},
		{name: "bad base64", args: []string{"call", "-proto", mirrorProto, addr, "/test.Mirror/Echo", `{"raw":"!!"}`},
			code: 1, inErr: `not base64`},
		{name: "two oneof cases", args: []string{"call", "-proto", mirrorProto, addr, "/test.Mirror/Echo", `{"text":"a","num":1}`},
			code: 1, inErr: `both cases of oneof pick`},
		{name: "unknown method in schema", args: []string{"call", "-proto", mirrorProto, addr, "/test.Mirror/Nope", `{}`},
			code: 1, inErr: `no method /test.Mirror/Nope in the schema`},
		{name: "client stream from stdin", stdin: "{\"value\":1}\n{\"value\":2}\n{\"value\":3}\n",
			args: []string{"call", "-proto", mirrorProto, addr, "/test.Mirror/Sum"},
			out:  `{"sum":6,"count":3}` + "\n"},
		{name: "client stream with @-, no schema", stdin: `{"value":4} {"value":5}`,
			args: []string{"call", addr, "/test.Mirror/Sum", "@-"},
			out:  `{"count":2,"sum":9}` + "\n"},
		{name: "server stream", args: []string{"call", "-proto", mirrorProto, addr, "/test.Mirror/Count", `{"value":3}`},
			out: "{\"value\":1}\n{\"value\":2}\n{\"value\":3}\n"},
		{name: "bidi", stdin: "{\"s\":\"a\"}\n{\"s\":\"b\"}\n",
			args: []string{"call", "-proto", mirrorProto, addr, "/test.Mirror/Chat"},
			out:  "{\"s\":\"a\"}\n{\"s\":\"b\"}\n"},
		{name: "bad stream input", stdin: "{\"value\":1}\n{\"value\":\"x\"}\n",
			args: []string{"call", "-proto", mirrorProto, addr, "/test.Mirror/Sum"},
			code: 1, inErr: `request 2: test.Number.value: "x" is not an int64`},
		{name: "error status", args: []string{"call", addr, "/test.Mirror/Fail", `{}`},
			code: 1, inErr: "ERROR: NOT_FOUND: no such thing\n"},
		{name: "unimplemented", args: []string{"call", addr, "/test.Mirror/Missing"},
			code: 1, inErr: "ERROR: UNIMPLEMENTED: "},
		{name: "timeout", args: []string{"call", "-timeout", "100ms", addr, "/test.Mirror/Slow", `{}`},
			code: 1, inErr: "ERROR: DEADLINE_EXCEEDED: "},
		{name: "metadata and -v", args: []string{"call", "-v", "-H", "X-Echo: hello", addr, "/test.Mirror/Echo", `{}`},
			out: "{}\n", inErr: "x-echo-trailer: hello"},
		{name: "bad method", args: []string{"call", addr, "nomethod"}, code: 1, inErr: "not of the form"},
		{name: "usage", args: []string{"call", addr}, code: 2, inErr: "Usage: parley call"},
		{name: "two JSON values", args: []string{"call", addr, "/test.Mirror/Echo", `{} {}`}, code: 1, inErr: "more than one value"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := parley(t, c.stdin, c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, c.code, errOut)
			}
			if out != c.out {
				t.Errorf("stdout\n got %q\nwant %q", out, c.out)
			}
			if !strings.Contains(errOut, c.inErr) {
				t.Errorf("stderr %q does not contain %q", errOut, c.inErr)
			}
		})
	}
}

func TestCallVerboseHeaders(t *testing.T) {
	addr := startMirror(t)
	code, _, errOut := parley(t, "", "call", "-v", "-H", "x-echo: v1", addr, "/test.Mirror/Echo", `{}`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Response headers:", "x-echo-header: v1", "Response trailers:", "x-echo-trailer: v1"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}
}

func TestGen(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := parley(t, "", "gen", "-out", dir, "../../stubs/testdata/feature.proto", "../../stubs/testdata/common.proto")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, filepath.Join(dir, "feature.parley.go")) {
		t.Errorf("stdout %q does not list feature.parley.go", out)
	}
	want, err := stubs.Generate([]string{"../../stubs/testdata/feature.proto", "../../stubs/testdata/common.proto"}, stubs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range want {
		got, err := os.ReadFile(filepath.Join(dir, f.Name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, f.Content) {
			t.Errorf("%s differs from stubs.Generate", f.Name)
		}
	}

	bad := filepath.Join(dir, "bad.proto")
	os.WriteFile(bad, []byte("syntax = \"proto3\";\nmessage A {\n  Nope n = 1;\n}\n"), 0o644)
	code, _, errOut = parley(t, "", "gen", "-out", dir, bad)
	if code != 1 || !strings.Contains(errOut, "bad.proto:3:3: ") {
		t.Errorf("exit %d, stderr %q; want 1 and a positioned error", code, errOut)
	}
	// Two files of one base name in different directories, without -I:
	// refused, naming both, and nothing written.
	for _, d := range []string{"a", "b"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
		os.WriteFile(filepath.Join(dir, d, "x.proto"), []byte("syntax = \"proto3\";\npackage "+d+";\nmessage M {}\n"), 0o644)
	}
	outDir := filepath.Join(dir, "out")
	for _, lang := range []string{"go", "ts"} {
		code, _, errOut = parley(t, "", "gen", "-lang", lang, "-out", outDir, filepath.Join(dir, "a", "x.proto"), filepath.Join(dir, "b", "x.proto"))
		if code != 1 || !strings.Contains(errOut, filepath.Join(dir, "a", "x.proto")) || !strings.Contains(errOut, filepath.Join(dir, "b", "x.proto")) || !strings.Contains(errOut, "-I") {
			t.Errorf("-lang %s, same base name: exit %d, stderr %q; want 1 and an error naming both files", lang, code, errOut)
		}
		if _, err := os.Stat(outDir); err == nil {
			t.Errorf("-lang %s, same base name: %s was written", lang, outDir)
		}
	}
	if code, _, _ := parley(t, "", "gen"); code != 2 {
		t.Errorf("gen without files: exit %d, want 2", code)
	}
	if code, out, _ := parley(t, "", "version"); code != 0 || !strings.Contains(out, stubs.Version) {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

// parley protocol prints a method's protocol as a Mermaid diagram, and
// refuses an invalid protocol with its position.
func TestProtocolCommand(t *testing.T) {
	code, out, errOut := parley(t, "", "protocol", "../../stubs/testdata/feature.proto", "Feature/Negotiate")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"stateDiagram-v2", "%% parley.feature.Feature/Negotiate", "s1 --> s2: server counter", "s3 --> [*]"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Mirror") {
		t.Errorf("output has the other method's protocol:\n%s", out)
	}
	code, out, _ = parley(t, "", "protocol", "../../stubs/testdata/feature.proto")
	if code != 0 || !strings.Contains(out, "Feature/Mirror") || !strings.Contains(out, "Feature/Negotiate") {
		t.Errorf("all protocols: exit %d\n%s", code, out)
	}
	if code, _, _ := parley(t, "", "protocol", "../../stubs/testdata/feature.proto", "Feature/Echo"); code != 1 {
		t.Errorf("a method without a protocol: exit %d, want 1", code)
	}

	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.proto")
	os.WriteFile(bad, []byte("syntax = \"proto3\";\nmessage A {}\nservice S {\n  // @protocol { client B }\n  rpc M(stream A) returns (stream A);\n}\n"), 0o644)
	for _, cmd := range []string{"protocol", "gen"} {
		code, _, errOut = parley(t, "", cmd, "-out", dir, bad)
		if cmd == "protocol" {
			code, _, errOut = parley(t, "", cmd, bad)
		}
		if code != 1 || !strings.Contains(errOut, "bad.proto:4:25: unknown client kind B (the client sends A)") {
			t.Errorf("%s: exit %d, stderr %q; want 1 and a positioned error", cmd, code, errOut)
		}
	}
}
