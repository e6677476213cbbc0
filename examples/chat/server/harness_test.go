package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/parleyrpc/parley/examples/chat/chatpb"
	"github.com/parleyrpc/parley/examples/chat/server"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// patience bounds every wait in these tests: generous, so that it only
// fires when something is wrong, never on a slow -race machine.
const patience = 10 * time.Second

var quiet = slog.New(slog.DiscardHandler)

// testServer is a chat server on an ephemeral loopback port.
type testServer struct {
	*server.Server
	addr   string
	served chan error
}

// start serves a chat server with cfg until the test ends.
func start(t *testing.T, cfg server.Config) *testServer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: server.New(cfg, runtime.WithLogger(quiet)), addr: l.Addr().String(), served: make(chan error, 1)}
	go func() { ts.served <- ts.Serve(l) }()
	t.Cleanup(func() { ts.shutdown(t) })
	return ts
}

// shutdown stops the server and waits for Serve to return. Idempotent.
func (ts *testServer) shutdown(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := ts.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err, ok := <-ts.served; ok {
		if !errors.Is(err, runtime.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
		close(ts.served) // a later shutdown finds it closed
	}
}

// conn is one client connection; its net.Conns are kept so a test can cut
// them.
type conn struct {
	chatpb.ChatClient
	raw   *runtime.Client // for members that know nothing of the protocol
	mu    sync.Mutex
	conns []net.Conn
}

// dial connects a new client (its own HTTP/2 connection) for the test.
func dial(t *testing.T, addr string) *conn {
	t.Helper()
	c := &conn{}
	client, err := runtime.Dial(addr, runtime.WithLogger(quiet), runtime.WithDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		nc, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.mu.Lock()
			c.conns = append(c.conns, nc)
			c.mu.Unlock()
		}
		return nc, err
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	c.ChatClient = chatpb.NewChatClient(client)
	c.raw = client
	return c
}

// cut closes the connection under the client, as a crash or a network
// failure would.
func (c *conn) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, nc := range c.conns {
		nc.Close()
	}
}

// member is a test member's conversation. Unless opened with paused set, a
// goroutine collects every event as it arrives (without limit, so the
// member is never slow); read then reads them in order. Its call is the
// runtime's raw call, not the checked conversation: the member sends
// whatever a test tells it, so that the server's own checks are tested.
type member struct {
	t    *testing.T
	nick string
	call *runtime.ClientCall[chatpb.ClientEvent, chatpb.ServerEvent]

	mu      sync.Mutex
	events  []*chatpb.ServerEvent // guarded by mu; appended by the collector
	changed chan struct{}         // guarded by mu; closed and replaced on append
	started bool                  // guarded by mu; set by collect
	next    int                   // read's cursor; test goroutine only
	done    chan struct{}         // closed by the collector once the call has ended
	err     error                 // the call's status (nil for OK); written before done
}

// open starts a conversation for nick on c.
func open(t *testing.T, c *conn, nick string) *member {
	t.Helper()
	m := openPaused(t, c, nick)
	m.collect()
	return m
}

// openPaused starts a conversation that reads nothing until collect.
func openPaused(t *testing.T, c *conn, nick string) *member {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	call, err := runtime.Open[chatpb.ClientEvent, chatpb.ServerEvent](ctx, c.raw, chatpb.Chat_Converse_FullMethodName)
	if err != nil {
		t.Fatal(err)
	}
	m := &member{t: t, nick: nick, call: call, changed: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() {
		call.Cancel()
		if m.collecting() {
			<-m.done
		}
	})
	return m
}

func (m *member) collecting() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.started
}

// collect starts reading the member's events.
func (m *member) collect() {
	m.mu.Lock()
	m.started = true
	m.mu.Unlock()
	go func() {
		defer close(m.done)
		for {
			ev, err := m.call.Recv()
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				m.err = err
				return
			}
			m.mu.Lock()
			m.events = append(m.events, ev)
			close(m.changed)
			m.changed = make(chan struct{})
			m.mu.Unlock()
		}
	}()
}

func (m *member) send(ev *chatpb.ClientEvent) {
	m.t.Helper()
	if err := m.call.Send(ev); err != nil {
		m.t.Fatalf("%s: send %v: %v", m.nick, ev, err)
	}
}

func (m *member) join(room string) {
	m.t.Helper()
	m.send(&chatpb.ClientEvent{Event: &chatpb.ClientEvent_Join{Join: &chatpb.Join{Room: room, Nick: m.nick}}})
}

func (m *member) say(text string) {
	m.t.Helper()
	m.send(&chatpb.ClientEvent{Event: &chatpb.ClientEvent_Say{Say: &chatpb.Say{Text: text}}})
}

func (m *member) who() {
	m.t.Helper()
	m.send(&chatpb.ClientEvent{Event: &chatpb.ClientEvent_Who{Who: &chatpb.Who{}}})
}

func (m *member) leave() {
	m.t.Helper()
	m.send(&chatpb.ClientEvent{Event: &chatpb.ClientEvent_Leave{Leave: &chatpb.Leave{}}})
}

// read returns the next event, failing the test if none comes in time or
// the call ends first.
func (m *member) read() *chatpb.ServerEvent {
	m.t.Helper()
	deadline := time.NewTimer(patience)
	defer deadline.Stop()
	for {
		m.mu.Lock()
		if m.next < len(m.events) {
			ev := m.events[m.next]
			m.next++
			m.mu.Unlock()
			return ev
		}
		changed := m.changed
		m.mu.Unlock()
		select {
		case <-changed:
		case <-m.done:
			m.mu.Lock()
			more := m.next < len(m.events)
			m.mu.Unlock()
			if !more {
				m.t.Fatalf("%s: the call ended (%v) while waiting for an event", m.nick, m.err)
			}
		case <-deadline.C:
			m.t.Fatalf("%s: no event within %v", m.nick, patience)
		}
	}
}

// skipTo reads events until one satisfies ok, and returns it.
func (m *member) skipTo(ok func(*chatpb.ServerEvent) bool) *chatpb.ServerEvent {
	m.t.Helper()
	for {
		if ev := m.read(); ok(ev) {
			return ev
		}
	}
}

// Typed views of an event: nil unless ev is of that case.

func joinedOf(ev *chatpb.ServerEvent) *chatpb.Joined {
	if e, ok := ev.Event.(*chatpb.ServerEvent_Joined); ok {
		return e.Joined
	}
	return nil
}

func messageOf(ev *chatpb.ServerEvent) *chatpb.ChatMessage {
	if e, ok := ev.Event.(*chatpb.ServerEvent_Message); ok {
		return e.Message
	}
	return nil
}

func presenceOf(ev *chatpb.ServerEvent) *chatpb.Presence {
	if e, ok := ev.Event.(*chatpb.ServerEvent_Presence); ok {
		return e.Presence
	}
	return nil
}

func membersOf(ev *chatpb.ServerEvent) *chatpb.Members {
	if e, ok := ev.Event.(*chatpb.ServerEvent_Members); ok {
		return e.Members
	}
	return nil
}

func leftOf(ev *chatpb.ServerEvent) *chatpb.Left {
	if e, ok := ev.Event.(*chatpb.ServerEvent_Left); ok {
		return e.Left
	}
	return nil
}

// isPresence matches a presence event about nick of the given kind.
func isPresence(nick string, kind chatpb.PresenceKind) func(*chatpb.ServerEvent) bool {
	return func(ev *chatpb.ServerEvent) bool {
		p := presenceOf(ev)
		return p != nil && p.Nick == nick && p.Kind == kind
	}
}

// status waits for the call to end and returns its status (nil for OK),
// discarding the events not read yet.
func (m *member) status() error {
	m.t.Helper()
	select {
	case <-m.done:
		return m.err
	case <-time.After(patience):
		m.t.Fatalf("%s: the call did not end within %v", m.nick, patience)
		return nil
	}
}

// wantCode fails the test unless err is a status with code.
func wantCode(t *testing.T, err error, code wire.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("status OK, want %v", code)
	}
	if got := wire.CodeOf(err); got != code {
		t.Fatalf("status %v, want %v", err, code)
	}
}

// eventually polls cond, a few milliseconds apart, until it holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// seen reports whether any event received so far satisfies ok, without
// moving read's cursor.
func (m *member) seen(ok func(*chatpb.ServerEvent) bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ev := range m.events {
		if ok(ev) {
			return true
		}
	}
	return false
}

// waitSeen waits until some event received so far satisfies ok, without
// moving read's cursor.
func (m *member) waitSeen(what string, ok func(*chatpb.ServerEvent) bool) {
	m.t.Helper()
	deadline := time.NewTimer(patience)
	defer deadline.Stop()
	for {
		m.mu.Lock()
		changed := m.changed
		m.mu.Unlock()
		if m.seen(ok) {
			return
		}
		select {
		case <-changed:
		case <-m.done:
			if !m.seen(ok) {
				m.t.Fatalf("%s: the call ended (%v) before %s", m.nick, m.err, what)
			}
			return
		case <-deadline.C:
			m.t.Fatalf("%s: no %s within %v", m.nick, what, patience)
		}
	}
}
