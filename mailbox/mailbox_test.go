package mailbox_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleyrpc/parley/mailbox"
	"github.com/parleyrpc/parley/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitCtx bounds a test's waiting generously, so it only fires on a hang.
func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func recvAll[T any](t *testing.T, mb *mailbox.Mailbox[T]) ([]T, error) {
	t.Helper()
	ctx := waitCtx(t)
	var out []T
	for {
		v, err := mb.Recv(ctx)
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
}

func TestOrdering(t *testing.T) {
	for _, capacity := range []int{0, 1, 7, 100} {
		mb := mailbox.New[int](capacity)
		want := make([]int, 50)
		go func() {
			for i := range want {
				if err := mb.Send(context.Background(), i); err != nil {
					t.Errorf("Send: %v", err)
				}
			}
			mb.Close(mailbox.End{})
		}()
		for i := range want {
			want[i] = i
		}
		got, err := recvAll(t, mb)
		if err != io.EOF || !slices.Equal(got, want) {
			t.Errorf("cap %d: got %v, %v", capacity, got, err)
		}
	}
}

func TestSendBackpressure(t *testing.T) {
	mb := mailbox.New[int](2)
	ctx := context.Background()
	mb.Send(ctx, 1)
	mb.Send(ctx, 2)
	if mb.Len() != 2 || mb.Cap() != 2 {
		t.Fatalf("Len %d Cap %d", mb.Len(), mb.Cap())
	}

	t.Run("honours ctx", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
		defer cancel()
		if err := mb.Send(cctx, 3); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Send on full mailbox = %v, want DeadlineExceeded", err)
		}
		cctx, cancel = context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() { errc <- mb.Send(cctx, 3) }()
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("Send = %v, want Canceled", err)
		}
		if mb.Len() != 2 {
			t.Fatalf("a failed Send delivered: Len %d", mb.Len())
		}
	})
	t.Run("unblocks on receive", func(t *testing.T) {
		errc := make(chan error, 1)
		go func() { errc <- mb.Send(ctx, 3) }()
		select {
		case err := <-errc:
			t.Fatalf("Send on full mailbox returned %v without waiting", err)
		case <-time.After(10 * time.Millisecond):
		}
		if v, _ := mb.Recv(waitCtx(t)); v != 1 {
			t.Fatalf("Recv = %d", v)
		}
		if err := <-errc; err != nil {
			t.Fatalf("Send = %v", err)
		}
		mb.Close(mailbox.End{})
		if got, err := recvAll(t, mb); !slices.Equal(got, []int{2, 3}) || err != io.EOF {
			t.Fatalf("rest = %v, %v", got, err)
		}
	})
}

func TestTrySend(t *testing.T) {
	mb := mailbox.New[string](1)
	if err := mb.TrySend("a"); err != nil {
		t.Fatal(err)
	}
	if err := mb.TrySend("b"); err != mailbox.ErrFull {
		t.Fatalf("TrySend on full = %v, want ErrFull", err)
	}
	mb.Close(mailbox.End{})
	if err := mb.TrySend("c"); err != mailbox.ErrClosed {
		t.Fatalf("TrySend after Close = %v, want ErrClosed", err)
	}
	if got, err := recvAll(t, mb); !slices.Equal(got, []string{"a"}) || err != io.EOF {
		t.Fatalf("got %v, %v", got, err)
	}
	if err := mailbox.New[int](0).TrySend(1); err != mailbox.ErrFull {
		t.Fatalf("TrySend without receiver on capacity 0 = %v", err)
	}
}

func TestSendDropOldest(t *testing.T) {
	tests := []struct {
		capacity    int
		send        []int
		wantDropped []int // per send
		want        []int // what remains, in order
	}{
		{capacity: 3, send: []int{1, 2, 3}, wantDropped: []int{0, 0, 0}, want: []int{1, 2, 3}},
		{capacity: 3, send: []int{1, 2, 3, 4, 5}, wantDropped: []int{0, 0, 0, 1, 1}, want: []int{3, 4, 5}},
		{capacity: 1, send: []int{1, 2, 3}, wantDropped: []int{0, 1, 1}, want: []int{3}},
		{capacity: 0, send: []int{1, 2}, wantDropped: []int{1, 1}, want: nil}, // no receiver: v itself is lost
	}
	for _, tt := range tests {
		mb := mailbox.New[int](tt.capacity)
		var dropped []int
		for _, v := range tt.send {
			d, err := mb.SendDropOldest(v)
			if err != nil {
				t.Fatal(err)
			}
			dropped = append(dropped, d)
		}
		mb.Close(mailbox.End{})
		got, err := recvAll(t, mb)
		if !slices.Equal(dropped, tt.wantDropped) || !slices.Equal(got, tt.want) || err != io.EOF {
			t.Errorf("cap %d send %v: dropped %v, kept %v, %v; want %v, %v", tt.capacity, tt.send, dropped, got, err, tt.wantDropped, tt.want)
		}
		if _, err := mb.SendDropOldest(9); err != mailbox.ErrClosed {
			t.Errorf("SendDropOldest after Close = %v", err)
		}
	}
}

func TestTerminalEvent(t *testing.T) {
	errFailed := errors.New("failed")
	tests := []struct {
		name    string
		end     mailbox.End
		wantErr error
	}{
		{"clean", mailbox.End{Trailer: wire.Metadata{"k": {"v"}}}, io.EOF},
		{"failure", mailbox.End{Err: errFailed, Trailer: wire.Metadata{"k": {"v"}}}, errFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mb := mailbox.New[int](4)
			mb.Send(context.Background(), 1)
			mb.Send(context.Background(), 2)
			if _, ok := mb.End(); ok {
				t.Fatal("End reports closed before Close")
			}
			if !mb.Close(tt.end) {
				t.Fatal("first Close returned false")
			}
			end, ok := mb.End()
			if !ok || end.Err != tt.end.Err || end.Trailer["k"][0] != "v" {
				t.Fatalf("End = %+v, %v", end, ok)
			}
			// Every message accepted before Close comes before the end.
			got, err := recvAll(t, mb)
			if !slices.Equal(got, []int{1, 2}) || err != tt.wantErr {
				t.Fatalf("got %v then %v, want [1 2] then %v", got, err, tt.wantErr)
			}
			// And the mailbox stays closed: the same end, every time, every way.
			for range 3 {
				if _, err := mb.Recv(waitCtx(t)); err != tt.wantErr {
					t.Fatalf("Recv after end = %v", err)
				}
				if _, ok, err := mb.TryRecv(); ok || err != tt.wantErr {
					t.Fatalf("TryRecv after end = %v, %v", ok, err)
				}
			}
			if _, open := <-mb.C(); open {
				t.Fatal("C open after end")
			}
			if err := mb.Send(context.Background(), 3); err != mailbox.ErrClosed {
				t.Fatalf("Send after Close = %v", err)
			}
			if mb.Close(mailbox.End{Err: errors.New("other")}) {
				t.Fatal("second Close returned true")
			}
			if end, _ := mb.End(); end.Err != tt.end.Err {
				t.Fatal("second Close changed the end")
			}
		})
	}
}

func TestTryRecv(t *testing.T) {
	mb := mailbox.New[int](2)
	if _, ok, err := mb.TryRecv(); ok || err != nil {
		t.Fatalf("TryRecv on empty = %v, %v", ok, err)
	}
	mb.Send(context.Background(), 7)
	mb.Close(mailbox.End{})
	if v, ok, err := mb.TryRecv(); v != 7 || !ok || err != nil {
		t.Fatalf("TryRecv = %v, %v, %v", v, ok, err)
	}
	if _, ok, err := mb.TryRecv(); ok || err != io.EOF {
		t.Fatalf("TryRecv at end = %v, %v", ok, err)
	}
}

func TestCloseConcurrent(t *testing.T) {
	mb := mailbox.New[int](1)
	const n = 64
	var wins atomic.Int32
	var winner atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			if mb.Close(mailbox.End{Err: errors.New(string(rune('A' + i%26)))}) {
				wins.Add(1)
				winner.Store(int32(i))
			}
		})
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d Close calls returned true, want 1", wins.Load())
	}
	end, ok := mb.End()
	if want := string(rune('A' + winner.Load()%26)); !ok || end.Err.Error() != want {
		t.Fatalf("End = %v, want the winner's %q", end.Err, want)
	}
}

func TestCloseReleasesBlockedSenders(t *testing.T) {
	mb := mailbox.New[int](0)
	const n = 8
	errs := make(chan error, n)
	for i := range n {
		go func() { errs <- mb.Send(context.Background(), i) }()
	}
	mb.Close(mailbox.End{})
	for range n {
		if err := <-errs; err != mailbox.ErrClosed {
			t.Fatalf("blocked Send = %v, want ErrClosed", err)
		}
	}
}

// Done and End agree: once Done is closed, End reports the terminal event.
func TestDoneThenEnd(t *testing.T) {
	errFailed := errors.New("failed")
	for range 2000 {
		mb := mailbox.New[int](0)
		got := make(chan error, 1)
		go func() {
			<-mb.Done()
			end, ok := mb.End()
			if !ok {
				got <- errors.New("End not ok after Done")
				return
			}
			got <- end.Err
		}()
		mb.Close(mailbox.End{Err: errFailed})
		if err := <-got; err != errFailed {
			t.Fatalf("End after Done: %v", err)
		}
	}
}

func TestRecvCancelKeepsMailbox(t *testing.T) {
	mb := mailbox.New[int](1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := mb.Recv(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Recv = %v", err)
	}
	if _, closed := mb.End(); closed {
		t.Fatal("abandoned Recv closed the mailbox")
	}
	select {
	case <-mb.Done():
		t.Fatal("abandoned Recv closed Done")
	default:
	}
	mb.Send(context.Background(), 5)
	if v, err := mb.Recv(waitCtx(t)); v != 5 || err != nil {
		t.Fatalf("Recv after abandoned Recv = %v, %v", v, err)
	}
}

func TestSelect(t *testing.T) {
	mb := mailbox.New[string](2)
	other := make(chan string, 1)
	other <- "other"
	mb.Send(context.Background(), "a")
	var got []string
	for len(got) < 2 {
		select {
		case v := <-mb.C():
			got = append(got, v)
		case v := <-other:
			got = append(got, v)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "other"}) {
		t.Fatalf("got %v", got)
	}
	// Abandoning the select (a timeout) leaves the mailbox usable.
	select {
	case v := <-mb.C():
		t.Fatalf("unexpected %q", v)
	case <-time.After(time.Millisecond):
	}
	mb.Send(context.Background(), "b")
	mb.Close(mailbox.End{Err: io.ErrUnexpectedEOF})
	var rest []string
	for v := range mb.C() {
		rest = append(rest, v)
	}
	end, ok := mb.End()
	if !slices.Equal(rest, []string{"b"}) || !ok || end.Err != io.ErrUnexpectedEOF {
		t.Fatalf("rest %v end %v %v", rest, end, ok)
	}
}

// Many senders and receivers: every accepted message is received exactly
// once, each sender's messages in order (checked per receiver: one receiver
// sees a subsequence of each sender's order), and every message whose Send
// returned nil is received even when Close races with the senders.
func TestConcurrentSendersReceivers(t *testing.T) {
	const senders, receivers, perSender = 8, 4, 2000
	mb := mailbox.New[[2]int](16)
	var accepted atomic.Int64
	var swg, rwg sync.WaitGroup
	for s := range senders {
		swg.Go(func() {
			for i := range perSender {
				var err error
				switch i % 3 {
				case 0:
					err = mb.Send(context.Background(), [2]int{s, i})
				case 1:
					for {
						if err = mb.TrySend([2]int{s, i}); err != mailbox.ErrFull {
							break
						}
					}
				case 2:
					err = mb.Send(context.Background(), [2]int{s, i})
				}
				if err == mailbox.ErrClosed {
					return
				}
				if err != nil {
					t.Errorf("send: %v", err)
					return
				}
				accepted.Add(1)
			}
		})
	}
	results := make([][][2]int, receivers)
	for r := range receivers {
		rwg.Go(func() {
			for {
				v, err := mb.Recv(context.Background())
				if err != nil {
					if err != io.EOF {
						t.Errorf("Recv: %v", err)
					}
					return
				}
				results[r] = append(results[r], v)
			}
		})
	}
	// Close while senders are still going.
	deadline := time.Now().Add(10 * time.Second)
	for accepted.Load() < senders*perSender/4 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Microsecond)
	}
	mb.Close(mailbox.End{})
	swg.Wait()
	rwg.Wait()

	seen := make(map[[2]int]bool)
	for _, res := range results {
		last := make([]int, senders)
		for i := range last {
			last[i] = -1
		}
		for _, v := range res {
			if seen[v] {
				t.Fatalf("%v received twice", v)
			}
			seen[v] = true
			if v[1] <= last[v[0]] {
				t.Fatalf("sender %d out of order: %d after %d", v[0], v[1], last[v[0]])
			}
			last[v[0]] = v[1]
		}
	}
	if int64(len(seen)) != accepted.Load() {
		t.Fatalf("received %d, accepted %d", len(seen), accepted.Load())
	}
}

// FuzzMailbox drives one mailbox with a sequence of operations from a
// single goroutine and checks it against a slice model.
func FuzzMailbox(f *testing.F) {
	f.Add(uint8(2), []byte{0, 0, 0, 1, 2, 2, 3, 0, 2})
	f.Add(uint8(0), []byte{0, 1, 2, 3})
	f.Add(uint8(5), []byte{1, 1, 1, 1, 1, 1, 1, 2, 1, 2, 3, 2, 2})
	f.Fuzz(func(t *testing.T, capacity uint8, ops []byte) {
		c := int(capacity % 8)
		mb := mailbox.New[int](c)
		var model []int
		closed := false
		next := 0
		for _, op := range ops {
			switch op % 4 {
			case 0: // TrySend
				err := mb.TrySend(next)
				switch {
				case closed:
					if err != mailbox.ErrClosed {
						t.Fatalf("TrySend after close = %v", err)
					}
				case len(model) < c:
					if err != nil {
						t.Fatalf("TrySend with room = %v", err)
					}
					model = append(model, next)
				default:
					if err != mailbox.ErrFull {
						t.Fatalf("TrySend when full = %v", err)
					}
				}
			case 1: // SendDropOldest
				d, err := mb.SendDropOldest(next)
				switch {
				case closed:
					if err != mailbox.ErrClosed {
						t.Fatalf("SendDropOldest after close = %v", err)
					}
				case c == 0:
					if d != 1 || err != nil {
						t.Fatalf("SendDropOldest cap 0 = %d, %v", d, err)
					}
				default:
					want := 0
					if len(model) == c {
						model, want = model[1:], 1
					}
					model = append(model, next)
					if d != want || err != nil {
						t.Fatalf("SendDropOldest = %d, %v; want %d", d, err, want)
					}
				}
			case 2: // TryRecv
				v, ok, err := mb.TryRecv()
				switch {
				case len(model) > 0:
					if !ok || v != model[0] || err != nil {
						t.Fatalf("TryRecv = %d, %v, %v; want %d", v, ok, err, model[0])
					}
					model = model[1:]
				case closed:
					if ok || err != io.EOF {
						t.Fatalf("TryRecv at end = %v, %v", ok, err)
					}
				default:
					if ok || err != nil {
						t.Fatalf("TryRecv on empty = %v, %v", ok, err)
					}
				}
			case 3:
				if mb.Close(mailbox.End{}) == closed {
					t.Fatalf("Close returned %v with closed=%v", !closed, closed)
				}
				closed = true
			}
			next++
			if mb.Len() != len(model) {
				t.Fatalf("Len = %d, model %d", mb.Len(), len(model))
			}
		}
	})
}

// TestUnusedMailbox: a mailbox nothing was sent to makes its channels
// only when asked for them, and behaves the same however its first use
// and its Close are ordered: a never-used mailbox allocates only itself.
func TestUnusedMailbox(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() {
		mb := mailbox.New[[]byte](16)
		if mb.Len() != 0 || mb.Cap() != 16 {
			t.Fatal("a new mailbox is not empty")
		}
		if _, ok, err := mb.TryRecv(); ok || err != nil {
			t.Fatal("TryRecv on a new mailbox")
		}
		if _, ended := mb.End(); ended {
			t.Fatal("a new mailbox has ended")
		}
	}); n > 1 {
		t.Fatalf("a mailbox nobody used made %v allocations, want 1 (itself)", n)
	}

	end := mailbox.End{Err: errors.New("gone")}
	// Closed before anything else: everything made afterwards is closed.
	mb := mailbox.New[int](4)
	mb.Close(end)
	select {
	case <-mb.Done():
	default:
		t.Fatal("Done made after Close is open")
	}
	if _, open := <-mb.C(); open {
		t.Fatal("C made after Close is open")
	}
	if _, err := mb.Recv(waitCtx(t)); err == nil || err.Error() != "gone" {
		t.Fatalf("Recv after Close: %v, want the end's error", err)
	}
	if _, ok, err := mb.TryRecv(); ok || err == nil {
		t.Fatalf("TryRecv after Close: %v, %v", ok, err)
	}
	if err := mb.TrySend(1); !errors.Is(err, mailbox.ErrClosed) {
		t.Fatalf("TrySend after Close: %v", err)
	}

	// Waited on first, closed while waited on: the waiters see it.
	mb = mailbox.New[int](4)
	done, c := mb.Done(), mb.C()
	got := make(chan error, 1)
	go func() { _, err := mb.Recv(waitCtx(t)); got <- err }()
	mb.Close(mailbox.End{})
	<-done
	if _, open := <-c; open {
		t.Fatal("C stayed open after Close")
	}
	if err := <-got; err != io.EOF {
		t.Fatalf("a waiting Recv got %v, want io.EOF", err)
	}

	// A sender waiting on a full mailbox whose Done nobody made is
	// released by Close.
	mb = mailbox.New[int](0)
	sent := make(chan error, 1)
	go func() { sent <- mb.Send(waitCtx(t), 1) }()
	time.Sleep(10 * time.Millisecond)
	mb.Close(mailbox.End{})
	if err := <-sent; !errors.Is(err, mailbox.ErrClosed) {
		t.Fatalf("a blocked Send got %v, want ErrClosed", err)
	}
}
