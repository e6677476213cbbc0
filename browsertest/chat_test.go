package browsertest

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parleyrpc/parley/examples/chat/chatpb"
	"github.com/parleyrpc/parley/runtime"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write the page's screenshot to examples/chat/webchat.png")

// chromium finds the browser, or skips: CI installs it (.ci/run).
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium on PATH (apt-get install chromium; .ci/run installs it): the browser test cannot run here")
	return ""
}

// chatServer is the chat-server command, built once and run as a user runs it.
type chatServer struct {
	t    *testing.T
	bin  string
	addr string
	cmd  *exec.Cmd
	out  chan string // its stdout lines
}

func buildServer(t *testing.T) string {
	return build(t, "github.com/parleyrpc/parley/examples/chat/cmd/chat-server")
}

// build builds a command of the chat example, with the race detector.
func build(t *testing.T, pkg string) string {
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-race", "-o", bin, pkg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return bin
}

// terminal is the chat's terminal client, typed into through its standard
// input.
type terminal struct {
	t     *testing.T
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   chan string
}

func startTerminal(t *testing.T, bin, addr, nick, room string) *terminal {
	cmd := exec.Command(bin, "-addr", addr, "-name", nick, "-room", room, "-timestamps=false")
	cmd.Stderr = logWriter{t}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	m := &terminal{t: t, cmd: cmd, stdin: stdin, out: make(chan string, 100)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			m.out <- sc.Text()
		}
		close(m.out)
	}()
	return m
}

// logWriter logs what a command prints on its standard error.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (m *terminal) typeLine(line string) {
	if _, err := io.WriteString(m.stdin, line+"\n"); err != nil {
		m.t.Fatalf("terminal member: %v", err)
	}
}

// waitLine reads the terminal's output up to a line containing substr.
func (m *terminal) waitLine(substr string) {
	m.t.Helper()
	for line := range m.out {
		if strings.Contains(line, substr) {
			return
		}
	}
	m.t.Fatalf("the terminal member exited before printing %q", substr)
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (s *chatServer) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "-addr", s.addr)
	s.cmd.Stderr = os.Stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.out = make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.out <- sc.Text()
		}
		close(s.out)
	}()
	s.waitLine("listening on")
}

func (s *chatServer) waitLine(substr string) {
	s.t.Helper()
	for line := range s.out {
		if strings.Contains(line, substr) {
			return
		}
	}
	s.t.Fatalf("chat-server exited before printing %q", substr)
}

// stop sends SIGTERM: the server shuts down gracefully.
func (s *chatServer) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	for range s.out {
	}
	if err := s.cmd.Wait(); err != nil {
		s.t.Errorf("chat-server: %v", err)
	}
}

// goMember is a member on native gRPC.
type goMember struct {
	t    *testing.T
	c    *runtime.Client
	call *runtime.ClientCall[chatpb.ClientEvent, chatpb.ServerEvent]
}

func join(t *testing.T, ctx context.Context, addr, room, nick string) *goMember {
	c, err := runtime.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	// The raw call: this member sends exactly what the test says, and
	// the server checks it against the declared protocol.
	call, err := runtime.Open[chatpb.ClientEvent, chatpb.ServerEvent](ctx, c, chatpb.Chat_Converse_FullMethodName)
	if err != nil {
		t.Fatal(err)
	}
	m := &goMember{t: t, c: c, call: call}
	m.send(&chatpb.ClientEvent_Join{Join: &chatpb.Join{Room: room, Nick: nick}})
	m.await(func(ev *chatpb.ServerEvent) bool { _, ok := ev.Event.(*chatpb.ServerEvent_Joined); return ok })
	return m
}

func (m *goMember) send(ev chatpb.ClientEvent_Event) {
	if err := m.call.Send(&chatpb.ClientEvent{Event: ev}); err != nil {
		m.t.Fatal(err)
	}
}

// await receives events until one satisfies ok.
func (m *goMember) await(ok func(*chatpb.ServerEvent) bool) {
	m.t.Helper()
	for {
		ev, err := m.call.Recv()
		if err != nil {
			m.t.Fatalf("Go member: %v", err)
		}
		if ok(ev) {
			return
		}
	}
}

func (m *goMember) awaitMessage(nick, text string) {
	m.t.Helper()
	m.await(func(ev *chatpb.ServerEvent) bool {
		msg, ok := ev.Event.(*chatpb.ServerEvent_Message)
		return ok && msg.Message.Nick == nick && msg.Message.Text == text
	})
}

// waitText waits until the element sel's text contains substr.
func waitText(sel, substr string) chromedp.Action[chromedp.Void] {
	js := fmt.Sprintf(`(document.querySelector(%q)?.textContent ?? "").includes(%q)`, sel, substr)
	return chromedp.Poll[chromedp.Void](js, chromedp.WithPollingInterval(50*time.Millisecond))
}

func joinPage(base, nick, room string) chromedp.Action[chromedp.Void] {
	return chromedp.Steps(
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible("#nick"),
		chromedp.Evaluate[chromedp.Void](`(document.querySelector("#nick").value = "", document.querySelector("#room").value = "", true)`),
		chromedp.SendKeys("#nick", nick),
		chromedp.SendKeys("#room", room),
		chromedp.SendKeys("#room", "\r"), // Enter submits: keyboard only
		waitText("#status", "Connected to #"+room+" as "+nick),
	)
}

func say(text string) chromedp.Action[chromedp.Void] {
	return chromedp.SendKeys("#text", text+"\r")
}

// TestBrowserChat: two browser members, the terminal client and a Go
// member (native gRPC) converse in a room; one browser member leaves; the
// server shuts down gracefully and the page says why the conversation
// ended; the server comes back and the page rejoins by itself.
func TestBrowserChat(t *testing.T) {
	exe := chromium(t)
	srv := &chatServer{t: t, bin: buildServer(t), addr: freeAddr(t)}
	termBin := build(t, "github.com/parleyrpc/parley/examples/chat/client")
	srv.start()
	base := "http://" + srv.addr

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // CI runs as root
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1100, 720),
	)...)
	defer cancelAlloc()
	ann, cancelAnn := chromedp.NewContext(alloc)
	defer cancelAnn()
	bea, cancelBea := chromedp.NewContext(ann) // a second tab of the same browser
	defer cancelBea()

	run := func(c context.Context, what string, a ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(c, a...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	run(ann, "ann joins", joinPage(base, "ann", "lobby"))
	gopher := join(t, ctx, srv.addr, "lobby", "gopher")
	defer gopher.c.Close()
	run(ann, "ann sees gopher arrive", waitText("#log", "gopher joined (2 here)"), waitText("#members", "gopher"))
	carl := startTerminal(t, termBin, srv.addr, "carl", "lobby")
	carl.waitLine("you joined as carl")
	run(ann, "ann sees the terminal member arrive", waitText("#log", "carl joined (3 here)"))

	gopher.send(&chatpb.ClientEvent_Say{Say: &chatpb.Say{Text: "hello from Go"}})
	run(ann, "ann sees the Go member's message", waitText("#log", "hello from Go"))

	run(bea, "bea joins and gets the history", joinPage(base, "bea", "lobby"), waitText("#log", "hello from Go"))
	run(ann, "ann sees bea arrive", waitText("#log", "bea joined (4 here)"))

	run(ann, "ann says hi", say("hi gopher, from a browser"))
	gopher.awaitMessage("ann", "hi gopher, from a browser")
	carl.waitLine("<ann> hi gopher, from a browser")
	run(bea, "bea sees ann's message", waitText("#log", "hi gopher, from a browser"))

	carl.typeLine("hello from a terminal")
	run(ann, "ann sees the terminal member's message", waitText("#log", "hello from a terminal"))
	run(bea, "bea sees the terminal member's message", waitText("#log", "hello from a terminal"))

	run(ann, "ann asks /who", say("/who"), waitText("#log", "Here: ann, bea, carl, gopher."))
	run(ann, "ann lists the rooms (gRPC-Web)", say("/rooms"), waitText("#log", "Rooms: #lobby (4 here)."))

	shot, err := chromedp.Run(ann, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "webchat.png")
	if *updateScreenshot {
		path = "../examples/chat/webchat.png"
	}
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}

	run(ann, "ann moves to another room", say("/join random"), waitText("#status", "Connected to #random as ann"))
	run(bea, "bea sees ann leave", waitText("#log", "ann left (3 here)"))
	run(ann, "ann comes back", say("/join lobby"), waitText("#status", "Connected to #lobby as ann"),
		waitText("#log", "hi gopher, from a browser"))

	run(bea, "bea leaves", chromedp.Click("#leave"), waitText("#status", "You left #lobby"),
		chromedp.WaitVisible("#join-form"))
	run(ann, "ann sees bea leave", waitText("#log", "bea left (3 here)"))
	carl.waitLine("bea left")
	gopher.await(func(ev *chatpb.ServerEvent) bool {
		p, ok := ev.Event.(*chatpb.ServerEvent_Presence)
		return ok && p.Presence.Nick == "bea" && p.Presence.Kind == chatpb.PresenceKind_PRESENCE_KIND_LEFT
	})

	// Graceful shutdown: the page says why the conversation ended, as
	// the terminal client does.
	srv.stop()
	run(ann, "the page says the server shut down", waitText("#log", "UNAVAILABLE: chat server is shutting down"),
		waitText("#status", "Reconnecting"))
	carl.waitLine("UNAVAILABLE: chat server is shutting down")
	if err := carl.cmd.Wait(); err == nil {
		t.Error("the terminal client exited 0 after the server shut down")
	}

	// The server comes back on the same address: the page rejoins.
	srv.start()
	defer srv.stop()
	run(ann, "the page reconnects", waitText("#status", "Connected to #lobby as ann"))
	gopher2 := join(t, ctx, srv.addr, "lobby", "gopher2")
	defer gopher2.c.Close()
	run(ann, "ann sees the new Go member", waitText("#log", "gopher2 joined (2 here)"))
	run(ann, "ann says hi again", say("back again"))
	gopher2.awaitMessage("ann", "back again")
}
