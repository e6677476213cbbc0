package health

import (
	"context"
	"fmt"
	"sync"

	"github.com/parleyrpc/parley/runtime"
	"github.com/parleyrpc/parley/wire"
)

// The service and its methods, as grpc/health/v1/health.proto names them.
const (
	ServiceName = "grpc.health.v1.Health"
	MethodCheck = "/grpc.health.v1.Health/Check"
	MethodWatch = "/grpc.health.v1.Health/Watch"
)

// ServingStatus is HealthCheckResponse.ServingStatus.
type ServingStatus int32

// The serving statuses, with their protobuf numbers.
const (
	Unknown        ServingStatus = 0
	Serving        ServingStatus = 1
	NotServing     ServingStatus = 2
	ServiceUnknown ServingStatus = 3 // only sent by Watch
)

// String returns the status's protobuf name, e.g. "SERVING".
func (s ServingStatus) String() string {
	switch s {
	case Unknown:
		return "UNKNOWN"
	case Serving:
		return "SERVING"
	case NotServing:
		return "NOT_SERVING"
	case ServiceUnknown:
		return "SERVICE_UNKNOWN"
	}
	return fmt.Sprintf("ServingStatus(%d)", int32(s))
}

// CheckRequest is grpc.health.v1.HealthCheckRequest: the service to check,
// "" for the server as a whole.
type CheckRequest struct {
	Service string `msgpack:"service,omitempty"`
}

// CheckResponse is grpc.health.v1.HealthCheckResponse.
type CheckResponse struct {
	Status ServingStatus `msgpack:"status,omitempty"`
}

// Server keeps the serving status of each service and answers Check and
// Watch. The empty service name stands for the whole server and starts
// SERVING; other services are unknown until SetServingStatus names them.
// All methods are safe for concurrent use.
//
// Goroutines: SetServingStatus, Shutdown and Resume write the statuses and
// hand each change to the watchers' channels under mu; each Watch call's
// handler goroutine owns its channel's reading side and sends what it reads.
type Server struct {
	mu       sync.Mutex
	statuses map[string]ServingStatus                   // guarded by mu
	watchers map[string]map[chan ServingStatus]struct{} // guarded by mu; each channel holds the latest status, buffer 1
	shutdown bool                                       // guarded by mu
	// watchesEnded is closed by EndWatches (under mu, once) and read by
	// every Watch handler, which then returns.
	watchesEnded chan struct{}
}

// NewServer returns a health server in which "" is SERVING.
func NewServer() *Server {
	return &Server{
		statuses:     map[string]ServingStatus{"": Serving},
		watchers:     make(map[string]map[chan ServingStatus]struct{}),
		watchesEnded: make(chan struct{}),
	}
}

// Register adds the Check and Watch methods of h to srv. For protobuf
// clients (Kubernetes probes, grpc_health_probe) srv must have been created
// with runtime.WithCodec(Codec); msgpack clients need nothing more.
func Register(srv *runtime.Server, h *Server) {
	runtime.HandleUnary(srv, MethodCheck, h.check)
	runtime.HandleServerStream(srv, MethodWatch, h.watch)
}

// SetServingStatus sets service's status and tells its watchers. After
// Shutdown it does nothing until Resume.
func (s *Server) SetServingStatus(service string, status ServingStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown {
		return
	}
	s.set(service, status)
}

func (s *Server) set(service string, status ServingStatus) {
	s.statuses[service] = status
	for ch := range s.watchers[service] {
		// Latest wins: a slow watcher skips intermediate statuses.
		select {
		case <-ch:
		default:
		}
		ch <- status
	}
}

// Shutdown marks every service NOT_SERVING and ignores later
// SetServingStatus calls, so that load balancers drain the server before it
// stops. Call it before runtime.Server.Shutdown, and EndWatches between
// the two.
func (s *Server) Shutdown() { s.setAll(NotServing, true) }

// EndWatches ends every Watch call, those in progress and those that start
// later, with UNAVAILABLE, once each has sent the latest status. A Watch
// otherwise lasts until its client leaves, so a graceful
// runtime.Server.Shutdown would wait for it until its deadline. Check
// still answers, and Resume does not undo EndWatches. The order for a
// graceful stop is Shutdown, a drain period in which load balancers and
// watchers see NOT_SERVING, EndWatches, then runtime.Server.Shutdown.
func (s *Server) EndWatches() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.watchesEnded:
	default:
		close(s.watchesEnded)
	}
}

// errWatchesEnded ends Watch calls after EndWatches.
var errWatchesEnded = wire.NewError(wire.Unavailable, "the health service is shutting down")

// Resume marks every service SERVING and accepts SetServingStatus again.
func (s *Server) Resume() { s.setAll(Serving, false) }

// setAll sets every service's status, and whether SetServingStatus calls
// are ignored.
func (s *Server) setAll(status ServingStatus, shutdown bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown = shutdown
	for service := range s.statuses {
		s.set(service, status)
	}
}

// Status returns service's status and whether the service is known.
func (s *Server) Status(service string) (ServingStatus, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.statuses[service]
	return st, ok
}

func (s *Server) check(ctx context.Context, req *CheckRequest) (*CheckResponse, error) {
	st, ok := s.Status(req.Service)
	if !ok {
		return nil, wire.Errorf(wire.NotFound, "unknown service %q", req.Service)
	}
	return &CheckResponse{Status: st}, nil
}

// watch sends the service's status now and after every change, until the
// client goes away or EndWatches is called.
func (s *Server) watch(req *CheckRequest, call *runtime.ServerCall[CheckRequest, CheckResponse]) error {
	ch := make(chan ServingStatus, 1)
	s.mu.Lock()
	st, ok := s.statuses[req.Service]
	if !ok {
		st = ServiceUnknown
	}
	ch <- st
	if s.watchers[req.Service] == nil {
		s.watchers[req.Service] = make(map[chan ServingStatus]struct{})
	}
	s.watchers[req.Service][ch] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.watchers[req.Service], ch)
		if len(s.watchers[req.Service]) == 0 {
			delete(s.watchers, req.Service)
		}
		s.mu.Unlock()
	}()
	ctx := call.Context()
	last := ServingStatus(-1)
	send := func(st ServingStatus) error {
		if st == last {
			return nil
		}
		last = st
		return call.Send(&CheckResponse{Status: st})
	}
	for {
		select {
		case st := <-ch:
			if err := send(st); err != nil {
				return err
			}
		case <-s.watchesEnded:
			// A change made just before EndWatches (Shutdown's
			// NOT_SERVING) still goes out.
			select {
			case st := <-ch:
				if err := send(st); err != nil {
					return err
				}
			default:
			}
			return errWatchesEnded
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
