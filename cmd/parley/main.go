// Command parley generates Go code from proto3 schemas and makes calls to
// parley (or any gRPC+msgpack) servers.
//
// Usage:
//
//	parley gen [-out DIR] [-I DIR]... FILE.proto...
//	parley call [flags] ADDR /pkg.Service/Method [JSON | @FILE | @-]
//	parley call [flags] ADDR list [pkg.Service]
//	parley call [flags] ADDR describe SYMBOL
//	parley protocol [-I DIR]... FILE.proto [Service/Method]
//	parley version
//
// Run "parley gen -h" or "parley call -h" for the flags. From go generate:
//
//	//go:generate go run github.com/parleyrpc/parley/cmd/parley gen -out . service.proto
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/parleyrpc/parley/stubs"
)

const usage = `parley: proto3 IDL tools for parley (gRPC over HTTP/2, msgpack messages).

Usage:
  parley gen [-out DIR] [-I DIR]... FILE.proto...
        generate Go messages and typed stubs (one FILE.parley.go per file)
  parley call [flags] ADDR /pkg.Service/Method [JSON | @FILE | @-]
        call a method, JSON in and JSON lines out (like grpcurl)
  parley call [flags] ADDR list [pkg.Service] | describe SYMBOL
        list or describe services and types through server reflection
  parley protocol [-I DIR]... FILE.proto [Service/Method]
        print the declared protocols as Mermaid state diagrams
  parley version
        print the generator version

Run 'parley gen -h' or 'parley call -h' for their flags.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// errUsage reports a usage error that has already been printed.
var errUsage = errors.New("usage")

// run executes the command line args and returns the exit code: 0 for
// success, 1 for a failed call or generation, 2 for a usage error.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "gen":
		err = runGen(args[1:], stdout, stderr)
	case "call":
		err = runCall(args[1:], stdin, stdout, stderr)
	case "protocol":
		err = runProtocol(args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, "parley", stubs.Version)
		return 0
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "parley: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	var exit exitError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.As(err, &exit):
		return int(exit)
	default:
		fmt.Fprintln(stderr, err)
		return 1
	}
}

// exitError ends the command with its code after the command printed what
// it had to say.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit %d", int(e)) }

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return fmt.Sprint(*l) }

func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// parseInterleaved parses flags that may appear before, between or after
// positional arguments, and returns the positional ones. fs's usage
// message is usage followed by its flags' defaults. It fails with
// flag.ErrHelp for -h, else with errUsage (the flag package has printed
// what was wrong).
func parseInterleaved(fs *flag.FlagSet, args []string, usage string) ([]string, error) {
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if err == flag.ErrHelp {
				return nil, err
			}
			return nil, errUsage
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
