package featurepb_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parleyrpc/parley/protocol"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/stubs/internal/featurepb"
	"github.com/parleyrpc/parley/wire"
)

// negotiator implements Negotiate and Mirror with the typed
// conversations: the server counters at half the distance to its price
// and accepts an offer at or above it.
type negotiator struct {
	featurepb.UnimplementedFeatureServer
	price uint32
}

func (n negotiator) Negotiate(conv *featurepb.FeatureNegotiateServerConv) error {
	got, err := conv.Start().Recv()
	if err != nil {
		return err
	}
	first := got.(featurepb.FeatureNegotiateServerStartGotOffer)
	offer, st := first.Msg.Price, first.Next
	for {
		if offer >= n.price {
			_, err := st.SendAccept(&struct{}{})
			return err
		}
		if offer == 0 {
			_, err := st.SendReject("no offer")
			return err
		}
		next, err := st.SendCounter(&featurepb.Offer{Price: offer + (n.price-offer+1)/2})
		if err != nil {
			return err
		}
		got, err := next.Recv()
		if err != nil {
			return err
		}
		switch g := got.(type) {
		case featurepb.FeatureNegotiateServerAfterCounterGotCounter:
			offer, st = g.Msg.Price, g.Next
		case featurepb.FeatureNegotiateServerAfterCounterGotAccept, featurepb.FeatureNegotiateServerAfterCounterGotReject:
			return nil
		}
	}
}

// Mirror echoes each number doubled, from another goroutine than the one
// receiving: the interleaving's state is shared.
func (negotiator) Mirror(conv *featurepb.FeatureMirrorServerConv) error {
	st := conv.Start()
	for {
		got, err := st.Recv()
		if err != nil {
			return err
		}
		switch g := got.(type) {
		case featurepb.FeatureMirrorServerStartGotNumber:
			if _, err := st.SendNumber(&featurepb.Number{Value: 2 * g.Msg.Value}); err != nil {
				return err
			}
		case featurepb.FeatureMirrorServerStartGotHalfClose:
			_, err := g.Next.SendNumber(&featurepb.Number{Value: -1})
			return err
		}
	}
}

func startNegotiator(t *testing.T, price uint32) (featurepb.FeatureClient, *runtime.Client) {
	t.Helper()
	srv := runtime.NewServer()
	featurepb.RegisterFeatureServer(srv, negotiator{price: price})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	c, err := runtime.Dial(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		srv.Close()
	})
	return featurepb.NewFeatureClient(c), c
}

func ctx20(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// A typed negotiation: the client raises its offer by 10 each turn and
// accepts a counter-offer at or below 70.
func TestTypedNegotiation(t *testing.T) {
	client, _ := startNegotiator(t, 100)
	conv, err := client.Negotiate(ctx20(t))
	if err != nil {
		t.Fatal(err)
	}
	st, err := conv.Start().SendOffer(&featurepb.Offer{Price: 40})
	if err != nil {
		t.Fatal(err)
	}
	var turns []uint32
	var old featurepb.FeatureNegotiateClientAfterCounter
	for mine := uint32(40); ; {
		got, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		c, ok := got.(featurepb.FeatureNegotiateClientAfterOfferGotCounter)
		if !ok {
			t.Fatalf("server answered %T", got)
		}
		turns = append(turns, c.Msg.Price)
		old = c.Next
		if c.Msg.Price <= 85 {
			end, err := c.Next.SendAccept(&struct{}{})
			if err != nil {
				t.Fatal(err)
			}
			closed, err := end.CloseSend()
			if err != nil {
				t.Fatal(err)
			}
			if err := closed.Wait(); err != nil {
				t.Fatalf("end: %v", err)
			}
			break
		}
		mine += 10
		if st, err = c.Next.SendCounter(&featurepb.Offer{Price: mine}); err != nil {
			t.Fatal(err)
		}
	}
	if len(turns) == 0 || turns[len(turns)-1] > 85 {
		t.Errorf("counters %v", turns)
	}
	// Using a state value the conversation has left is refused at run
	// time, before anything reaches the wire.
	_, err = old.SendCounter(&featurepb.Offer{Price: 1})
	var v *protocol.Violation
	if !errors.As(err, &v) || !v.Local || !strings.Contains(err.Error(), "the client cannot send counter") {
		t.Errorf("stale state: %v", err)
	}
}

// The server accepts at once: the client's state after its offer receives
// the acceptance, and the call ends OK.
func TestTypedNegotiationAccepted(t *testing.T) {
	client, _ := startNegotiator(t, 10)
	conv, err := client.Negotiate(ctx20(t))
	if err != nil {
		t.Fatal(err)
	}
	st, err := conv.Start().SendOffer(&featurepb.Offer{Price: 40})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	acc, ok := got.(featurepb.FeatureNegotiateClientAfterOfferGotAccept)
	if !ok {
		t.Fatalf("got %T", got)
	}
	if err := acc.Next.Wait(); err != nil {
		t.Fatalf("end: %v", err)
	}
}

// An untyped client out of protocol: the generated server refuses it
// with FAILED_PRECONDITION and a message naming the state.
func TestGeneratedServerEnforces(t *testing.T) {
	_, c := startNegotiator(t, 100)
	call, err := runtime.Open[featurepb.Turn, featurepb.Turn](ctx20(t), c, featurepb.Feature_Negotiate_FullMethodName)
	if err != nil {
		t.Fatal(err)
	}
	_ = call.Send(&featurepb.Turn{Move: &featurepb.Turn_Accept{Accept: &struct{}{}}})
	_, err = call.Recv()
	if wire.CodeOf(err) != wire.FailedPrecondition || err.(*wire.Error).Message() != "parley.feature.Feature/Negotiate: got accept, want offer (before the first message)" {
		t.Errorf("status %v", err)
	}
}

// Mirror: both sides stream at once in the interleaving.
func TestTypedInterleaving(t *testing.T) {
	client, _ := startNegotiator(t, 0)
	conv, err := client.Mirror(ctx20(t))
	if err != nil {
		t.Fatal(err)
	}
	st := conv.Start()
	errc := make(chan error, 1)
	go func() {
		for i := int64(1); i <= 5; i++ {
			if _, err := st.SendNumber(&featurepb.Number{Value: i}); err != nil {
				errc <- err
				return
			}
		}
		_, err := st.CloseSend()
		errc <- err
	}()
	var sum int64
	for {
		got, err := st.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch g := got.(type) {
		case featurepb.FeatureMirrorClientStartGotNumber:
			sum += g.Msg.Value
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if sum != 2*15-1 {
		t.Errorf("sum %d, want %d", sum, 2*15-1)
	}
}

// Quote: counters down to the price (or a rejection for 0), then the
// verdict. A price of 1 makes it break the protocol: it sends an offer,
// a kind the protocol never lets the server send.
//
// It walks the typed states; only the out-of-protocol case uses the
// untyped (still checked) Send, as the typed states have no SendOffer.
func (n negotiator) Quote(req *featurepb.Offer, conv *featurepb.FeatureQuoteServerConv) error {
	if req.Price == 1 {
		return conv.Send(&featurepb.Turn{Move: &featurepb.Turn_Offer{Offer: req}})
	}
	st := conv.Start()
	if req.Price == 0 {
		_, err := st.SendReject("no price")
		return err
	}
	for p := n.price; p > req.Price; p = (p + req.Price) / 2 {
		var err error
		if st, err = st.SendCounter(&featurepb.Offer{Price: p}); err != nil {
			return err
		}
	}
	_, err := st.SendAccept(&struct{}{})
	return err
}

// Bid returns the best offer; with an empty stream it returns nothing,
// which the protocol does not allow.
func (negotiator) Bid(conv *featurepb.FeatureBidServerConv) (*featurepb.Offer, error) {
	best := &featurepb.Offer{}
	for {
		t, err := conv.Recv()
		if err == io.EOF {
			return best, nil
		}
		if err != nil {
			return nil, err
		}
		if o := t.Move.(*featurepb.Turn_Offer).Offer; o.Price > best.Price {
			best = o
		}
	}
}

// Appraise accepts prices of at least its own; a price of 1 gets a
// counter, which the protocol does not allow.
func (n negotiator) Appraise(_ context.Context, req *featurepb.Offer) (*featurepb.Turn, error) {
	switch {
	case req.Price == 1:
		return &featurepb.Turn{Move: &featurepb.Turn_Counter{Counter: req}}, nil
	case req.Price >= n.price:
		return &featurepb.Turn{Move: &featurepb.Turn_Accept{Accept: &struct{}{}}}, nil
	}
	return &featurepb.Turn{Move: &featurepb.Turn_Reject{Reject: "too low"}}, nil
}

// Protocols on server-streaming, client-streaming and unary methods are
// enforced on both sides too.
func TestSingleSidedProtocols(t *testing.T) {
	client, raw := startNegotiator(t, 100)
	ctx := ctx20(t)

	// Server streaming: counters, then the verdict.
	q, err := client.Quote(ctx, &featurepb.Offer{Price: 60})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for {
		turn, err := q.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, fmt.Sprintf("%T", turn.Move))
	}
	if len(kinds) < 2 || kinds[len(kinds)-1] != "*featurepb.Turn_Accept" {
		t.Errorf("quote: %v", kinds)
	}
	// The server sending a kind it may not: its own checker refuses the
	// send, and the handler's error ends the call.
	q, err = client.Quote(ctx, &featurepb.Offer{Price: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Recv(); wire.CodeOf(err) != wire.FailedPrecondition || !strings.Contains(err.Error(), "the server cannot send offer, may send counter or accept or reject") {
		t.Errorf("quote out of protocol: %v", err)
	}

	// Client streaming.
	b, err := client.Bid(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []uint32{3, 9, 4} {
		if err := b.Send(&featurepb.Turn{Move: &featurepb.Turn_Offer{Offer: &featurepb.Offer{Price: p}}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(&featurepb.Turn{Move: &featurepb.Turn_Accept{Accept: &struct{}{}}}); err == nil || !strings.Contains(err.Error(), "the client cannot send accept, may send offer or half-close") {
		t.Errorf("bid: accept was not refused: %v", err)
	}
	best, err := b.CloseAndRecv()
	if err != nil || best.Price != 9 {
		t.Errorf("bid: %v, %v", best, err)
	}
	// Half-closing before the first offer is refused locally; a client
	// that does it anyway gets FAILED_PRECONDITION from the server.
	b, err = client.Bid(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.CloseAndRecv(); err == nil || !strings.Contains(err.Error(), "the client cannot send half-close, may send offer (before the first message)") {
		t.Errorf("bid with no offer: %v", err)
	}
	b.Cancel()
	rc, err := runtime.OpenClientStream[featurepb.Turn, featurepb.Offer](ctx, raw, featurepb.Feature_Bid_FullMethodName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.CloseAndRecv(); wire.CodeOf(err) != wire.FailedPrecondition || !strings.Contains(err.Error(), "got half-close, want offer (before the first message)") {
		t.Errorf("raw bid with no offer: %v", err)
	}

	// Unary.
	turn, err := client.Appraise(ctx, &featurepb.Offer{Price: 150})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := turn.Move.(*featurepb.Turn_Accept); !ok {
		t.Errorf("appraise: %v, %v", turn, err)
	}
	if _, err := client.Appraise(ctx, &featurepb.Offer{Price: 1}); wire.CodeOf(err) != wire.Internal || !strings.Contains(err.Error(), "the server cannot send counter, may send accept or reject") {
		t.Errorf("appraise out of protocol: %v", err)
	}
}

// The typed states of the single-sided methods: the server-streaming
// client starts after its request and receives counters then a verdict;
// the client-streaming client sends offers, half-closes and receives the
// one response.
func TestSingleSidedTyped(t *testing.T) {
	client, _ := startNegotiator(t, 100)
	ctx := ctx20(t)

	q, err := client.Quote(ctx, &featurepb.Offer{Price: 60})
	if err != nil {
		t.Fatal(err)
	}
	st := q.Start()
	counters := 0
	for done := false; !done; {
		got, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		switch g := got.(type) {
		case featurepb.FeatureQuoteClientAfterOfferGotCounter:
			counters++
			st = g.Next
		case featurepb.FeatureQuoteClientAfterOfferGotAccept:
			if err := g.Next.Wait(); err != nil {
				t.Fatal(err)
			}
			done = true
		case featurepb.FeatureQuoteClientAfterOfferGotReject:
			t.Fatalf("rejected: %q", g.Msg)
		}
	}
	if counters == 0 {
		t.Error("no counter-offer")
	}

	b, err := client.Bid(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s1, err := b.Start().SendOffer(&featurepb.Offer{Price: 5})
	if err != nil {
		t.Fatal(err)
	}
	if s1, err = s1.SendOffer(&featurepb.Offer{Price: 7}); err != nil {
		t.Fatal(err)
	}
	closed, err := s1.CloseSend()
	if err != nil {
		t.Fatal(err)
	}
	got, err := closed.Recv()
	if err != nil {
		t.Fatal(err)
	}
	best := got.(featurepb.FeatureBidClientAfterHalfCloseGotOffer)
	if best.Msg.Price != 7 {
		t.Errorf("best %d, want 7", best.Msg.Price)
	}
	if err := best.Next.Wait(); err != nil {
		t.Fatal(err)
	}
}
