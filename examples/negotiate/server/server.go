// Package server is the negotiation example's seller: it haggles over the
// price of its items on Market.Haggle, taking turns with the buyer.
package server

import (
	"sync"

	"github.com/parleyrpc/parley/examples/negotiate/negotiatepb"
	"github.com/parleyrpc/parley/wire"
)

// Item is something for sale: its list price (the seller's first ask) and
// its floor (the lowest price the seller accepts).
type Item struct {
	List, Floor uint32
}

// Sale is a concluded deal.
type Sale struct {
	Item  string
	Price uint32
}

// DefaultMaxRounds is how many counter-offers the seller makes before it
// rejects.
const DefaultMaxRounds = 8

// Server is the seller. Its strategy: accept any price at or above its
// current ask; otherwise counter halfway between its last ask and the
// buyer's price, never below the floor; reject after MaxRounds counters.
//
// Concurrency: calls run concurrently; the sales log is guarded by mu and
// the items are read-only.
type Server struct {
	negotiatepb.UnimplementedMarketServer
	items     map[string]Item
	maxRounds int

	mu    sync.Mutex
	sales []Sale // guarded by mu
}

// New returns a seller of items; maxRounds 0 means DefaultMaxRounds.
func New(items map[string]Item, maxRounds int) *Server {
	if maxRounds <= 0 {
		maxRounds = DefaultMaxRounds
	}
	return &Server{items: items, maxRounds: maxRounds}
}

// Sales returns the deals made so far.
func (s *Server) Sales() []Sale {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sale(nil), s.sales...)
}

func (s *Server) sold(item string, price uint32) {
	s.mu.Lock()
	s.sales = append(s.sales, Sale{item, price})
	s.mu.Unlock()
}

// Haggle negotiates one item. The typed states make the turns explicit: on
// the seller's turn (MarketHaggleServerAfterOffer) it can only counter,
// accept or reject; on the buyer's (MarketHaggleServerAfterCounter) it can
// only receive.
func (s *Server) Haggle(conv *negotiatepb.MarketHaggleServerConv) error {
	got, err := conv.Start().Recv()
	if err != nil {
		return err
	}
	open := got.(negotiatepb.MarketHaggleServerStartGotOffer)
	if open.Msg == nil {
		return wire.NewError(wire.InvalidArgument, "empty offer")
	}
	item, ok := s.items[open.Msg.Item]
	if !ok {
		return wire.Errorf(wire.NotFound, "no item %q for sale", open.Msg.Item)
	}
	bid, ask := open.Msg.Price, item.List
	turn := open.Next
	for round := 0; ; round++ {
		if bid >= ask {
			_, err := turn.SendAccept(&negotiatepb.Price{Amount: bid})
			if err == nil {
				s.sold(open.Msg.Item, bid)
			}
			return err
		}
		if round == s.maxRounds {
			_, err := turn.SendReject(&negotiatepb.Reject{Reason: "no deal"})
			return err
		}
		if round > 0 {
			ask = max(item.Floor, ask-(ask-bid)/2)
		}
		if bid >= ask {
			continue // the buyer's price reached the new ask: accept it
		}
		buyers, err := turn.SendCounter(&negotiatepb.Price{Amount: ask})
		if err != nil {
			return err
		}
		got, err := buyers.Recv()
		if err != nil {
			return err
		}
		switch g := got.(type) {
		case negotiatepb.MarketHaggleServerAfterCounterGotCounter:
			if g.Msg == nil || g.Msg.Amount < bid {
				return wire.Errorf(wire.InvalidArgument, "a counter below your last price %d", bid)
			}
			bid, turn = g.Msg.Amount, g.Next
		case negotiatepb.MarketHaggleServerAfterCounterGotAccept:
			if g.Msg == nil || g.Msg.Amount != ask {
				return wire.Errorf(wire.InvalidArgument, "accept of a price never asked: the ask is %d", ask)
			}
			s.sold(open.Msg.Item, ask)
			return nil
		case negotiatepb.MarketHaggleServerAfterCounterGotReject:
			return nil
		}
	}
}
