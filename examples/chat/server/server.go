package server

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleyrpc/parley/actor"
	"github.com/parleyrpc/parley/examples/chat/chatpb"
	"github.com/parleyrpc/parley/health"
	"github.com/parleyrpc/parley/protocol"
	"github.com/parleyrpc/parley/reflection"
	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// Defaults for the zero fields of Config.
const (
	DefaultHistorySize = 50
	DefaultMaxText     = 1024
	DefaultQueueSize   = 64 // Deprecated: Config.QueueSize is ignored.
	DefaultIdleGrace   = 30 * time.Second
	DefaultSayRate     = 20
	DefaultMaxRooms    = 10000
)

// Config tunes a Server. The zero value gives the defaults.
type Config struct {
	// HistorySize is how many recent messages a room keeps, replays to
	// each member who joins and serves from History. The default is
	// DefaultHistorySize (50).
	HistorySize int
	// MaxText is the longest message, in bytes, a member may say. The
	// default is DefaultMaxText (1024).
	MaxText int
	// QueueSize is ignored. It bounded, in events, a member's queue
	// between its room and its conversation, and a member whose queue
	// overflowed was disconnected at once. A member's backlog is now
	// bounded by bytes, a member that falls behind is told with a Gap,
	// and only one that stays behind is disconnected (README.md, "Slow
	// members").
	//
	// Deprecated: the slow-member policy needs no setting.
	QueueSize int
	// IdleGrace is how long a room outlives its last member; a member who
	// joins within it finds the room and its history as they were. Zero
	// means DefaultIdleGrace (30 s); a negative value stops an empty room
	// at once.
	IdleGrace time.Duration
	// SayRate is how many messages per second one member may say, in
	// bursts of up to one second's worth; a join counts as a message, as
	// it makes presence events for a whole room. A member who talks (or
	// hops between rooms) faster is slowed down, not refused: its
	// handler waits before reading on, and HTTP/2 flow control passes the
	// wait back to the member. This keeps one member's flood from making
	// every reader look too slow. Zero means DefaultSayRate (20); a
	// negative value means no limit.
	SayRate float64
	// MaxRooms bounds the rooms the server holds at once, the empty ones
	// within their idle grace included: a join that would create one more
	// ends the call with RESOURCE_EXHAUSTED, while joins to existing rooms
	// go on. A room is an actor (a goroutine and about 18 KiB of heap when
	// empty) plus its history, and any member can create rooms as fast as
	// it can send joins, each living on for IdleGrace; without a bound a
	// single member would grow the server's memory without limit (and
	// ListRooms past what a client accepts). Zero means DefaultMaxRooms
	// (10,000); a negative value means no limit.
	MaxRooms int
	// Logger receives the server's and the room actors' logs. The default
	// is slog.Default().
	Logger *slog.Logger
	// Unchecked serves Converse without checking its protocol: events are
	// not checked against chatpb.ChatConverseProtocol either way, so an
	// event out of order reaches the conversation, which refuses what it
	// cannot handle (a say outside a room ends the call with INTERNAL
	// rather than FAILED_PRECONDITION). It exists to measure what the
	// check costs (the chat-parley-unchecked row of the chat benchmark).
	// The default, false, checks.
	Unchecked bool
}

func (c Config) withDefaults() Config {
	if c.HistorySize <= 0 {
		c.HistorySize = DefaultHistorySize
	}
	if c.MaxText <= 0 {
		c.MaxText = DefaultMaxText
	}
	if c.IdleGrace == 0 {
		c.IdleGrace = DefaultIdleGrace
	}
	if c.SayRate == 0 {
		c.SayRate = DefaultSayRate
	}
	if c.MaxRooms == 0 {
		c.MaxRooms = DefaultMaxRooms
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// ServiceName is the Chat service's name, under which the server reports
// its health.
const ServiceName = "parley.chat.v1.Chat"

// errShuttingDown ends every conversation when the server shuts down.
var errShuttingDown = wire.NewError(wire.Unavailable, "chat server is shutting down")

// Server is a chat server: it serves the Chat service over a
// runtime.Server of its own, which also serves grpc.health.v1.Health (see
// Health). Create it with New, serve with Serve, stop with Shutdown. All
// methods are safe for concurrent use.
//
// Goroutines: an idle member holds none. Each conversation is a Reactor
// (openConverse) whose events the runtime delivers on a goroutine that
// exists only while there are events; each room is an actor whose
// goroutine owns the room's members and history; each member's backlog
// is drained into its call only while events wait, by one of a few
// goroutines shared by the server (drainers), or by one of its own while
// its call is full. The hub below only maps names to rooms.
type Server struct {
	cfg    Config
	rpc    *runtime.Server
	health *health.Server // reports "" and ServiceName; Shutdown marks them NOT_SERVING

	// ctx is the parent of every room actor and is cancelled by Shutdown,
	// which also ends every conversation with UNAVAILABLE.
	ctx    context.Context
	cancel context.CancelFunc

	nextID atomic.Uint64 // conversation IDs, so a room can tell two members with one nick apart over time

	mu     sync.Mutex
	rooms  map[string]*room // guarded by mu; a room removes itself (under mu) before it stops
	closed bool             // guarded by mu; set by Shutdown: no new rooms
	roomWG sync.WaitGroup   // one per room, until its actor and its members' pumps are done

	drainers drainers // the goroutines that deliver members' events
}

// New returns a chat server that serves the Chat service, the standard
// health service, grpc.health.v1.Health, and server reflection
// (grpc.reflection.v1 and v1alpha, for grpcurl), on a runtime.Server
// built with opts. The health service reports SERVING for the server ("")
// and for ServiceName, in msgpack and in protobuf (health.Codec is added
// before opts, so that Kubernetes gRPC probes and grpc-health-probe can
// ask; a codec named "proto" in opts replaces it).
func New(cfg Config, opts ...runtime.ServerOption) *Server {
	s := &Server{
		cfg:    cfg.withDefaults(),
		rpc:    runtime.NewServer(append([]runtime.ServerOption{runtime.WithCodec(health.Codec)}, opts...)...),
		health: health.NewServer(),
		rooms:  make(map[string]*room),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.cfg.Unchecked {
		runtime.HandleConversation(s.rpc, chatpb.Chat_Converse_FullMethodName, runtime.BidiStream,
			func(c *runtime.Conversation[chatpb.ClientEvent, chatpb.ServerEvent]) (runtime.Reactor[chatpb.ClientEvent], error) {
				return s.openConverse(c)
			})
	} else {
		protocol.HandleConversation(s.rpc, chatpb.Chat_Converse_FullMethodName, runtime.BidiStream,
			chatpb.ChatConverseProtocol, chatpb.ChatConverseClientKind, chatpb.ChatConverseServerKind,
			func(c *protocol.Conversation[chatpb.ClientEvent, chatpb.ServerEvent]) (runtime.Reactor[chatpb.ClientEvent], error) {
				return s.openConverse(c)
			})
	}
	runtime.HandleUnary(s.rpc, chatpb.Chat_ListRooms_FullMethodName, s.ListRooms)
	runtime.HandleUnary(s.rpc, chatpb.Chat_History_FullMethodName, s.History)
	health.Register(s.rpc, s.health)
	reflection.Register(s.rpc)
	s.health.SetServingStatus(ServiceName, health.Serving)
	return s
}

// Health returns the server's health service. To drain before stopping,
// call its Shutdown: every status turns NOT_SERVING (watchers see it at
// once) while the server goes on serving; then, once load balancers have
// stopped sending new calls, call the Server's Shutdown.
func (s *Server) Health() *health.Server { return s.health }

// Serve accepts connections on l until l fails or the server shuts down,
// and then returns runtime.ErrServerClosed or the accept error, like
// runtime.Server.Serve. It may be called on several listeners.
func (s *Server) Serve(l net.Listener) error { return s.rpc.Serve(l) }

// Shutdown stops the server: the health service reports NOT_SERVING and
// ends its Watch calls with UNAVAILABLE, every conversation ends with
// UNAVAILABLE ("chat server is shutting down"), new calls are refused, the
// listeners close, and the rooms stop. It returns once the calls in flight
// and the rooms are done, or with ctx.Err() if ctx ends first (remaining
// calls are then cut off as by runtime.Server.Shutdown). Shutdown is
// idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	s.health.Shutdown()
	s.health.EndWatches()
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel() // conversations end with UNAVAILABLE; room actors stop
	err := s.rpc.Shutdown(ctx)
	s.roomWG.Wait()
	s.drainers.close()
	return err
}

// closing reports whether Shutdown has begun.
func (s *Server) closing() bool { return s.ctx.Err() != nil }

// room returns the room named name, creating it if create is set. It
// returns UNAVAILABLE once the server is shutting down, NOT_FOUND for a
// missing room when create is not set, and RESOURCE_EXHAUSTED when the
// server already holds MaxRooms rooms.
func (s *Server) room(name string, create bool) (*room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errShuttingDown
	}
	if r := s.rooms[name]; r != nil {
		return r, nil
	}
	if !create {
		return nil, wire.Errorf(wire.NotFound, "no room %q", name)
	}
	if max := s.cfg.MaxRooms; max > 0 && len(s.rooms) >= max {
		return nil, wire.Errorf(wire.ResourceExhausted, "cannot create room %q: the server holds its limit of %d rooms; join an existing one (ListRooms)", name, max)
	}
	r := newRoom(s, name)
	s.rooms[name] = r
	return r, nil
}

// removeRoom unregisters r if it is still the room under its name, and
// reports whether it did. Called by the room's goroutine when it stops
// itself and by its watcher when it stops for any other reason.
func (s *Server) removeRoom(r *room) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rooms[r.name] != r {
		return false
	}
	delete(s.rooms, r.name)
	return true
}

// ListRooms lists the rooms with their member counts, sorted by name. An
// empty room is listed until its idle grace period ends.
func (s *Server) ListRooms(ctx context.Context, _ *chatpb.ListRoomsRequest) (*chatpb.ListRoomsResponse, error) {
	s.mu.Lock()
	res := &chatpb.ListRoomsResponse{Rooms: make([]*chatpb.Room, 0, len(s.rooms))}
	for name, r := range s.rooms {
		res.Rooms = append(res.Rooms, &chatpb.Room{Name: name, Members: uint32(r.count.Load())})
	}
	s.mu.Unlock()
	slices.SortFunc(res.Rooms, func(a, b *chatpb.Room) int { return cmp.Compare(a.Name, b.Name) })
	return res, nil
}

// History returns a room's recent messages, oldest first, by asking the
// room's actor: INVALID_ARGUMENT for an invalid name, NOT_FOUND if there
// is no such room.
func (s *Server) History(ctx context.Context, req *chatpb.HistoryRequest) (*chatpb.HistoryResponse, error) {
	if err := ValidRoom(req.Room); err != nil {
		return nil, err
	}
	r, err := s.room(req.Room, false)
	if err != nil {
		return nil, err
	}
	msgs, err := actor.Ask(ctx, r.ref, func(rep actor.Reply[[]*chatpb.ChatMessage]) roomMsg {
		return historyMsg{limit: int(req.Limit), reply: rep}
	})
	if errors.Is(err, actor.ErrStopped) {
		return nil, wire.Errorf(wire.NotFound, "no room %q", req.Room)
	}
	if err != nil {
		return nil, err
	}
	return &chatpb.HistoryResponse{Room: req.Room, Messages: msgs}, nil
}
