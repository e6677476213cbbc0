package browsertest

import (
	"bufio"
	"context"
	"flag"
	"fmt"
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
	bin := filepath.Join(t.TempDir(), "chat-server")
	cmd := exec.Command("go", "build", "-race", "-o", bin, "github.com/parleyrpc/parley/examples/chat/cmd/chat-server")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build chat-server: %v\n%s", err, b)
	}
	return bin
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
	call, err := chatpb.NewChatClient(c).Converse(ctx)
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

// TestBrowserChat: two browser members and one Go member (native gRPC)
// converse in a room; one browser member leaves; the server shuts down
// gracefully and the page says why the conversation ended; the server
// comes back and the page rejoins by itself.
func TestBrowserChat(t *testing.T) {
	exe := chromium(t)
	srv := &chatServer{t: t, bin: buildServer(t), addr: freeAddr(t)}
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

	gopher.send(&chatpb.ClientEvent_Say{Say: &chatpb.Say{Text: "hello from Go"}})
	run(ann, "ann sees the Go member's message", waitText("#log", "hello from Go"))

	run(bea, "bea joins and gets the history", joinPage(base, "bea", "lobby"), waitText("#log", "hello from Go"))
	run(ann, "ann sees bea arrive", waitText("#log", "bea joined (3 here)"))

	run(ann, "ann says hi", say("hi gopher, from a browser"))
	gopher.awaitMessage("ann", "hi gopher, from a browser")
	run(bea, "bea sees ann's message", waitText("#log", "hi gopher, from a browser"))

	run(ann, "ann asks /who", say("/who"), waitText("#log", "Here: ann, bea, gopher."))
	run(ann, "ann lists the rooms (gRPC-Web)", say("/rooms"), waitText("#log", "Rooms: #lobby (3 here)."))
	run(ann, "ann moves to another room", say("/join random"), waitText("#status", "Connected to #random as ann"))
	run(bea, "bea sees ann leave", waitText("#log", "ann left (2 here)"))
	run(ann, "ann comes back", say("/join lobby"), waitText("#status", "Connected to #lobby as ann"),
		waitText("#log", "hi gopher, from a browser"))

	run(bea, "bea leaves", chromedp.Click("#leave"), waitText("#status", "You left #lobby"),
		chromedp.WaitVisible("#join-form"))
	run(ann, "ann sees bea leave", waitText("#log", "bea left (2 here)"))
	gopher.await(func(ev *chatpb.ServerEvent) bool {
		p, ok := ev.Event.(*chatpb.ServerEvent_Presence)
		return ok && p.Presence.Nick == "bea" && p.Presence.Kind == chatpb.PresenceKind_PRESENCE_KIND_LEFT
	})

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

	// Graceful shutdown: the page says why the conversation ended.
	srv.stop()
	run(ann, "the page says the server shut down", waitText("#log", "UNAVAILABLE: chat server is shutting down"),
		waitText("#status", "Reconnecting"))

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
