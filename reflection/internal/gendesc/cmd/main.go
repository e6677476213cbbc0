// Command cmd writes reflection/builtin.go (see package gendesc); package
// reflection's go:generate line runs it.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/parleyrpc/parley/reflection/internal/gendesc"
)

func main() {
	protoDir := flag.String("I", "proto", "the directory holding the .proto files")
	out := flag.String("out", "builtin.go", "the Go file to write")
	flag.Parse()
	src, err := gendesc.Generate(*protoDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendesc:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gendesc:", err)
		os.Exit(1)
	}
}
