// Package client is the negotiation example's buyer: it haggles on
// Market.Haggle with a budget, raising its price a step each turn.
package client

import (
	"context"

	"github.com/parleyrpc/parley/examples/negotiate/negotiatepb"
)

// Strategy is the buyer's: open at Open, raise by Step each turn, never
// above Budget; accept any ask within Budget; reject after MaxRounds
// counters of its own.
type Strategy struct {
	Open, Step, Budget uint32
	MaxRounds          int
}

// Outcome is how a negotiation ended.
type Outcome struct {
	Deal bool
	// Price is the agreed price when Deal is set.
	Price uint32
	// By is who ended it: "buyer" or "seller".
	By string
	// Asks are the seller's counter-offers, in order.
	Asks []uint32
}

// Haggle negotiates item with the seller. The typed states keep the turns:
// after an offer or counter the buyer can only receive; on its turn it
// can only counter, accept or reject.
func Haggle(ctx context.Context, c negotiatepb.MarketClient, item string, s Strategy) (Outcome, error) {
	var out Outcome
	conv, err := c.Haggle(ctx)
	if err != nil {
		return out, err
	}
	defer conv.Cancel()
	bid := s.Open
	waiting, err := conv.Start().SendOffer(&negotiatepb.Offer{Item: item, Price: bid})
	if err != nil {
		return out, err
	}
	for rounds := 0; ; rounds++ {
		got, err := waiting.Recv()
		if err != nil {
			return out, err
		}
		var done negotiatepb.MarketHaggleClientAfterAccept
		switch g := got.(type) {
		case negotiatepb.MarketHaggleClientAfterOfferGotAccept:
			out = Outcome{Deal: true, Price: g.Msg.Amount, By: "seller", Asks: out.Asks}
			done = g.Next
		case negotiatepb.MarketHaggleClientAfterOfferGotReject:
			out.By = "seller"
			done = g.Next
		case negotiatepb.MarketHaggleClientAfterOfferGotCounter:
			ask := g.Msg.Amount
			out.Asks = append(out.Asks, ask)
			mine := min(s.Budget, bid+s.Step)
			switch {
			case ask <= s.Budget && ask <= mine:
				done, err = g.Next.SendAccept(&negotiatepb.Price{Amount: ask})
				out.Deal, out.Price, out.By = true, ask, "buyer"
			case rounds == s.MaxRounds || mine == bid:
				done, err = g.Next.SendReject(&negotiatepb.Reject{Reason: "too expensive"})
				out.By = "buyer"
			default:
				bid = mine
				waiting, err = g.Next.SendCounter(&negotiatepb.Price{Amount: bid})
				if err != nil {
					return out, err
				}
				continue
			}
			if err != nil {
				return out, err
			}
		}
		closed, err := done.CloseSend()
		if err != nil {
			return out, err
		}
		return out, closed.Wait()
	}
}
