package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/parleyrpc/parley/stubs"
)

func runGen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parley gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", ".", "write generated files under `DIR`, at the .proto file's path relative to its import path")
	var importPaths stringList
	fs.Var(&importPaths, "I", "search `DIR` for imports (repeatable; default: each file's own directory)")
	quiet := fs.Bool("q", false, "do not list the files written")
	lang := fs.String("lang", "go", "generate `LANG`: go (FILE.parley.go), or ts (FILE.parley.ts, a TypeScript browser client, and parley.ts, its runtime)")
	files, err := parseInterleaved(fs, args, "Usage: parley gen [-lang go|ts] [-out DIR] [-I DIR]... FILE.proto...\n\n"+
		"Generates FILE.parley.go for each FILE.proto: msgpack message types and\n"+
		"typed server and client stubs. Well-known imports (google/protobuf/*.proto)\n"+
		"need no files on disk. No protoc is needed.\n\nFlags:\n")
	if err != nil {
		return err
	}
	if len(files) == 0 {
		fs.Usage()
		return errUsage
	}
	generate := stubs.Generate
	switch *lang {
	case "go":
	case "ts":
		generate = stubs.GenerateTS
	default:
		fmt.Fprintf(stderr, "parley gen: unknown -lang %q (go or ts)\n", *lang)
		return errUsage
	}
	gen, err := generate(files, stubs.Options{ImportPaths: importPaths})
	if err != nil {
		return err
	}
	// Two inputs must never write one output file, the second silently
	// replacing the first; the generators refuse that, and this makes
	// sure before anything is written.
	written := map[string]string{}
	for _, f := range gen {
		path := filepath.Join(*out, filepath.FromSlash(f.Name))
		from := f.Proto
		if from == "" {
			from = "the generated " + f.Name
		}
		if prev, ok := written[path]; ok {
			return fmt.Errorf("parley gen: %s and %s would both be written to %s", prev, from, path)
		}
		written[path] = from
	}
	for _, f := range gen {
		path := filepath.Join(*out, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, f.Content, 0o644); err != nil {
			return err
		}
		if !*quiet {
			fmt.Fprintln(stdout, path)
		}
	}
	return nil
}
