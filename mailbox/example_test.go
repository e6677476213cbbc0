package mailbox_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/parleyrpc/parley/mailbox"
	"github.com/parleyrpc/parley/wire"
)

// A producer sends and closes; the consumer receives every message, then
// the terminal event.
func Example() {
	ctx := context.Background()
	mb := mailbox.New[string](2)
	go func() {
		for _, s := range []string{"a", "b", "c"} {
			mb.Send(ctx, s) // blocks while 2 are buffered: backpressure
		}
		mb.Close(mailbox.End{Trailer: wire.Metadata{"done-by": {"producer"}}})
	}()
	for {
		s, err := mb.Recv(ctx)
		if err == io.EOF {
			end, _ := mb.End()
			fmt.Println("clean end, trailer:", end.Trailer["done-by"])
			return
		}
		fmt.Println(s)
	}
	// Output:
	// a
	// b
	// c
	// clean end, trailer: [producer]
}

// C makes a mailbox usable in a select; giving up on a receive (here, on a
// timeout) does not end the mailbox.
func ExampleMailbox_C() {
	mb := mailbox.New[int](1)
	select {
	case v := <-mb.C():
		fmt.Println("got", v)
	case <-time.After(10 * time.Millisecond):
		fmt.Println("nothing yet")
	}
	mb.Send(context.Background(), 42)
	mb.Close(mailbox.End{Err: errors.New("peer reset")})
	for v := range mb.C() { // ends when the mailbox is closed and drained
		fmt.Println("got", v)
	}
	end, _ := mb.End()
	fmt.Println("end:", end.Err)
	// Output:
	// nothing yet
	// got 42
	// end: peer reset
}

// TrySend never waits: a full mailbox is reported at once.
func ExampleMailbox_TrySend() {
	mb := mailbox.New[int](1)
	fmt.Println(mb.TrySend(1))
	fmt.Println(mb.TrySend(2))
	mb.Close(mailbox.End{})
	fmt.Println(mb.TrySend(3))
	// Output:
	// <nil>
	// mailbox: full
	// mailbox: closed
}

// SendDropOldest keeps the newest messages: for state where only the latest
// matters (positions, prices, presence).
func ExampleMailbox_SendDropOldest() {
	mb := mailbox.New[int](2)
	for i := 1; i <= 5; i++ {
		mb.SendDropOldest(i)
	}
	mb.Close(mailbox.End{})
	for v := range mb.C() {
		fmt.Println(v)
	}
	// Output:
	// 4
	// 5
}

// Send honours its context while the mailbox is full.
func ExampleMailbox_Send() {
	mb := mailbox.New[int](1)
	mb.Send(context.Background(), 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	fmt.Println(mb.Send(ctx, 2))
	// Output:
	// context deadline exceeded
}
