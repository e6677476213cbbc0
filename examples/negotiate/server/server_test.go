package server_test

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleyrpc/parley/examples/negotiate/client"
	"github.com/parleyrpc/parley/examples/negotiate/negotiatepb"
	"github.com/parleyrpc/parley/examples/negotiate/server"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// serve registers register's service on a loopback server for the test
// and returns a connected client.
func serve(t *testing.T, register func(*runtime.Server)) *runtime.Client {
	t.Helper()
	rs := runtime.NewServer()
	register(rs)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go rs.Serve(l)
	c, err := runtime.Dial(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		rs.Close()
	})
	return c
}

func start(t *testing.T, maxRounds int) (*server.Server, negotiatepb.MarketClient, *runtime.Client) {
	t.Helper()
	srv := server.New(map[string]server.Item{"lamp": {List: 100, Floor: 60}}, maxRounds)
	c := serve(t, func(rs *runtime.Server) { negotiatepb.RegisterMarketServer(rs, srv) })
	return srv, negotiatepb.NewMarketClient(c), c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// Each way a negotiation ends, with either side choosing.
func TestHaggle(t *testing.T) {
	tests := []struct {
		name      string
		maxRounds int
		strategy  client.Strategy
		want      client.Outcome
	}{
		{"the buyer accepts a counter", 0, client.Strategy{Open: 50, Step: 10, Budget: 80, MaxRounds: 10},
			client.Outcome{Deal: true, Price: 75, By: "buyer", Asks: []uint32{100, 80, 75}}},
		{"the seller accepts the opening", 0, client.Strategy{Open: 120, Step: 10, Budget: 200, MaxRounds: 10},
			client.Outcome{Deal: true, Price: 120, By: "seller"}},
		{"the seller rejects", 2, client.Strategy{Open: 10, Step: 1, Budget: 1000, MaxRounds: 10},
			client.Outcome{By: "seller", Asks: []uint32{100, 60}}},
		{"the buyer rejects", 0, client.Strategy{Open: 50, Step: 10, Budget: 55, MaxRounds: 10},
			client.Outcome{By: "buyer", Asks: []uint32{100, 78}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c, _ := start(t, tt.maxRounds)
			got, err := client.Haggle(ctxT(t), c, "lamp", tt.strategy)
			if err != nil {
				t.Fatal(err)
			}
			if got.Deal != tt.want.Deal || got.Price != tt.want.Price || got.By != tt.want.By || !slices.Equal(got.Asks, tt.want.Asks) {
				t.Errorf("outcome %+v, want %+v", got, tt.want)
			}
			sales := srv.Sales()
			if tt.want.Deal != (len(sales) == 1) || (tt.want.Deal && sales[0] != server.Sale{Item: "lamp", Price: tt.want.Price}) {
				t.Errorf("sales %v", sales)
			}
		})
	}
	_, c, _ := start(t, 0)
	if _, err := client.Haggle(ctxT(t), c, "sofa", client.Strategy{Open: 1}); wire.CodeOf(err) != wire.NotFound {
		t.Errorf("unknown item: %v", err)
	}
}

func move(kind string, amount uint32) *negotiatepb.Move {
	switch kind {
	case "offer":
		return &negotiatepb.Move{Move: &negotiatepb.Move_Offer{Offer: &negotiatepb.Offer{Item: "lamp", Price: amount}}}
	case "counter":
		return &negotiatepb.Move{Move: &negotiatepb.Move_Counter{Counter: &negotiatepb.Price{Amount: amount}}}
	case "accept":
		return &negotiatepb.Move{Move: &negotiatepb.Move_Accept{Accept: &negotiatepb.Price{Amount: amount}}}
	}
	return &negotiatepb.Move{Move: &negotiatepb.Move_Reject{Reject: &negotiatepb.Reject{}}}
}

// A buyer that knows nothing of the protocol moves out of turn, or
// accepts a price never asked; the seller ends the call with the status
// and a message naming the turn.
func TestOutOfTurn(t *testing.T) {
	srv, _, raw := start(t, 0)
	tests := []struct {
		name  string
		moves []*negotiatepb.Move // nil: wait for the seller's move
		code  wire.Code
		msg   string
	}{
		{"accept first", []*negotiatepb.Move{move("accept", 1)}, wire.FailedPrecondition,
			"parley.negotiate.v1.Market/Haggle: got accept, want offer (before the first message)"},
		{"offer twice", []*negotiatepb.Move{move("offer", 10), nil, move("offer", 20)}, wire.FailedPrecondition,
			"parley.negotiate.v1.Market/Haggle: got offer, want counter or accept or reject (after server counter)"},
		{"half-close on the buyer's turn", []*negotiatepb.Move{move("offer", 10), nil, nil}, wire.FailedPrecondition,
			"parley.negotiate.v1.Market/Haggle: got half-close, want counter or accept or reject (after server counter)"},
		{"accept of a price never asked", []*negotiatepb.Move{move("offer", 10), nil, move("accept", 70)}, wire.InvalidArgument,
			"accept of a price never asked: the ask is 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call, err := runtime.Open[negotiatepb.Move, negotiatepb.Move](ctxT(t), raw, negotiatepb.Market_Haggle_FullMethodName)
			if err != nil {
				t.Fatal(err)
			}
			waits := 0
			for _, m := range tt.moves {
				switch {
				case m != nil:
					_ = call.Send(m)
				case waits == 0:
					waits++
					if _, err := call.Recv(); err != nil {
						t.Fatal(err)
					}
				default:
					_ = call.CloseSend()
				}
			}
			var last error
			for last == nil {
				_, last = call.Recv()
			}
			if wire.CodeOf(last) != tt.code || !strings.Contains(last.Error(), tt.msg) {
				t.Errorf("status %v, want %v with %q", last, tt.code, tt.msg)
			}
		})
	}
	if len(srv.Sales()) != 0 {
		t.Errorf("sales %v", srv.Sales())
	}
}

// rogueSeller ignores the protocol: it accepts twice.
func rogueSeller(call *runtime.ServerCall[negotiatepb.Move, negotiatepb.Move]) error {
	if _, err := call.Recv(); err != nil {
		return err
	}
	_ = call.Send(move("accept", 10))
	_ = call.Send(move("accept", 10))
	<-call.Context().Done()
	return nil
}

// The buyer's side enforces the protocol too: a seller moving after the
// negotiation ended makes the buyer reset the call and fail locally.
func TestSellerOutOfTurn(t *testing.T) {
	c := serve(t, func(rs *runtime.Server) {
		runtime.HandleBidi(rs, negotiatepb.Market_Haggle_FullMethodName, rogueSeller)
	})
	_, err := client.Haggle(ctxT(t), negotiatepb.NewMarketClient(c), "lamp", client.Strategy{Open: 10})
	if wire.CodeOf(err) != wire.FailedPrecondition || wire.IsWireError(err) ||
		!strings.Contains(err.Error(), "parley.negotiate.v1.Market/Haggle: got accept, want the end of the call (after server accept or reject)") {
		t.Errorf("buyer: %v", err)
	}
}
