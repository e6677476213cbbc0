package protocol

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/parleyrpc/parley/mailbox"
)

// Concurrent senders and a receiver in an interleaving: every step is
// allowed, none is lost, and the race detector sees no conflict.
func TestCheckerConcurrent(t *testing.T) {
	m := mustCompile(t, chatProtocol, chatKinds)
	c := NewChecker(m, ServerSide)
	if err := c.Recv(cJoin); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(sJoined); err != nil {
		t.Fatal(err)
	}
	in := c.State()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for g := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				var err error
				if g == 0 {
					err = c.Recv(cSay)
				} else {
					err = c.Send(sMessage)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if c.State() != in {
		t.Errorf("state %q after the loop, want %q", c.StateName(), m.spec.States[in])
	}
	if err := c.RecvHalfClose(); err != nil {
		t.Fatal(err)
	}
	if err := c.End(); err != nil {
		t.Fatal(err)
	}
	if err := c.Send(sMessage); err == nil {
		t.Error("a send after the end was allowed")
	}
}

// A checked send whose mailbox refuses the message leaves the checker
// where it was.
func TestSendUndone(t *testing.T) {
	m := mustCompile(t, "@protocol { client join; server joined; server left }", chatKinds)
	c := NewChecker(m, ServerSide)
	if err := c.Recv(cJoin); err != nil {
		t.Fatal(err)
	}
	kind := func(e *int) int { return *e }
	full := mailbox.New[*int](0)
	s := sender[int]{c: c, kind: kind, out: full}
	joined := sJoined
	if err := s.TrySend(&joined); !errors.Is(err, mailbox.ErrFull) {
		t.Fatalf("TrySend on a full mailbox: %v", err)
	}
	if c.StateName() != "after client join" {
		t.Fatalf("state %q after a send that did not happen", c.StateName())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Send(ctx, &joined); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send with a done context: %v", err)
	}
	if c.StateName() != "after client join" {
		t.Fatalf("state %q after a send that did not happen", c.StateName())
	}
	room := mailbox.New[*int](1)
	s.out = room
	if err := s.Send(context.Background(), &joined); err != nil {
		t.Fatal(err)
	}
	if c.StateName() != "after server joined" {
		t.Fatalf("state %q after joined", c.StateName())
	}
}
