// Command demo runs the negotiation example on loopback: a seller and
// three buyers with different budgets haggle over a lamp.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/parleyrpc/parley/examples/internal/loopback"
	"github.com/parleyrpc/parley/examples/negotiate/client"
	"github.com/parleyrpc/parley/examples/negotiate/negotiatepb"
	"github.com/parleyrpc/parley/examples/negotiate/server"
	"github.com/parleyrpc/parley/runtime"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "negotiate demo:", err)
		os.Exit(1)
	}
}

func run(w io.Writer) error {
	rs := runtime.NewServer()
	negotiatepb.RegisterMarketServer(rs, server.New(map[string]server.Item{"lamp": {List: 100, Floor: 60}}, 0))
	c, stop, err := loopback.Dial(rs)
	if err != nil {
		return err
	}
	defer stop()
	market := negotiatepb.NewMarketClient(c)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, b := range []struct {
		name string
		s    client.Strategy
	}{
		{"ann", client.Strategy{Open: 50, Step: 10, Budget: 80, MaxRounds: 10}},
		{"bob", client.Strategy{Open: 120, Step: 10, Budget: 200, MaxRounds: 10}},
		{"cat", client.Strategy{Open: 50, Step: 10, Budget: 55, MaxRounds: 10}},
	} {
		out, err := client.Haggle(ctx, market, "lamp", b.s)
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		if out.Deal {
			fmt.Fprintf(w, "%s: deal at %d, accepted by the %s, after asks %v\n", b.name, out.Price, out.By, out.Asks)
		} else {
			fmt.Fprintf(w, "%s: no deal, rejected by the %s, after asks %v\n", b.name, out.By, out.Asks)
		}
	}
	return nil
}
