package actor

import (
	"errors"
	"fmt"
	"time"

	"github.com/parleyrpc/parley/mailbox"
)

// actorError is a sentinel error that also matches a mailbox sentinel under
// errors.Is, so code written against mailbox.Sender keeps working when the
// sender is a *Ref.
type actorError struct {
	msg string
	is  error
}

func (e *actorError) Error() string        { return e.msg }
func (e *actorError) Is(target error) bool { return e.is != nil && target == e.is }

var (
	// ErrStopped is returned by Tell, Ask and Send when the actor has stopped
	// or is stopping, and is the error an Ask receives when its request was
	// discarded by a stop. It matches mailbox.ErrClosed under errors.Is.
	ErrStopped error = &actorError{msg: "actor: stopped", is: mailbox.ErrClosed}

	// ErrMailboxFull is returned by Tell and Ask on an actor spawned with the
	// Reject overflow policy when its mailbox is full, and by TrySend on any
	// actor. It matches mailbox.ErrFull under errors.Is.
	ErrMailboxFull error = &actorError{msg: "actor: mailbox full", is: mailbox.ErrFull}

	// ErrDropped is the error an Ask receives when its request was evicted
	// from the mailbox of an actor spawned with the DropOldest policy.
	ErrDropped = errors.New("actor: request dropped: mailbox full")

	// ErrStop may be returned by a handler or an init hook to stop the actor
	// normally: it is not a failure, nothing is restarted, and Err reports
	// nil. Messages still queued are discarded as with Stop(Discard).
	ErrStop = errors.New("actor: stop requested by handler")

	// ErrSlowConsumer is the default reason a Group gives a member that it
	// disconnects because the member's queue was full.
	ErrSlowConsumer = errors.New("actor: group member too slow: queue full")

	// ErrGroupClosed is the reason members of a closed Group are given, and
	// the error a member joining a closed Group reports at once.
	ErrGroupClosed = errors.New("actor: group closed")

	// ErrRecipientClosed is the reason a Group member ends with when its
	// recipient (a conversation's outbound mailbox, an actor) is closed.
	ErrRecipientClosed error = &actorError{msg: "actor: group member's recipient closed", is: mailbox.ErrClosed}
)

// PanicError is the failure recorded when a handler or hook panics. The
// supervisor treats it like any other failure: it is logged, counted against
// the restart budget, and given to the Ask whose request caused it.
type PanicError struct {
	// Value is what the handler passed to panic.
	Value any
	// Stack is the goroutine's stack at the panic, as runtime/debug.Stack
	// formats it.
	Stack []byte
}

// Error implements error; it names the panic value but not the stack.
func (e *PanicError) Error() string { return fmt.Sprintf("actor: handler panicked: %v", e.Value) }

// Unwrap returns the panic value if it is an error, so errors.Is and
// errors.As see through a panic(err).
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}

// RestartLimitError is the reason an actor stops when it fails more often
// than its restart budget allows (see WithRestart). Err, Wait and every
// watcher report it; Last is the failure that exhausted the budget.
type RestartLimitError struct {
	// Name is the actor's name (WithName).
	Name string
	// Restarts is how many restarts the actor had inside Period before the
	// final failure.
	Restarts int
	// Period is the budget's window.
	Period time.Duration
	// Last is the final failure: the handler's error, a *PanicError, or an
	// init hook's error.
	Last error
}

// Error implements error.
func (e *RestartLimitError) Error() string {
	return fmt.Sprintf("actor %q: restart budget exhausted (%d restarts in %s): %v", e.Name, e.Restarts, e.Period, e.Last)
}

// Unwrap returns the last failure.
func (e *RestartLimitError) Unwrap() error { return e.Last }
