package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/parleyrpc/parley/stubs"
)

// runProtocol prints the protocols declared in a .proto file as Mermaid
// state diagrams: all of them, or the one of the method named.
func runProtocol(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parley protocol", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var importPaths stringList
	fs.Var(&importPaths, "I", "search `DIR` for imports (repeatable; default: the file's own directory)")
	rest, err := parseInterleaved(fs, args, "Usage: parley protocol [-I DIR]... FILE.proto [Service/Method]\n\n"+
		"Checks the @protocol declarations of FILE.proto and prints each as a\n"+
		"Mermaid state diagram (or only the named method's; Service may be\n"+
		"qualified by its package).\n\nFlags:\n")
	if err != nil {
		return err
	}
	if len(rest) < 1 || len(rest) > 2 {
		fs.Usage()
		return errUsage
	}
	protos, err := stubs.Protocols(rest[:1], stubs.Options{ImportPaths: importPaths})
	if err != nil {
		return err
	}
	var want string
	if len(rest) == 2 {
		want = strings.TrimPrefix(rest[1], "/")
	}
	found := false
	for _, p := range protos {
		if want != "" && p.Method != want && !strings.HasSuffix(p.Method, "."+want) {
			continue
		}
		if found {
			fmt.Fprintln(stdout)
		}
		found = true
		fmt.Fprint(stdout, p.Machine.Mermaid())
	}
	if !found {
		if want != "" {
			return fmt.Errorf("parley protocol: no protocol for %s in %s", want, rest[0])
		}
		return fmt.Errorf("parley protocol: %s declares no protocol", rest[0])
	}
	return nil
}
