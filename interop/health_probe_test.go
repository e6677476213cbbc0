package interop

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/parleyrpc/parley/interop/handpb"
)

// probeModule is grpc-health-probe, the command-line client Kubernetes
// users run in exec probes; the tests install probeVersion of it with
// `go install`, so that it never enters a go.mod of this repository.
const (
	probeModule  = "github.com/grpc-ecosystem/grpc-health-probe"
	probeVersion = "v0.4.63"
)

// grpc-health-probe's exit codes, from its README.
const (
	probeServing   = 0
	probeRPCFailed = 3
	probeUnhealthy = 4
)

// healthPatience bounds every wait in the probe tests.
const healthPatience = 30 * time.Second

// TestHealthProbe runs the real grpc-health-probe against the chat server
// (examples/chat/cmd/chat-server) and the interop server
// (examples/interop/server), each built from the main module and run as a
// process: both report SERVING for the server and for their service, and
// after SIGTERM they report NOT_SERVING (exit code 4) while they drain with
// a call in flight, which goes on working. A Watch (grpc-go's generated
// health client, protobuf) sees the change at once and ends with
// UNAVAILABLE when the second SIGTERM cuts the drain short and the server
// shuts down; the process then exits 0.
func TestHealthProbe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds grpc-health-probe and two servers; skipped with -short")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	dir := t.TempDir()
	probe := buildProbe(t, goBin, dir)
	chatBin := buildMain(t, goBin, dir, "chat-server", "./examples/chat/cmd/chat-server")
	interopBin := buildMain(t, goBin, dir, "interop-server", "./examples/interop/server")

	t.Run("chat-server", func(t *testing.T) {
		srv := startProcess(t, chatBin, "-addr", "127.0.0.1:0", "-drain", "1m")
		const service = "parley.chat.v1.Chat"
		ctx, cancel := context.WithTimeout(context.Background(), healthPatience)
		defer cancel()
		runProbe(t, probe, srv.addr, "", probeServing, "status: SERVING")
		runProbe(t, probe, srv.addr, service, probeServing, "status: SERVING")
		runProbe(t, probe, srv.addr, "no.such.Service", probeRPCFailed, "NotFound")
		w := watchHealth(ctx, t, srv.addr, service)
		w.expect(healthpb.HealthCheckResponse_SERVING)

		ann := joinChatGRPC(ctx, t, srv.addr, "ann")
		ann.send(map[string]any{"join": map[string]any{"room": "lobby", "nick": "ann"}})
		if ev := ann.recv(); ev.Joined == nil {
			t.Fatalf("ann: first event %v, want joined", ev.cases())
		}

		srv.signal(syscall.SIGTERM)
		w.expect(healthpb.HealthCheckResponse_NOT_SERVING)
		runProbe(t, probe, srv.addr, "", probeUnhealthy, "NOT_SERVING")
		runProbe(t, probe, srv.addr, service, probeUnhealthy, "NOT_SERVING")
		ann.send(map[string]any{"say": map[string]any{"text": "still here"}})
		if ev := ann.recv(); ev.Message == nil || ev.Message.Text != "still here" {
			t.Fatalf("ann, while the server drains: got %v, want her message", ev.cases())
		}

		srv.signal(syscall.SIGTERM)
		err := ann.stream.RecvMsg(new(chatServerEvent))
		if status.Code(err) != codes.Unavailable {
			t.Fatalf("ann, after shutdown: %v, want UNAVAILABLE", err)
		}
		w.expectEnd()
		srv.expectExit(0)
	})

	t.Run("interop-server", func(t *testing.T) {
		srv := startProcess(t, interopBin, "-addr", "127.0.0.1:0", "-drain", "1m")
		const service = "grpc.testing.TestService"
		ctx, cancel := context.WithTimeout(context.Background(), healthPatience)
		defer cancel()
		runProbe(t, probe, srv.addr, "", probeServing, "status: SERVING")
		runProbe(t, probe, srv.addr, service, probeServing, "status: SERVING")
		w := watchHealth(ctx, t, srv.addr, "")
		w.expect(healthpb.HealthCheckResponse_SERVING)

		cc, err := DialGRPC(srv.addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cc.Close() })
		stream, err := cc.NewStream(ctx, fullDuplexDesc, handpb.FullDuplexCallMethod)
		if err != nil {
			t.Fatal(err)
		}
		pingPong := func(size int) {
			t.Helper()
			if err := stream.SendMsg(&handpb.StreamingOutputCallRequest{ResponseParameters: params(size)}); err != nil {
				t.Fatalf("FullDuplexCall send: %v", err)
			}
			res := new(handpb.StreamingOutputCallResponse)
			if err := stream.RecvMsg(res); err != nil {
				t.Fatalf("FullDuplexCall recv: %v", err)
			}
			if err := checkPayload(res.Payload, size); err != nil {
				t.Fatal(err)
			}
		}
		pingPong(10)

		srv.signal(syscall.SIGTERM)
		w.expect(healthpb.HealthCheckResponse_NOT_SERVING)
		runProbe(t, probe, srv.addr, "", probeUnhealthy, "NOT_SERVING")
		runProbe(t, probe, srv.addr, service, probeUnhealthy, "NOT_SERVING")
		pingPong(20) // the call in flight goes on while the server drains
		if err := stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
		if err := stream.RecvMsg(new(handpb.StreamingOutputCallResponse)); err != io.EOF {
			t.Fatalf("FullDuplexCall after half-close: %v, want the end of the stream with OK", err)
		}

		srv.signal(syscall.SIGTERM)
		w.expectEnd()
		srv.expectExit(0)
	})
}

// buildProbe installs grpc-health-probe into dir and returns its path. If
// it cannot be built (most often: no network to reach the Go module proxy)
// the test is skipped, or fails when the CI variable is set, since CI
// reaches the proxy.
func buildProbe(t *testing.T, goBin, dir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "install", probeModule+"@"+probeVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		msg := "cannot build grpc-health-probe " + probeVersion + " (is the Go module proxy reachable?): " + err.Error() + "\n" + string(out)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return filepath.Join(dir, "grpc-health-probe")
}

// buildMain builds the main module's command pkg (a path relative to the
// main module's root, this module's parent) as dir/name.
func buildMain(t *testing.T, goBin, dir, name, pkg string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, pkg)
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// process is a server command running for one test.
type process struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string // the loopback address it announced

	done    chan struct{} // closed once the process has exited and its output is read
	waitErr error         // written before done is closed

	mu  sync.Mutex
	out strings.Builder // guarded by mu; its stdout and stderr
}

// listenAddr finds the address a server announces when it starts.
var listenAddr = regexp.MustCompile(`127\.0\.0\.1:[0-9]+`)

// startProcess starts bin with args and waits for it to announce its
// address. It is killed, if still running, when the test ends.
func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{t: t, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		t.Fatal(err)
	}
	pw.Close()
	addrc := make(chan string, 1)
	go func() {
		// Reads the output until the process exits, then waits for it.
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.out.WriteString(line + "\n")
			p.mu.Unlock()
			if a := listenAddr.FindString(line); a != "" {
				select {
				case addrc <- a:
				default:
				}
			}
		}
		pr.Close()
		p.waitErr = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), p.output())
		}
	})
	select {
	case p.addr = <-addrc:
	case <-p.done:
		t.Fatalf("%s exited before listening: %v", filepath.Base(bin), p.waitErr)
	case <-time.After(healthPatience):
		t.Fatalf("%s did not announce its address within %v", filepath.Base(bin), healthPatience)
	}
	return p
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *process) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %v: %v", sig, err)
	}
}

// expectExit waits for the process to exit with code.
func (p *process) expectExit(code int) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(healthPatience):
		p.t.Fatalf("the server did not exit within %v", healthPatience)
	}
	if got := p.cmd.ProcessState.ExitCode(); got != code {
		p.t.Fatalf("the server exited with %v, want code %d", p.waitErr, code)
	}
}

// runProbe runs grpc-health-probe against addr (and service, unless it is
// empty) and checks its exit code and that its output contains want.
func runProbe(t *testing.T, probe, addr, service string, code int, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), healthPatience)
	defer cancel()
	args := []string{"-addr", addr, "-connect-timeout", "5s", "-rpc-timeout", "5s"}
	if service != "" {
		args = append(args, "-service", service)
	}
	out, err := exec.CommandContext(ctx, probe, args...).CombinedOutput()
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("grpc-health-probe %v: %v", args, err)
		}
		got = ee.ExitCode()
	}
	if got != code || !strings.Contains(string(out), want) {
		t.Fatalf("grpc-health-probe %v: exit code %d, output %q; want code %d and %q", args, got, out, code, want)
	}
}

// healthWatch is a Watch call made with grpc-go's generated health client,
// in protobuf over application/grpc, as grpc-go's client-side health
// checking makes it.
type healthWatch struct {
	t      *testing.T
	stream grpc.ServerStreamingClient[healthpb.HealthCheckResponse]
}

func watchHealth(ctx context.Context, t *testing.T, addr, service string) *healthWatch {
	t.Helper()
	cc, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	stream, err := healthpb.NewHealthClient(cc).Watch(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		t.Fatalf("Watch(%q): %v", service, err)
	}
	return &healthWatch{t: t, stream: stream}
}

func (w *healthWatch) expect(want healthpb.HealthCheckResponse_ServingStatus) {
	w.t.Helper()
	res, err := w.stream.Recv()
	if err != nil || res.GetStatus() != want {
		w.t.Fatalf("Watch got %v, %v; want %v", res.GetStatus(), err, want)
	}
}

// expectEnd expects the Watch to end with UNAVAILABLE, as the server shuts
// down.
func (w *healthWatch) expectEnd() {
	w.t.Helper()
	if res, err := w.stream.Recv(); status.Code(err) != codes.Unavailable {
		w.t.Fatalf("Watch at shutdown got %v, %v; want UNAVAILABLE", res.GetStatus(), err)
	}
}
