package protocol

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/parleyrpc/parley/mailbox"
	"github.com/parleyrpc/parley/wire"
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

// duringOut is an outbound mailbox that refuses every message, running
// during (a message received meanwhile) inside its TrySend and Send.
type duringOut struct{ during func() }

func (d duringOut) Send(ctx context.Context, v *int) error { d.during(); return mailbox.ErrFull }
func (d duringOut) TrySend(v *int) error                   { d.during(); return mailbox.ErrFull }
func (d duringOut) Done() <-chan struct{}                  { return nil }

// A send that fails while a message is received is taken back exactly:
// the checker is where the message received alone leads, not left past
// the send, and not moved back past the message.
func TestSendUndoneWhileReceiving(t *testing.T) {
	kinds := Kinds{Client: []string{"a", "b", "c"}, Server: []string{"x", "y"}}
	m := mustCompile(t, "@protocol { client a; (client b; client c; client halfclose) & (server x; server y*) }", kinds)
	for _, try := range []bool{true, false} {
		c := NewChecker(m, ServerSide)
		if err := c.Recv(0); err != nil { // a
			t.Fatal(err)
		}
		s := sender[int]{c: c, kind: func(e *int) int { return *e }, out: duringOut{during: func() {
			if err := c.Recv(1); err != nil { // b arrives meanwhile
				t.Error(err)
			}
		}}}
		x := 0
		var err error
		if try {
			err = s.TrySend(&x)
		} else {
			err = s.Send(context.Background(), &x)
		}
		if !errors.Is(err, mailbox.ErrFull) {
			t.Fatalf("send: %v", err)
		}
		ref := NewChecker(m, ServerSide)
		if ref.Recv(0) != nil || ref.Recv(1) != nil {
			t.Fatal("a, b refused")
		}
		if c.State() != ref.State() {
			t.Errorf("state %q after b and a send that did not happen, want %q", c.StateName(), ref.StateName())
		}
		if err := c.Send(1); err == nil { // y: x never reached the wire
			t.Error("server y allowed though x was not sent")
		}
		if err := c.Send(0); err != nil {
			t.Errorf("server x refused: %v", err)
		}
	}
}

// Senders that fail now and then, one at a time, and a receiver, all
// concurrent: the failed sends leave no trace, so the checker ends where
// the messages that did go lead.
func TestSendUndoneConcurrent(t *testing.T) {
	kinds := Kinds{Client: []string{"a", "b", "c"}, Server: []string{"x", "y"}}
	m := mustCompile(t, "@protocol { client a; (client b*; client c; client halfclose) & (server x; server y*) }", kinds)
	for range 200 {
		c := NewChecker(m, ServerSide)
		if err := c.Recv(0); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if err := c.Recv(1); err != nil { // b
					t.Error(err)
					return
				}
			}
		}()
		refuse := mailbox.New[*int](0)
		room := mailbox.New[*int](1000)
		x, y := 0, 1
		for i := range 50 {
			s := sender[int]{c: c, kind: func(e *int) int { return *e }, out: refuse}
			if i%2 == 1 {
				s.out = room
			}
			v := &y
			if i < 2 {
				v = &x
			}
			err := s.TrySend(v)
			if (err == nil) != (i%2 == 1) {
				t.Fatalf("send %d: %v", i, err)
			}
		}
		wg.Wait()
		if err := c.Recv(2); err != nil { // c: the client's part ends
			t.Fatal(err)
		}
		if err := c.RecvHalfClose(); err != nil {
			t.Fatal(err)
		}
		if err := c.End(); err != nil {
			t.Fatal(err)
		}
	}
}

// Once the client half-closed where the protocol does not name it, its
// sends are refused as out of protocol (not left to fail on the closed
// stream), and the server's messages still come.
func TestSendAfterImplicitHalfClose(t *testing.T) {
	kinds := Kinds{Client: []string{"a"}, Server: []string{"x"}}
	m := mustCompile(t, "@protocol { (client a*) & (server x*) }", kinds)
	c := NewChecker(m, ClientSide)
	if err := c.Send(0); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var v *Violation
	if err := c.Send(0); !errors.As(err, &v) || !v.Local {
		t.Fatalf("a after the half-close: %v", err)
	}
	if _, err := beginSend(c, 0); wire.CodeOf(err) != wire.FailedPrecondition {
		t.Errorf("checked send of a after the half-close: %v", err)
	}
	if err := c.CloseSend(); err != nil {
		t.Errorf("a second CloseSend: %v", err)
	}
	if err := c.Recv(0); err != nil {
		t.Fatal(err)
	}
	if err := c.End(); err != nil {
		t.Fatal(err)
	}
}
