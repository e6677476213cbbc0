package actor

import (
	"context"
	"log/slog"
	"time"
)

// Overflow is what Tell and Ask do when an actor's mailbox is full. It is
// chosen once, at Spawn, with WithOverflow.
type Overflow int

const (
	// Block makes Tell and Ask wait for room, bounded by the caller's
	// context: backpressure. This is the default.
	Block Overflow = iota
	// Reject makes Tell and Ask return ErrMailboxFull at once.
	Reject
	// DropOldest makes room by evicting the oldest queued message; Tell and
	// Ask never wait. An evicted Ask fails with ErrDropped; evictions are
	// counted by Ref.Dropped.
	DropOldest
)

// String returns the policy's name.
func (o Overflow) String() string {
	switch o {
	case Block:
		return "block"
	case Reject:
		return "reject"
	case DropOldest:
		return "drop-oldest"
	}
	return "overflow(?)"
}

// Option configures Spawn. Options are values without state of their own and
// may be shared between Spawn calls and goroutines.
type Option interface {
	applyActor(*config)
}

type optionFunc func(*config)

func (f optionFunc) applyActor(c *config) { f(c) }

// Defaults used by Spawn when no option says otherwise.
const (
	DefaultMailboxSize = 64
	DefaultIntensity   = 5
	DefaultPeriod      = 10 * time.Second
	DefaultBackoffMin  = 10 * time.Millisecond
	DefaultBackoffMax  = time.Second
)

// config is built by Spawn from its options and read-only afterwards.
type config struct {
	name       string
	size       int
	overflow   Overflow
	init       func(ctx context.Context) error
	stop       func(ctx context.Context, reason error)
	intensity  int
	period     time.Duration
	backoffMin time.Duration
	backoffMax time.Duration
	logger     *slog.Logger
}

func newConfig(opts []Option) *config {
	c := &config{
		name:       "actor",
		size:       DefaultMailboxSize,
		overflow:   Block,
		intensity:  DefaultIntensity,
		period:     DefaultPeriod,
		backoffMin: DefaultBackoffMin,
		backoffMax: DefaultBackoffMax,
	}
	for _, o := range opts {
		if o != nil {
			o.applyActor(c)
		}
	}
	if c.size < 1 {
		c.size = 1
	}
	if c.intensity < 0 {
		c.intensity = 0
	}
	if c.backoffMin < 0 {
		c.backoffMin = 0
	}
	if c.backoffMax < c.backoffMin {
		c.backoffMax = c.backoffMin
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	return c
}

// WithName names the actor in log records and errors. The default is
// "actor".
func WithName(name string) Option {
	return optionFunc(func(c *config) { c.name = name })
}

// WithMailbox sets how many messages the actor's mailbox buffers. The
// default is DefaultMailboxSize (64); values below 1 mean 1.
func WithMailbox(size int) Option {
	return optionFunc(func(c *config) { c.size = size })
}

// WithOverflow sets what Tell and Ask do when the mailbox is full. The
// default is Block.
func WithOverflow(p Overflow) Option {
	return optionFunc(func(c *config) { c.overflow = p })
}

// WithInit sets a hook that runs on the actor's goroutine before the first
// message and again before the first message after every restart: it is the
// place to (re)build the state the handler owns. An error or panic from it is
// a failure like a handler's; returning ErrStop stops the actor normally. The
// default is no hook.
func WithInit(fn func(ctx context.Context) error) Option {
	return optionFunc(func(c *config) { c.init = fn })
}

// WithStop sets a hook that runs on the actor's goroutine each time an
// incarnation ends: before a restart, with the failure as reason, and once at
// the final stop, with the stop reason (nil for a normal stop). It runs only
// after an init that succeeded (or when there is no init hook), so it can
// release what init acquired. Its ctx is never cancelled; the hook must not
// block for long. The default is no hook.
func WithStop(fn func(ctx context.Context, reason error)) Option {
	return optionFunc(func(c *config) { c.stop = fn })
}

// WithRestart sets the restart budget, as Erlang/OTP's supervisor intensity
// and period: the actor is restarted after a failure unless it has already
// been restarted intensity times within the last period, in which case it
// stops with a *RestartLimitError. Intensity 0 means a failure always stops
// the actor. The default is DefaultIntensity (5) restarts in DefaultPeriod
// (10 s).
func WithRestart(intensity int, period time.Duration) Option {
	return optionFunc(func(c *config) { c.intensity, c.period = intensity, period })
}

// WithBackoff sets the delay before a restart: min after the first failure
// in the budget's period, doubling with each further restart in the period,
// at most max. Zero min restarts at once. The default is DefaultBackoffMin
// (10 ms) to DefaultBackoffMax (1 s). Messages keep queuing during the
// delay.
func WithBackoff(min, max time.Duration) Option {
	return optionFunc(func(c *config) { c.backoffMin, c.backoffMax = min, max })
}

// WithLogger sets where failures, restarts and stops are logged. Every
// failure is logged at level Error; a stop past the restart budget too. The
// default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return optionFunc(func(c *config) { c.logger = l })
}
