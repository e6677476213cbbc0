package runtime

import (
	"context"
	"encoding/binary"
	goruntime "runtime"
	"sync"
	"testing"
	"time"

	"github.com/parleyrpc/parley/mailbox"
)

// recordingSink is a sink whose flow control lets a write go at once only
// while open is set (tryWrite), and refuses every refuseEvery-th one
// even then; write waits for open. It records what is written, in order.
type recordingSink struct {
	mu          sync.Mutex
	cond        *sync.Cond
	open        bool
	refuseEvery int
	tries       int
	waited      int // messages written by write
	got         [][]byte
	closed      bool // closeSend was called
	afterCl     int  // writes after closeSend: must stay 0
}

func newRecordingSink(open bool) *recordingSink {
	s := &recordingSink{open: open}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *recordingSink) setOpen(open bool) {
	s.mu.Lock()
	s.open = open
	s.mu.Unlock()
	s.cond.Broadcast()
}

func (s *recordingSink) record(f []byte) {
	if s.closed {
		s.afterCl++
	}
	s.got = append(s.got, f)
}

func (s *recordingSink) tryWrite(f []byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tries++
	if !s.open || (s.refuseEvery > 0 && s.tries%s.refuseEvery == 0) {
		return false, nil
	}
	s.record(f)
	return true, nil
}

func (s *recordingSink) write(f []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for !s.open {
		s.cond.Wait()
	}
	s.waited++
	s.record(f)
	return nil
}

// waitWritten waits, at most 10 s, until n messages are written and, with
// end, closeSend was called; it returns how many were and whether it was.
func (s *recordingSink) waitWritten(n int, end bool) (int, bool) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		got, closed := len(s.got), s.closed
		s.mu.Unlock()
		if (got == n && (closed || !end)) || time.Now().After(deadline) {
			return got, closed
		}
		time.Sleep(time.Millisecond)
	}
}

func (s *recordingSink) flush() error { return nil }

func (s *recordingSink) closeSend() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

func (s *recordingSink) writeFailed() {}

// TestOutWriterOrderUnderFlowControl: senders on several goroutines,
// with flow control refusing some writes and closing under them, so that some
// messages are written by their sender at once (sendUnqueued), some held
// and written by a goroutine that waits for the window, and some queued
// in the mailbox. Every message is written once, each sender's in the
// order it sent them, and the end comes after all of them. Rounds at
// several GOMAXPROCS vary the interleavings: one of them once lost the
// hand-off of the writing (a sender that found the mailbox non-empty let
// mu go without flushing, and then blocked in Send on the full mailbox,
// with nobody left to write it).
func TestOutWriterOrderUnderFlowControl(t *testing.T) {
	for _, procs := range []int{1, 4, 8} {
		prev := goruntime.GOMAXPROCS(procs)
		for range 5 {
			testOutWriterOrderUnderFlowControl(t)
		}
		goruntime.GOMAXPROCS(prev)
		if t.Failed() {
			t.Fatalf("at GOMAXPROCS %d", procs)
		}
	}
}

func testOutWriterOrderUnderFlowControl(t *testing.T) {
	t.Helper()
	const senders, each = 4, 500
	sink := newRecordingSink(true)
	sink.refuseEvery = 7
	o := &outWriter{out: mailbox.New[[]byte](8)}
	o.attach(sink)

	stop := make(chan struct{})
	flipped := make(chan struct{})
	go func() { // flow control that comes and goes
		defer close(flipped)
		for i := 0; ; i++ {
			select {
			case <-stop:
				sink.setOpen(true)
				return
			case <-time.After(50 * time.Microsecond):
				sink.setOpen(i%3 != 0)
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				f := make([]byte, 8)
				binary.BigEndian.PutUint32(f, uint32(g))
				binary.BigEndian.PutUint32(f[4:], uint32(i))
				if err := o.send(ctx, f, true); err != nil {
					t.Errorf("sender %d, message %d: %v", g, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-flipped
	o.out.Close(mailbox.End{})
	o.flush()

	if n, closed := sink.waitWritten(senders*each, true); n != senders*each || !closed {
		t.Fatalf("%d of %d messages written, end written %v", n, senders*each, closed)
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if direct := len(sink.got) - sink.waited; direct == 0 || sink.waited == 0 {
		t.Fatalf("%d messages written at once, %d after waiting for the window: the test no longer exercises both", direct, sink.waited)
	}
	if sink.afterCl != 0 {
		t.Fatalf("%d messages written after the end", sink.afterCl)
	}
	next := make([]uint32, senders)
	for _, f := range sink.got {
		g, i := binary.BigEndian.Uint32(f), binary.BigEndian.Uint32(f[4:])
		if i != next[g] {
			t.Fatalf("sender %d: message %d written when %d was next", g, i, next[g])
		}
		next[g]++
	}
}

// TestOutWriterSendsDirectly: a message sent while nothing is queued and
// flow control lets it go is written by its sender without going
// through the mailbox, whose channel is then never made: a call that
// sends as it goes costs no channel, which an idle conversation would
// keep for as long as it lasts.
func TestOutWriterSendsDirectly(t *testing.T) {
	sink := newRecordingSink(true)
	msg := []byte("message")
	ctx := context.Background()
	// Allocations of a new outWriter's mailbox and one send: the mailbox
	// alone, the channel a queued send would make not among them.
	withMailbox := testing.AllocsPerRun(100, func() {
		o := &outWriter{out: mailbox.New[[]byte](8)}
		o.attach(sink)
		if err := o.send(ctx, msg, false); err != nil {
			t.Fatal(err)
		}
	})
	mailboxOnly := testing.AllocsPerRun(100, func() {
		o := &outWriter{out: mailbox.New[[]byte](8)}
		o.attach(sink)
	})
	if withMailbox != mailboxOnly {
		t.Fatalf("a send made %v allocations beyond the mailbox's %v; want none (written directly)", withMailbox-mailboxOnly, mailboxOnly)
	}

	// Held back by flow control, the message still goes, once the window
	// opens, and the ones sent meanwhile after it.
	sink = newRecordingSink(false)
	o := &outWriter{out: mailbox.New[[]byte](8)}
	o.attach(sink)
	for _, m := range []string{"first", "second", "third"} {
		if err := o.send(ctx, []byte(m), false); err != nil {
			t.Fatal(err)
		}
	}
	sink.setOpen(true)
	if n, _ := sink.waitWritten(3, false); n != 3 {
		t.Fatalf("%d of 3 messages written once the window opened", n)
	}
	for i, m := range []string{"first", "second", "third"} {
		if string(sink.got[i]) != m {
			t.Fatalf("message %d written is %q, want %q", i, sink.got[i], m)
		}
	}
}
