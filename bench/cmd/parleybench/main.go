// Command parleybench measures parley against grpc-go over loopback, each
// server and each client in its own process.
//
// Usage:
//
//	parleybench [run] [-rounds 3] [-duration 2s] [-quick] [-cells ...] [-pairs ...] [-profile DIR]
//	parleybench chat [-rounds 2] [-quick] [-svg DIR]
//	parleybench sweep [-rounds 3] [-quick] [-svg DIR]
//	parleybench server -impl parley|grpc|raw   (started by run)
//	parleybench client -impl parley|grpc -addr ADDR -kind KIND ...   (started by run)
//
// run prints one Markdown table of medians over the rounds, with the ratio
// of each pair to grpc-go on both sides, and the allocations per operation
// counted by each process's runtime. chat runs the chat benchmark; sweep
// runs cells and the chat's burst at several sizes, for parley and
// grpc-go, and draws them as line charts. See docs/performance.md.
package main

import (
	"fmt"
	"os"

	"github.com/parleyrpc/parley/bench/harness"
)

func main() {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "parleybench:", err)
		os.Exit(1)
	}
	os.Exit(harness.Main([]string{self}, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
